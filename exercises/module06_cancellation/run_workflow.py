"""Starts a batch of transfers, and cancels or terminates it.

    python -m workshop run 06                     # start the batch (8 transfers from company, 1 s each)
    python -m workshop run 06 cancel              # cancel it, wait until it has stopped, say how it ended
    python -m workshop run 06 terminate           # terminate it instead: no cleanup runs
    python -m workshop run 06 --embedded demo     # all in one: start, let 2 transfers settle, cancel
    python -m workshop run 06 --embedded demo --complete-when-cancelled       # ends Completed, with a report
    python -m workshop run 06 --embedded demo --cancellation-type abandon     # or try_cancel
    python -m workshop run 06 --embedded demo --terminate
    python -m workshop run 06 --embedded screening   # a local activity is cancelled without heartbeats

Add --embedded (before the command) to run a worker in this process as well.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections import Counter
from contextlib import nullcontext
from datetime import timedelta

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError
from temporalio.workflow import ActivityCancellationType

from workshop.bank import BankClient
from workshop.connection import connect, run_script
from workshop.money import format_cents

from .client import cancel_batch, start_batch, terminate_batch
from .screening import ScreeningWorkflow
from .shared import Transfer, TransferBatch, batch_workflow_id, task_queue
from .worker import build_worker
from .workflow import TransferBatchWorkflow

PAYEES = ["alice", "bob", "carol", "dave"]


def make_batch(args: argparse.Namespace) -> TransferBatch:
    transfers = [Transfer(args.source, PAYEES[n % len(PAYEES)], args.amount) for n in range(args.transfers)]
    return TransferBatch(
        transfers, reference=f"batch {uuid.uuid4().hex[:8]}", seconds_per_transfer=args.seconds,
        cancellation_type=ActivityCancellationType[args.cancellation_type.upper()],
        complete_when_cancelled=args.complete_when_cancelled,
    )


async def holds_of(bank: BankClient, batch: TransferBatch) -> Counter[str]:
    """The batch's holds at the bank, counted by status (active, captured, released)."""
    statuses: Counter[str] = Counter()
    for source in sorted({transfer.source for transfer in batch.transfers}):
        for hold in (await bank.call("GET", f"/accounts/{source}/holds"))["holds"]:
            if (hold["reference"] or "").startswith(f"{batch.reference} #"):
                statuses[hold["status"]] += 1
    return statuses


# --------------------------------------------------------------------------- the commands


async def started(client: Client, args: argparse.Namespace) -> TransferBatch | None:
    """Start the batch and say so; None if a batch is already running under its ID."""
    batch = make_batch(args)
    try:
        await start_batch(client, batch, args.workflow_id, task_queue())
    except WorkflowAlreadyStartedError:
        print(f"A batch is already running as {args.workflow_id}: cancel or terminate it first.", file=sys.stderr)
        return None
    print(f"Batch {args.workflow_id}: {len(batch.transfers)} transfers of {format_cents(args.amount)} from "
          f"{args.source}, {args.seconds:.1f} s each; cancellation type {batch.cancellation_type.name}.")
    return batch


async def run_start(client: Client, args: argparse.Namespace) -> int:
    if await started(client, args) is None:
        return 1
    print("Stop it with: python -m workshop run 06 cancel   (or: terminate)")
    return 0


async def run_cancel(client: Client, args: argparse.Namespace) -> int:
    try:
        status = await cancel_batch(client, args.workflow_id, args.reason)
    except RPCError as err:  # no such batch
        return cannot("cancel", args.workflow_id, err)
    print(f"The batch ended {status.name if status else 'in an unknown state'}.")
    return 0


async def run_terminate(client: Client, args: argparse.Namespace) -> int:
    try:
        status = await terminate_batch(client, args.workflow_id, args.reason)
    except RPCError as err:  # no such batch, or it has already closed
        return cannot("terminate", args.workflow_id, err)
    print(f"The batch ended {status.name if status else 'in an unknown state'}.")
    return 0


def cannot(what: str, workflow_id: str, err: RPCError) -> int:
    print(f"Cannot {what} {workflow_id}: {err.message}. Start a batch with: python -m workshop run 06",
          file=sys.stderr)
    return 1


