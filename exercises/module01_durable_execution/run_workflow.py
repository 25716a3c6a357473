"""Starts the payroll (or attaches to the one already running) and waits for its result.

    python -m workshop run 01              # needs a worker: python -m workshop worker 01
    python -m workshop run 01 --embedded   # runs a worker in this process too
"""

from __future__ import annotations

import argparse
from contextlib import nullcontext

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from workshop.connection import connect, run_script
from workshop.money import format_cents

from .shared import PAYROLL_WORKFLOW_ID, TASK_QUEUE, PayrollInput, november_payroll
from .worker import build_worker
from .workflow import PayrollWorkflow


async def start_payroll(
    client: Client, payroll: PayrollInput, workflow_id: str = PAYROLL_WORKFLOW_ID, task_queue: str = TASK_QUEUE
) -> WorkflowHandle:
    # TODO Part B: Start the payroll with a fixed workflow ID and attach to a running one.
    raise NotImplementedError('Part B is not done yet: Start the payroll with a fixed workflow ID and attach to a running one. See README.md, Part B.')


async def main(embedded: bool, pause_seconds: float) -> None:
    client = await connect()
    handle = await start_payroll(client, november_payroll(pause_seconds))
    print(f"Payroll workflow {handle.id} is running (run {handle.result_run_id}).")
    print("Kill the worker while it runs, start it again, and watch the payroll carry on.")
    async with build_worker(client) if embedded else nullcontext():
        result = await handle.result()
    for confirmation in result.confirmations:
        print(f"  paid {confirmation.employee:<6} {format_cents(confirmation.amount_cents):>10}"
              f"  (transaction {confirmation.transaction_id})")
    print(f"Payroll complete: {len(result.confirmations)} payments, {format_cents(result.total_cents)} in total.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedded", action="store_true", help="run a worker in this process as well")
    parser.add_argument("--pause", type=float, default=5.0, help="seconds between two payments (default 5)")
    args = parser.parse_args()
    run_script(main(args.embedded, args.pause))
