"""Runs the transfer worker until Ctrl-C: `python -m workshop worker 02`."""

from __future__ import annotations

from temporalio.worker import Worker

from workshop.connection import connect, run_script, serve

from .activities import deposit, withdraw
from .shared import TASK_QUEUE
from .workflow import MoneyTransferWorkflow


def build_worker(client) -> Worker:
    return Worker(client, task_queue=TASK_QUEUE, workflows=[MoneyTransferWorkflow], activities=[withdraw, deposit])


async def main() -> None:
    client = await connect()
    await serve(build_worker(client))


if __name__ == "__main__":
    run_script(main())
