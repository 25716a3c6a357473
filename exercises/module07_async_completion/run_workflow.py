"""Starts a large transfer that waits for a person's approval, and tells how it ended.

    python -m workshop run 07                 # start the transfer (or attach to it) and wait for its outcome
    python -m workshop run 07 start           # ... start it, and return once the bank has the approval request
    python -m workshop run 07 result          # ... wait for the outcome of the module's transfer
    python -m workshop run 07 --heartbeat-timeout 10    # expire it after 10 s without word from the approver

Add --embedded to run a worker in this process as well. Decide the transfer with the approver, from another
terminal: python -m exercises.module07_async_completion.approver approve (or: reject --reason "...").
"""

from __future__ import annotations

import argparse
import asyncio
from contextlib import nullcontext
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from workshop.bank import BankClient
from workshop.connection import connect, run_script
from workshop.money import format_cents

from .approver import find_approval
from .shared import TransferOutcome, TransferRequest, task_queue, transfer_workflow_id
from .worker import build_worker
from .workflow import LargeTransferWorkflow


async def start_transfer(client: Client, request: TransferRequest, workflow_id: str, task_queue: str) -> WorkflowHandle:
    """Start the transfer, or attach to it while it waits."""
    return await client.start_workflow(
        LargeTransferWorkflow.run, request, id=workflow_id, task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def approval_request(handle: WorkflowHandle, seconds: float = 60) -> dict[str, Any] | None:
    """The transfer's pending approval at the bank, once the approval activity has put it there."""
    async with BankClient() as bank:
        for tick in range(int(seconds / 0.2)):
            approval = await find_approval(bank, handle.id)
            if approval is not None and approval["status"] == "pending":
                return approval
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                return None  # it ended before asking (Part A not done yet?); its result says why
            if tick == 25:
                print("(No approval request at the bank yet: is a worker running? python -m workshop worker 07)",
                      flush=True)
            await asyncio.sleep(0.2)
    return None


def failure_reason(error: BaseException | None) -> str:
    """The innermost message of a failure chain (workflow -> activity -> the error the activity raised)."""
    message = "no reason given"
    while error is not None:
        message = getattr(error, "message", None) or str(error) or message
        error = getattr(error, "cause", None)
    return message


def describe(outcome: TransferOutcome) -> str:
    if outcome.status == "completed":
        return (f"Transfer completed, approved by {outcome.approver} ({outcome.comment or 'no comment'}): "
                f"withdraw transaction {outcome.withdraw_transaction}, deposit transaction {outcome.deposit_transaction}.")
    if outcome.status == "rejected":
        return f"Transfer rejected by {outcome.approver} ({outcome.comment}). No money moved."
    return f"Transfer {outcome.status}: {outcome.comment}. No money moved."


async def show_outcome(handle: WorkflowHandle) -> int:
    try:
        outcome: TransferOutcome = await handle.result()
    except WorkflowFailureError as failure:
        print(f"Transfer failed: {failure_reason(failure)}")
        return 1
    print(describe(outcome))
    return 0


async def main(args: argparse.Namespace) -> int:
    client = await connect()
    handle = client.get_workflow_handle_for(LargeTransferWorkflow.run, transfer_workflow_id())
    async with build_worker(client) if args.embedded else nullcontext():
        if args.command == "result":
            return await show_outcome(handle)
        request = TransferRequest(args.source, args.destination, args.amount, args.note,
                                  approver_heartbeat_timeout_seconds=args.heartbeat_timeout)
        handle = await start_transfer(client, request, transfer_workflow_id(), task_queue())
        print(f"Transfer {handle.id}: {format_cents(request.amount_cents)} from {request.from_account} to "
              f"{request.to_account} waits for a person's approval.", flush=True)
        if await approval_request(handle) is not None:
            print("Decide it from another terminal:\n"
                  f"  python -m {__package__}.approver approve     (or: reject --reason \"...\")", flush=True)
        if args.command == "start":
            return 0
        return await show_outcome(handle)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="transfer", choices=["transfer", "start", "result"],
                        help="transfer (the default): start and wait; start: start only; result: wait only")
    parser.add_argument("--embedded", action="store_true", help="run a worker in this process as well")
    parser.add_argument("--from", dest="source", default="company")
    parser.add_argument("--to", dest="destination", default="bob")
    parser.add_argument("--amount", type=int, default=250_000, help="in cents (default 250000 = 2,500.00)")
    parser.add_argument("--note", default="relocation bonus")
    parser.add_argument("--heartbeat-timeout", type=float, default=TransferRequest.approver_heartbeat_timeout_seconds,
                        help="seconds the approver may stay silent (default %(default)g)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    import sys

    run_script(main(parse_args(sys.argv[1:])))
