"""Starts a money transfer and waits for its result.

    python -m workshop run 04                      # needs a worker: python -m workshop worker 04
    python -m workshop run 04 --embedded           # runs a worker in this process too
    python -m workshop run 04 --max-attempts 3     # gives up after 3 attempts of a bank call (Part D)
"""

from __future__ import annotations

import argparse
import asyncio
from contextlib import nullcontext

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import FailureError

from workshop.connection import connect, run_script
from workshop.money import format_cents

from .shared import WORKFLOW_TASK_TIMEOUT, TransferInput, example_transfer, task_queue, transfer_workflow_id
from .worker import build_worker
from .workflow import MoneyTransferWorkflow


async def start_transfer(
    client: Client, transfer: TransferInput, workflow_id: str | None = None, queue: str | None = None
) -> WorkflowHandle:
    return await client.start_workflow(
        MoneyTransferWorkflow.run, transfer, id=workflow_id or transfer_workflow_id(), task_queue=queue or task_queue(),
        # A workflow task that fails again is not reported by the worker: the server offers it again only
        # when it times out. The default timeout is 10 s; 2 s gets the fixed workflow code running sooner.
        task_timeout=WORKFLOW_TASK_TIMEOUT,
    )


async def main(embedded: bool, max_attempts: int) -> None:
    client = await connect()
    transfer = example_transfer(max_attempts)
    handle = await start_transfer(client, transfer)
    print(f"Started {handle.id}: {format_cents(transfer.amount_cents)} from {transfer.source} "
          f"to {transfer.target} ({transfer.reference}).")
    print("Waiting for the result. Ctrl-C stops waiting; the transfer carries on in Temporal.", flush=True)
    try:
        async with build_worker(client) if embedded else nullcontext():
            result = await handle.result()
    except asyncio.CancelledError:  # Ctrl-C
        print("\nStopped waiting. The transfer is still in Temporal: see the Web UI.", flush=True)
        raise
    except WorkflowFailureError as err:
        cause = err.cause
        while isinstance(cause, FailureError) and cause.cause is not None:
            cause = cause.cause
        print(f"Transfer {handle.id} failed: {cause}")
        return
    print(f"Transfer complete: withdraw was transaction {result.withdraw_transaction_id}, "
          f"deposit was transaction {result.deposit_transaction_id}.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedded", action="store_true", help="run a worker in this process as well")
    parser.add_argument("--max-attempts", type=int, default=0,
                        help="attempts per bank call before the transfer fails (default 0: unlimited)")
    args = parser.parse_args()
    run_script(main(args.embedded, args.max_attempts))
