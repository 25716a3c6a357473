"""Starts a month's payroll (or attaches to it while it runs) and waits for its result.

    python -m workshop run 01                       # needs a worker: python -m workshop worker 01
    python -m workshop run 01 --embedded            # runs a worker in this process too
    python -m workshop run 01 --month december      # each month's payroll runs once
"""

from __future__ import annotations

import argparse
from contextlib import nullcontext

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from workshop.connection import connect, run_script
from workshop.money import format_cents

from .shared import PayrollInput, monthly_payroll, payroll_workflow_id, task_queue
from .worker import build_worker
from .workflow import PayrollWorkflow


async def start_payroll(client: Client, payroll: PayrollInput, workflow_id: str, queue: str) -> WorkflowHandle:
    """Start the payroll under ``workflow_id``: attach to it while it runs, refuse once it has run."""
    # >>> Part B: Start each month's payroll once: a fixed workflow ID, attached to while it runs.
    return await client.start_workflow(
        PayrollWorkflow.run,
        payroll,
        id=workflow_id,
        task_queue=queue,
        # Running this script again while the payroll runs must not pay anybody twice: attach to it.
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        # Once this month's payroll has run, its ID is spent: a second payroll for the month is refused.
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    # <<< Part B


async def main(args: argparse.Namespace) -> int:
    client = await connect()
    workflow_id = payroll_workflow_id(args.month)
    try:
        handle = await start_payroll(client, monthly_payroll(args.month, args.pause), workflow_id, task_queue())
    except WorkflowAlreadyStartedError:
        print(f"The {args.month} payroll ({workflow_id}) has already run; it is not paid twice.")
        print("Its history: temporal workflow show --workflow-id " + workflow_id)
        print("Another month: python -m workshop run 01 --month <month>")
        return 1
    print(f"Payroll workflow {handle.id} is running (run {handle.result_run_id}).")
    print("Kill the worker while it runs, start it again, and watch the payroll carry on.", flush=True)
    async with build_worker(client) if args.embedded else nullcontext():
        result = await handle.result()
    for confirmation in result.confirmations:
        print(f"  paid {confirmation.employee:<6} {format_cents(confirmation.amount_cents):>10}"
              f"  (transaction {confirmation.transaction_id})")
    print(f"Payroll complete: {len(result.confirmations)} payments, {format_cents(result.total_cents)} in total.")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedded", action="store_true", help="run a worker in this process as well")
    parser.add_argument("--month", default="november", help="the payroll's month, part of its workflow ID")
    parser.add_argument("--pause", type=float, default=5.0, help="seconds between two payments (default 5)")
    run_script(main(parser.parse_args()))
