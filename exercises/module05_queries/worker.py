"""Runs the module's worker until Ctrl-C: `python -m workshop worker 05`."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from workshop.bank import BankClient
from workshop.connection import connect, run_script, serve

from .activities import BankActivities
from .shared import task_queue
from .workflow import TransferWorkflow


def build_worker(client: Client, bank: BankClient | None = None) -> Worker:
    """The module's worker; its activities share ``bank`` (one client of the bank is made if none is given).

    Queries are answered by workers too: without one on this task queue, a query waits and times out.
    """
    activities = BankActivities(bank or BankClient())
    return Worker(client, task_queue=task_queue(), workflows=[TransferWorkflow],
                  activities=[activities.withdraw, activities.deposit])


async def main() -> None:
    client = await connect()
    async with BankClient() as bank:
        await serve(build_worker(client, bank))


if __name__ == "__main__":
    run_script(main())
