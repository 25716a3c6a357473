"""Runs the order worker until Ctrl-C: `python -m workshop worker 09`."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from workshop.bank import BankClient
from workshop.connection import connect, run_script, serve

from .activities import OrderActivities
from .shared import task_queue
from .workflow import OrderWorkflow


def build_worker(client: Client, bank: BankClient | None = None) -> Worker:
    """The module's worker; its activities share ``bank`` (one client of the bank is made if none is given)."""
    activities = OrderActivities(bank or BankClient())
    return Worker(
        client, task_queue=task_queue(), workflows=[OrderWorkflow],
        activities=[activities.validate_order, activities.reserve_inventory, activities.charge_payment,
                    activities.create_shipment, activities.send_confirmation,
                    activities.release_inventory, activities.refund_payment, activities.cancel_shipment],
    )


async def main() -> None:
    client = await connect()
    async with BankClient() as bank:
        await serve(build_worker(client, bank))


if __name__ == "__main__":
    run_script(main())
