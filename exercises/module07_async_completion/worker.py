"""Runs the module's worker until Ctrl-C: `python -m workshop worker 07`."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from workshop.bank import BankClient
from workshop.connection import connect, run_script, serve

from .activities import BankActivities
from .shared import task_queue
from .workflow import LargeTransferWorkflow


def build_worker(client: Client, bank: BankClient | None = None) -> Worker:
    """The module's worker; its activities share ``bank`` (one client of the bank is made if none is given).

    Once the approval activity has handed its task token to the bank, no worker is needed until the approver
    answers: stop this one, and the transfer still waits, at the server.
    """
    activities = BankActivities(bank or BankClient())
    return Worker(client, task_queue=task_queue(), workflows=[LargeTransferWorkflow],
                  activities=[activities.request_approval, activities.expire_approval,
                              activities.withdraw, activities.deposit],
                  # On Ctrl-C, let a running hand-over finish (it takes milliseconds) instead of cancelling it. A cut-off
                  # attempt fails (WorkerShutdown) while its token may already be at the bank: the approver would be
                  # refused until a worker runs the retry, which files the new attempt's token.
                  graceful_shutdown_timeout=timedelta(seconds=5))


async def main() -> None:
    client = await connect()
    async with BankClient() as bank:
        await serve(build_worker(client, bank))


if __name__ == "__main__":
    run_script(main())
