"""Runs the module's worker until Ctrl-C: `python -m workshop worker 06`."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from workshop.bank import BankClient
from workshop.connection import connect, run_script, serve

from .activities import BankActivities
from .screening import ScreeningWorkflow
from .shared import task_queue
from .workflow import TransferBatchWorkflow


def build_worker(client: Client, bank: BankClient | None = None) -> Worker:
    """The module's worker; its activities share ``bank`` (one client of the bank is made if none is given)."""
    activities = BankActivities(bank or BankClient())
    return Worker(client, task_queue=task_queue(), workflows=[TransferBatchWorkflow, ScreeningWorkflow],
                  activities=[activities.place_holds, activities.settle_transfers, activities.release_holds,
                              activities.screen_transfers])


async def main() -> None:
    client = await connect()
    async with BankClient() as bank:
        await serve(build_worker(client, bank))


if __name__ == "__main__":
    run_script(main())