async def run_demo(client: Client, args: argparse.Namespace) -> int:
    batch = await started(client, args)
    if batch is None:
        return 1
    async with BankClient() as bank:
        deadline = time.monotonic() + 60
        while (await holds_of(bank, batch))["captured"] < args.after:  # watched at the bank, not guessed
            if time.monotonic() > deadline:
                print("No transfer was settled within a minute: is a worker running?", file=sys.stderr)
                return 1
            await asyncio.sleep(0.1)
        if args.terminate:
            print(f"{args.after} transfers settled. Terminating the batch ...")
            status = await terminate_batch(client, args.workflow_id, args.reason)
        else:
            print(f"{args.after} transfers settled. Cancelling the batch ...")
            status = await cancel_batch(client, args.workflow_id, args.reason)
        print(f"The batch ended {status.name if status else '?'}.")
        if status == WorkflowExecutionStatus.COMPLETED:
            report = await client.get_workflow_handle_for(TransferBatchWorkflow.run, args.workflow_id).result()
            print(f"Its report: {report.settled} settled, {report.released} released, cancelled: {report.cancelled}.")
        holds = await holds_of(bank, batch)
    print(f"At the bank: {holds['captured']} transfers settled, {holds['released']} holds released, "
          f"{holds['active']} still active.")
    if holds["active"]:
        print("The holds of the transfers it did not settle are still active: nothing will release them.")
    else:
        print("Every hold of the batch was captured or released.")
    return 0


async def run_screening(client: Client, args: argparse.Namespace) -> int:
    batch = make_batch(args)
    print(f"Screening {len(batch.transfers)} transfers in a local activity, {args.seconds:.1f} s each "
          f"(workflow task timeout {args.task_timeout} s).")
    handle = await client.start_workflow(
        ScreeningWorkflow.run, batch, id=f"{args.workflow_id}-screening", task_queue=task_queue(),
        task_timeout=timedelta(seconds=args.task_timeout),
    )
    await asyncio.sleep(1)
    requested = time.monotonic()
    await handle.cancel(reason=args.reason)
    try:
        await handle.result()
    except WorkflowFailureError:
        pass
    status = (await handle.describe()).status
    print(f"Cancelled after 1 s: the screening ended {status.name if status else '?'} "
          f"{time.monotonic() - requested:.1f} s after the request, without a single heartbeat.")
    return 0


COMMANDS = {"start": run_start, "cancel": run_cancel, "terminate": run_terminate, "demo": run_demo,
            "screening": run_screening}


async def main(args: argparse.Namespace) -> int:
    client = await connect()
    args.workflow_id = args.workflow_id or batch_workflow_id()
    async with build_worker(client) if args.embedded else nullcontext():
        return await COMMANDS[args.command](client, args)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedded", action="store_true", help="run a worker in this process as well")
    parser.add_argument("--workflow-id", help="the batch (default: the module's batch-module06)")
    commands = parser.add_subparsers(dest="command")
    start = commands.add_parser("start", help="start the batch (the default)")
    demo = commands.add_parser("demo", help="start, let transfers settle, then cancel (or terminate)")
    screening = commands.add_parser("screening", help="cancel a local activity that never heartbeats")
    for command, seconds in ((start, 1.0), (demo, 0.5), (screening, 1.0)):
        command.add_argument("--from", dest="source", default="company")
        command.add_argument("--transfers", type=int, default=8)
        command.add_argument("--amount", type=int, default=2_500, help="in cents, per transfer")
        command.add_argument("--seconds", type=float, default=seconds, help="how long one transfer takes")
        command.add_argument("--cancellation-type", default="wait_cancellation_completed",
                             choices=[t.name.lower() for t in ActivityCancellationType])
        command.add_argument("--complete-when-cancelled", action="store_true",
                             help="the workflow handles a cancellation and completes with a report")
    for command in (commands.add_parser("cancel"), commands.add_parser("terminate"), demo, screening):
        command.add_argument("--reason", default="stopped from the runner", help="recorded with the request")
    demo.add_argument("--after", type=int, default=2, help="cancel once this many transfers are settled")
    demo.add_argument("--terminate", action="store_true", help="terminate instead of cancelling")
    screening.add_argument("--task-timeout", type=int, default=2, help="the screening's workflow task timeout, in s")
    args = parser.parse_args(argv)
    if args.command is None:  # `python -m workshop run 06` alone starts the batch
        args = parser.parse_args([*argv, "start"])
    return args


if __name__ == "__main__":
    run_script(main(parse_args(sys.argv[1:])))
