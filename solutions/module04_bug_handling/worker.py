"""Runs the transfer worker until Ctrl-C: `python -m workshop worker 04` (add --watch to restart on save)."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from workshop.connection import connect, run_script, serve

from .activities import check_account, deposit, withdraw
from .shared import TASK_QUEUE
from .workflow import MoneyTransferWorkflow


def build_worker(client: Client, task_queue: str = TASK_QUEUE) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[MoneyTransferWorkflow],
        activities=[check_account, withdraw, deposit],
    )


async def main() -> None:
    client = await connect()
    await serve(build_worker(client))


if __name__ == "__main__":
    run_script(main())
