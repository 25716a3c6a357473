"""Runs the module's worker until Ctrl-C: `python -m workshop worker 03`."""

from __future__ import annotations

from temporalio.worker import Worker

from workshop.connection import connect, run_script, serve

from .activities import apply_account_event, deposit, withdraw
from .shared import TASK_QUEUE
from .workflow import AccountEntityWorkflow, FraudReviewWorkflow, TransferApprovalWorkflow


def build_worker(client, task_queue: str = TASK_QUEUE) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[TransferApprovalWorkflow, FraudReviewWorkflow, AccountEntityWorkflow],
        activities=[withdraw, deposit, apply_account_event],
    )


async def main() -> None:
    client = await connect()
    await serve(build_worker(client))


if __name__ == "__main__":
    run_script(main())
