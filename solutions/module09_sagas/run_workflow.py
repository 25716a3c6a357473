"""Places orders that succeed or fail in chosen ways, and shows what the saga did and undid.

    python -m workshop run 09 --embedded                        # an order that goes through
    python -m workshop run 09 --embedded --card-declined        # one scenario per flag ...
    python -m workshop run 09 --embedded --all                  # ... or all of them
    python -m workshop run 09 --shipping-down --ship-within 300 # time to cancel it, or to switch tortoise on

The scenarios, chosen by the order itself (no dice):
    --success             2 widgets, paid by alice, shipped by parcelpost
    --out-of-stock        a unicorn plush (none in stock): refused before anything is reserved
    --card-declined       2 gadgets for more than dave has: the reservation is released
    --shipping-down       shipped by tortoise (down): retried for up to 3 s, then refunded and released
    --release-fails-once  dave's lamp: his card is declined, and the first answer to the release is lost
"""

from __future__ import annotations

import argparse
import dataclasses
import uuid
from contextlib import nullcontext
from dataclasses import dataclass

from temporalio.client import Client, WorkflowFailureError

from workshop.bank import BankClient
from workshop.connection import connect, run_script
from workshop.money import format_cents

from .shared import Order, OrderLine, OrderReport, order_workflow_id, task_queue
from .worker import build_worker
from .workflow import OrderWorkflow


@dataclass(frozen=True)
class Scenario:
    lines: tuple[OrderLine, ...]
    payer: str
    amount_cents: int
    carrier: str = "parcelpost"
    ship_within_seconds: int = 120

    def order(self, order_id: str) -> Order:
        return Order(order_id, list(self.lines), self.payer, self.amount_cents, carrier=self.carrier,
                     ship_within_seconds=self.ship_within_seconds)


SCENARIOS = {
    "success": Scenario((OrderLine("widget", 2),), "alice", 4_500),
    "out-of-stock": Scenario((OrderLine("gadget", 1), OrderLine("unicorn", 1)), "alice", 6_000),
    "card-declined": Scenario((OrderLine("gadget", 2),), "dave", 25_000),
    "shipping-down": Scenario((OrderLine("widget", 1),), "bob", 3_000, carrier="tortoise", ship_within_seconds=3),
    "release-fails-once": Scenario((OrderLine("lamp", 1),), "dave", 18_000),
}


async def place_order(client: Client, name: str, scenario: Scenario) -> tuple[Order, OrderReport]:
    """Run the scenario's order to its end; its report, whether it completed or failed."""
    order = scenario.order(f"{name}-{uuid.uuid4().hex[:8]}")
    handle = await client.start_workflow(OrderWorkflow.run, order, id=order_workflow_id(order.order_id),
                                         task_queue=task_queue())
    lines = ", ".join(f"{line.quantity} × {line.sku}" for line in order.lines)
    print(f"== {name}: {lines} for {format_cents(order.amount_cents)}, paid by {order.payer}, "
          f"shipped by {order.carrier} (workflow {handle.id})")
    try:
        await handle.result()
    except WorkflowFailureError:
        pass  # the report says why
    return order, await handle.query(OrderWorkflow.report)


async def state_of(bank: BankClient, order: Order) -> str:
    """The bank's side of the order now: its items' stock, the payer's balance, the order's shipments."""
    items = {item["sku"]: item for item in (await bank.call("GET", "/inventory"))["items"]}
    stock = ", ".join(f"{line.sku} {items[line.sku]['in_stock']} in stock, {items[line.sku]['reserved']} reserved"
                      for line in order.lines)
    balance = (await bank.call("GET", f"/accounts/{order.payer}"))["balance_cents"]
    statuses = [s["status"] for s in (await bank.call("GET", "/shipments?limit=1000"))["shipments"]
                if s["order_id"] == order.order_id]
    shipments = ", ".join(f"{statuses.count(status)} {status}" for status in sorted(set(statuses))) or "none"
    return f"{stock} | {order.payer} {format_cents(balance)} | shipments of the order: {shipments}"


def show(report: OrderReport) -> None:
    print(f"Order {report.order_id}: {report.failure or 'completed'}")
    print(f"  steps done: {', '.join(report.steps_done) or 'none'}")
    undone = [f"{u.compensation}: {u.note}{f' (on attempt {u.attempt})' if u.attempt > 1 else ''}"
              for u in report.undone] or ["nothing"]
    print("  undone:     " + "\n              ".join(undone))
    if report.not_undone:
        print(f"  NOT undone: {', '.join(report.not_undone)} (the worker's log says why)")


async def main(args: argparse.Namespace) -> None:
    client = await connect()
    names = list(SCENARIOS) if args.all else args.scenarios or ["success"]
    async with BankClient() as bank, build_worker(client, bank) if args.embedded else nullcontext():
        for name in names:
            scenario = SCENARIOS[name]
            if args.ship_within is not None:
                scenario = dataclasses.replace(scenario, ship_within_seconds=args.ship_within)
            order, report = await place_order(client, name, scenario)
            show(report)
            print(f"  now:        {await state_of(bank, order)}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedded", action="store_true", help="run a worker in this process as well")
    for name in SCENARIOS:
        parser.add_argument(f"--{name}", dest="scenarios", action="append_const", const=name,
                            help=f"place the {name} order")
    parser.add_argument("--all", action="store_true", help="place every scenario's order, one after the other")
    parser.add_argument("--ship-within", type=int, metavar="SECONDS",
                        help="the shipment step's time budget (default: 120 s; 3 s for --shipping-down)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    import sys

    run_script(main(parse_args(sys.argv[1:])))
