"""Runs the batch worker until Ctrl-C: `python -m workshop worker 08`."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from workshop.bank import BankClient
from workshop.connection import connect, run_script, serve

from .activities import BankActivities
from .shared import task_queue
from .workflow import TransferBatchWorkflow


def build_worker(client: Client, bank: BankClient | None = None, activities: BankActivities | None = None) -> Worker:
    """The module's worker; its activities share ``bank`` (one client of the bank is made if none is given).
    The runner passes ``activities`` of its own: it decides when their payee checks answer.

    Updates are handled by workers too: an update sent while no worker polls the task queue waits for one.
    """
    activities = activities or BankActivities(bank or BankClient())
    return Worker(
        client, task_queue=task_queue(), workflows=[TransferBatchWorkflow],
        activities=[activities.place_hold, activities.release_hold, activities.check_payee,
                    activities.capture_hold, activities.deposit],
    )


async def main() -> None:
    client = await connect()
    async with BankClient() as bank:
        await serve(build_worker(client, bank))


if __name__ == "__main__":
    run_script(main())
