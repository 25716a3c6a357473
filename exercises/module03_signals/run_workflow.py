"""Starts transfers that wait for approval, decides them, and posts events to account entities.

    python -m workshop run 03                      # start a transfer; it waits for a decision
    python -m workshop run 03 approve              # ... decide it from a client (or: reject)
    python -m workshop run 03 transfer --review    # ... or let the fraud review workflow decide it
    python -m workshop run 03 events --count 20    # a burst of events for the entity of one account

Add --embedded (before the command) to run a worker in this process as well.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from contextlib import nullcontext

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workshop.bank import BankClient
from workshop.connection import connect, run_script
from workshop.money import format_cents

from .client import post_account_event, send_decision, start_review, start_transfer
from .shared import (
    AccountEvent,
    Approval,
    ReviewRequest,
    TransferRequest,
    account_workflow_id,
    task_queue,
    transfer_workflow_id,
)
from .worker import build_worker

# --------------------------------------------------------------------------- the commands


async def run_transfer(client: Client, args: argparse.Namespace) -> None:
    request = TransferRequest(args.source, args.destination, args.amount)
    handle = await start_transfer(client, request, transfer_workflow_id(), task_queue())
    print(f"Transfer {handle.id} of {format_cents(request.amount_cents)} from {request.from_account} "
          f"to {request.to_account} is waiting for a decision.")
    if args.review:
        review = await start_review(client, ReviewRequest(handle.id, request.amount_cents), task_queue())
        approval = await review.result()
        verdict = "approved" if approval.approved else "rejected"
        print(f"Fraud review {review.id} {verdict} it ({approval.comment}).")
    else:
        print("Decide it from another terminal: python -m workshop run 03 approve   (or: reject)")
    outcome = await handle.result()
    if outcome.status == "completed":
        print(f"Transfer completed, approved by {outcome.approver} "
              f"(withdraw transaction {outcome.withdraw_transaction}, deposit transaction {outcome.deposit_transaction}).")
    else:
        print(f"Transfer {outcome.status} ({outcome.comment}). No money moved.")


async def run_decision(client: Client, args: argparse.Namespace) -> None:
    approval = Approval(args.by, args.command == "approve", args.comment)
    try:
        await send_decision(client, args.workflow_id or transfer_workflow_id(), approval)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        # A plain signal needs a running execution; nothing is started for it.
        print(f"No running workflow {args.workflow_id or transfer_workflow_id()!r} to signal: {err.message}")
        return
    print(f"Sent decide({approval}) to {args.workflow_id or transfer_workflow_id()}.")


async def run_events(client: Client, args: argparse.Namespace) -> None:
    batch = uuid.uuid4().hex[:8]
    run_ids = set()
    for number in range(1, args.count + 1):
        # Deposits and withdrawals alternate: applied out of order, a withdrawal could find too little money.
        kind = "deposit" if number % 2 else "withdraw"
        event = AccountEvent(f"{batch}-{number}", kind, 500, note=f"{number} of {args.count}")
        handle = await post_account_event(client, args.account, event, task_queue())
        run_ids.add(handle.result_run_id)
    print(f"Posted {args.count} events to {account_workflow_id(args.account)} with signal-with-start "
          f"({len(run_ids)} execution).")
    applied = await wait_for_ledger(args.account, f"event {batch}-", args.count)
    sent = [f"{batch}-{number}" for number in range(1, args.count + 1)]
    if applied == sent:
        print(f"The bank applied all {args.count} in the order they were sent.")
    elif len(applied) < args.count:
        print(f"Only {len(applied)} of {args.count} were applied so far: is a worker running?")
    else:
        print(f"The bank applied them in another order: {', '.join(applied)}")


async def wait_for_ledger(account: str, prefix: str, count: int, seconds: float = 60) -> list[str]:
    """The event IDs the bank applied to `account` (oldest first), once `count` arrived or time ran out."""
    deadline = time.monotonic() + seconds
    async with BankClient() as bank:
        while True:
            ledger = await bank.call("GET", f"/accounts/{account}/ledger?limit=1000")
            applied = [entry["reference"].split(":")[0].removeprefix("event ")
                       for entry in reversed(ledger["entries"])
                       if (entry["reference"] or "").startswith(prefix)]
            if len(applied) >= count or time.monotonic() > deadline:
                return applied
            await asyncio.sleep(0.25)


async def main(args: argparse.Namespace) -> None:
    client = await connect()
    command = {"transfer": run_transfer, "approve": run_decision, "reject": run_decision, "events": run_events}
    async with build_worker(client) if args.embedded else nullcontext():
        await command[args.command](client, args)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedded", action="store_true", help="run a worker in this process as well")
    commands = parser.add_subparsers(dest="command")
    transfer = commands.add_parser("transfer", help="start a transfer that waits for approval (the default)")
    transfer.add_argument("--from", dest="source", default="alice")
    transfer.add_argument("--to", dest="destination", default="bob")
    transfer.add_argument("--amount", type=int, default=2_500, help="in cents")
    transfer.add_argument("--review", action="store_true", help="let the fraud review workflow decide it")
    for name in ("approve", "reject"):
        decision = commands.add_parser(name, help=f"{name} the waiting transfer (sends the decide signal)")
        decision.add_argument("--by", default="carol", help="who decides")
        decision.add_argument("--comment", default="")
        decision.add_argument("--workflow-id", help="the transfer to decide (default: the module's transfer)")
    events = commands.add_parser("events", help="post a burst of events to an account entity")
    events.add_argument("--account", default="carol")
    events.add_argument("--count", type=int, default=20)
    args = parser.parse_args(argv)
    if args.command is None:  # `python -m workshop run 03` alone starts a transfer
        args = parser.parse_args([*argv, "transfer"])
    return args


if __name__ == "__main__":
    import sys

    run_script(main(parse_args(sys.argv[1:])))
