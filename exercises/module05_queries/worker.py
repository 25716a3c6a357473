"""Runs the module's worker until Ctrl-C: `python -m workshop worker 05`."""

from __future__ import annotations

from temporalio.worker import Worker

from workshop.connection import connect, run_script, serve

from .activities import deposit, withdraw
from .shared import TASK_QUEUE
from .workflow import TransferWorkflow


def build_worker(client, task_queue: str = TASK_QUEUE) -> Worker:
    # Queries are answered by workers too: without one on this task queue, a query waits and times out.
    return Worker(client, task_queue=task_queue, workflows=[TransferWorkflow], activities=[withdraw, deposit])


async def main() -> None:
    client = await connect()
    await serve(build_worker(client))


if __name__ == "__main__":
    run_script(main())
