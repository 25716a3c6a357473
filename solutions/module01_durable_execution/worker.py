"""Runs the payroll worker until Ctrl-C: `python -m workshop worker 01`."""

from __future__ import annotations

from temporalio.worker import Worker

from workshop.connection import connect, run_script, serve

from .activities import pay_salary
from .shared import TASK_QUEUE
from .workflow import PayrollWorkflow


def build_worker(client) -> Worker:
    return Worker(client, task_queue=TASK_QUEUE, workflows=[PayrollWorkflow], activities=[pay_salary])


async def main() -> None:
    client = await connect()
    await serve(build_worker(client))


if __name__ == "__main__":
    run_script(main())
