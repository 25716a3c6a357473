"""Transfers money with the retrying workflow and prints how it ended.

    python -m workshop run 02 --embedded                          # alice -> bob, 125.00
    python -m workshop run 02 --embedded --amount 99999999        # more than alice has
    python -m workshop run 02 --embedded --target nobody          # the deposit fails for good
"""

from __future__ import annotations

import argparse
import uuid
from contextlib import nullcontext

from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from workshop.connection import connect, run_script, workflow_id
from workshop.money import format_cents

from .shared import TransferInput, task_queue
from .worker import build_worker
from .workflow import MoneyTransferWorkflow


def failure_reason(error: BaseException | None) -> str:
    """The message of the first ApplicationError in the chain (workflow -> activity -> application)."""
    while error is not None and not isinstance(error, ApplicationError):
        error = getattr(error, "cause", None)
    return error.message if error is not None else "no reason given"


async def main(args: argparse.Namespace) -> int:
    client = await connect()
    transfer = TransferInput(args.source, args.target, args.amount, reference=args.reference)
    transfer_id = workflow_id(__package__, f"transfer-{uuid.uuid4().hex[:8]}")
    print(f"Transferring {format_cents(transfer.amount_cents)} from {transfer.source} to {transfer.target} "
          f"(workflow {transfer_id})")

    try:
        async with build_worker(client) if args.embedded else nullcontext():
            result = await client.execute_workflow(
                MoneyTransferWorkflow.run, transfer, id=transfer_id, task_queue=task_queue()
            )
    except WorkflowFailureError as failure:
        print(f"Transfer failed: {failure_reason(failure.cause)}")
        return 1
    print(f"Done. {transfer.source} now has {format_cents(result.withdrawal.balance_cents)}, "
          f"{transfer.target} has {format_cents(result.deposit.balance_cents)}.")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="alice")
    parser.add_argument("--target", default="bob")
    parser.add_argument("--amount", type=int, default=12_500, help="in cents (default 12500 = 125.00)")
    parser.add_argument("--reference", default="module 02 transfer")
    parser.add_argument("--embedded", action="store_true", help="run a worker in this process as well")
    run_script(main(parser.parse_args()))
