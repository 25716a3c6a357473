"""Starts a transfer that waits for confirmation, and reads its progress with queries.

    python -m workshop run 05                    # start the transfer (or attach to it) and show its progress
    python -m workshop run 05 progress           # ask again, at any time, also after it completed
    python -m workshop run 05 confirm            # the customer confirms: the money moves
    python -m workshop run 05 ask balances_seen bob        # one field (and entry) through the dynamic handler
    python -m workshop run 05 progress --only-if-open      # rejected once the transfer has closed
    python -m workshop run 05 --embedded demo    # all of the above in one go, with a worker in this process

Add --embedded (before the command) to run a worker in this process as well.
"""

from __future__ import annotations

import argparse
from contextlib import nullcontext
from typing import Any

from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError

from workshop.connection import connect, run_script
from workshop.money import format_cents

from .client import progress_if_open, progress_of, start_transfer
from .shared import TransferProgress, TransferRequest, task_queue, transfer_workflow_id
from .worker import build_worker
from .workflow import TransferWorkflow


def describe(progress: TransferProgress) -> str:
    balances = ", ".join(f"{account} {format_cents(cents)}" for account, cents in progress.balances_seen.items())
    in_order = sorted(progress.attempts.items(), key=lambda item: item[0] != "withdraw")  # withdraw first
    attempts = ", ".join(f"{step} {count}" for step, count in in_order)
    return f"{progress.step} | balances seen: {balances or 'none'} | attempts: {attempts or 'none'}"


# --------------------------------------------------------------------------- the commands


async def run_start(client: Client, args: argparse.Namespace) -> None:
    request = TransferRequest(args.source, args.destination, args.amount)
    handle = await start_transfer(client, request, args.workflow_id, task_queue())
    print(f"Transfer {handle.id}: {format_cents(request.amount_cents)} from {request.from_account} "
          f"to {request.to_account}.")
    print("progress:", describe(await progress_of(client, handle.id)))
    if args.command == "start":
        print("Confirm it with: python -m workshop run 05 confirm")


async def run_confirm(client: Client, args: argparse.Namespace) -> None:
    handle = client.get_workflow_handle_for(TransferWorkflow.run, args.workflow_id)
    await handle.signal(TransferWorkflow.confirm)
    result = await handle.result()
    print(f"Transfer {args.workflow_id} completed (withdraw transaction {result.withdraw_transaction}, "
          f"deposit transaction {result.deposit_transaction}).")


async def run_progress(client: Client, args: argparse.Namespace) -> None:
    if not args.only_if_open:
        print("progress:", describe(await progress_of(client, args.workflow_id)))
        return
    try:
        print("progress:", describe(await progress_if_open(client, args.workflow_id)))
    except WorkflowQueryRejectedError as err:
        print(f"Query rejected: the transfer is closed ({err.status.name if err.status else 'unknown'}).")


async def run_ask(client: Client, args: argparse.Namespace) -> None:
    handle = client.get_workflow_handle(args.workflow_id)
    try:
        answer: Any = await handle.query(args.name, *([args.key] if args.key else []))
    except WorkflowQueryFailedError as err:
        print(f"Query {args.name!r} failed: {err.message}")
        return
    print(f"{args.name}{' ' + args.key if args.key else ''} -> {answer}")


async def run_demo(client: Client, args: argparse.Namespace) -> None:
    await run_start(client, args)
    await run_confirm(client, args)
    print("progress of the completed transfer:", describe(await progress_of(client, args.workflow_id)))
    for name, key in (("step", None), ("balances_seen", args.destination), ("attempts", "deposit"), ("eta", None)):
        await run_ask(client, argparse.Namespace(workflow_id=args.workflow_id, name=name, key=key))
    await run_progress(client, argparse.Namespace(workflow_id=args.workflow_id, only_if_open=True))


COMMANDS = {"start": run_start, "confirm": run_confirm, "progress": run_progress, "ask": run_ask, "demo": run_demo}


async def main(args: argparse.Namespace) -> None:
    client = await connect()
    args.workflow_id = args.workflow_id or transfer_workflow_id()
    async with build_worker(client) if args.embedded else nullcontext():
        await COMMANDS[args.command](client, args)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedded", action="store_true", help="run a worker in this process as well")
    parser.add_argument("--workflow-id", help="the transfer (default: the module's transfer-module05)")
    commands = parser.add_subparsers(dest="command")
    for name, help in (("start", "start the transfer (the default)"), ("demo", "start, query, confirm, query")):
        start = commands.add_parser(name, help=help)
        start.add_argument("--from", dest="source", default="alice")
        start.add_argument("--to", dest="destination", default="bob")
        start.add_argument("--amount", type=int, default=2_500, help="in cents")
    commands.add_parser("confirm", help="confirm the transfer (a signal) and wait for it to finish")
    progress = commands.add_parser("progress", help="query the transfer's progress")
    progress.add_argument("--only-if-open", action="store_true", help="reject the query if the transfer closed")
    ask = commands.add_parser("ask", help="a query by name, answered by the dynamic query handler")
    ask.add_argument("name", help="step, balances_seen, attempts, or anything else")
    ask.add_argument("key", nargs="?", help="an account (balances_seen) or a step (attempts)")
    args = parser.parse_args(argv)
    if args.command is None:  # `python -m workshop run 05` alone starts the transfer
        args = parser.parse_args([*argv, "start"])
    return args


if __name__ == "__main__":
    import sys

    run_script(main(parse_args(sys.argv[1:])))
