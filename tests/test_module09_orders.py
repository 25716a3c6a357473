"""Module 09 end to end: the solved order saga against the real bank, one scenario at a time, and a cancelled
order. After each, nothing leaks: stock, balances and shipments are where they should be, and each
compensation was applied once (the ledger, the reservations, the shipments, the bank's counters)."""

import asyncio
import shutil
import signal
import subprocess
import sys

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

from solutions.module09_sagas import run_workflow
from solutions.module09_sagas.shared import Order, OrderLine, order_workflow_id, task_queue
from solutions.module09_sagas.worker import build_worker
from solutions.module09_sagas.workflow import OrderWorkflow
from workshop import build, catalog, connection
from workshop.bank import BankClient
from workshop.paths import SOLUTIONS
from workshop.testing import eventually, unique_id

SEED_STOCK = {"widget": 50, "gadget": 20, "lamp": 5, "unicorn": 0}
SEED_BALANCES = {"alice": 100_000, "bob": 50_000, "dave": 10_000}


def stock(bank) -> dict[str, tuple[int, int]]:
    return {item["sku"]: (item["in_stock"], item["reserved"]) for item in bank.http.get("/inventory").json()["items"]}


def shipments_of(bank, order_id: str) -> list[str]:
    return [s["status"] for s in bank.http.get("/shipments", params={"limit": 1000}).json()["shipments"]
            if s["order_id"] == order_id]


def reservations_of(bank, order_id: str) -> list[str]:
    return [r["status"] for r in bank.http.get("/inventory/reservations", params={"order_id": order_id}).json()[
        "reservations"]]


def kinds(bank, account: str) -> list[str]:
    return [entry["kind"] for entry in reversed(bank.ledger(account))]  # oldest first


def undone(report) -> list[tuple[str, int]]:
    return [(u.compensation, u.attempt) for u in report.undone]


async def test_each_scenario_undoes_exactly_what_it_did(client, bank):
    async with BankClient(bank.url) as bank_client, build_worker(client, bank_client):

        async def place(name: str):
            placed = run_workflow.place_order(client, name, run_workflow.SCENARIOS[name])
            order, report = await asyncio.wait_for(placed, 30)
            return order, report, stock(bank)

        order, report, now = await place("success")
        assert report.steps_done == ["validate_order", "reserve_inventory", "charge_payment", "create_shipment",
                                     "send_confirmation"]
        assert not report.undone and not report.failure
        assert now["widget"] == (48, 2) and bank.balance("alice") == 100_000 - 4_500
        assert shipments_of(bank, order.order_id) == ["created"] and reservations_of(bank, order.order_id) == ["active"]

        bank.reset()
        order, report, now = await place("out-of-stock")
        assert (report.steps_done, report.compensations, report.undone) == ([], [], [])
        assert "OutOfStock" in report.failure and now == {sku: (n, 0) for sku, n in SEED_STOCK.items()}
        assert reservations_of(bank, order.order_id) == []
        assert bank.stats()["mutations_applied"] == 0, "nothing was reserved, charged or shipped"

        order, report, now = await place("card-declined")
        assert report.steps_done == ["validate_order", "reserve_inventory"] and "InsufficientFunds" in report.failure
        assert undone(report) == [("refund_payment", 1), ("release_inventory", 1)]
        assert [u.note for u in report.undone] == ["nothing was charged", "released 2 × gadget"]
        assert now["gadget"] == (20, 0) and kinds(bank, "dave") == [] and bank.balance("dave") == 10_000
        assert reservations_of(bank, order.order_id) == ["released"]

        order, report, now = await place("shipping-down")
        assert report.steps_done == ["validate_order", "reserve_inventory", "charge_payment"]
        assert "CarrierUnavailable" in report.failure
        assert undone(report) == [("cancel_shipment", 1), ("refund_payment", 1), ("release_inventory", 1)]
        assert kinds(bank, "bob") == ["withdraw", "deposit"] and bank.balance("bob") == 50_000
        assert now["widget"] == (50, 0) and shipments_of(bank, order.order_id) == []
        assert reservations_of(bank, order.order_id) == ["released"]

        lost_before = bank.stats()["lost_responses"]
        order, report, now = await place("release-fails-once")
        assert undone(report) == [("refund_payment", 1), ("release_inventory", 2)], "the release's first answer was lost"
        assert bank.stats()["lost_responses"] == lost_before + 1
        assert now["lamp"] == (5, 0) and bank.balance("dave") == 10_000
        assert reservations_of(bank, order.order_id) == ["released"]

    assert {account: bank.balance(account) for account in SEED_BALANCES} == SEED_BALANCES
    assert stock(bank) == {sku: (n, 0) for sku, n in SEED_STOCK.items()}


async def test_a_cancelled_order_is_undone_and_ends_cancelled(client, bank):
    order = Order(unique_id("cancelled"), [OrderLine("gadget", 3)], "carol", 7_500, carrier="tortoise",
                  ship_within_seconds=300)
    async with BankClient(bank.url) as bank_client, build_worker(client, bank_client):
        handle = await client.start_workflow(OrderWorkflow.run, order, id=order_workflow_id(order.order_id),
                                             task_queue=task_queue())

        async def shipping_retried():
            pending = (await handle.describe()).raw_description.pending_activities
            return any(p.activity_type.name == "create_shipment" and p.attempt >= 2 for p in pending)

        await eventually(shipping_retried, 20, "the shipment step retried against the carrier that is down")
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await asyncio.wait_for(handle.result(), 20)
        assert "cancelled" in str(failure.value.cause).lower()
        assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
        report = await handle.query(OrderWorkflow.report)
    assert undone(report) == [("cancel_shipment", 1), ("refund_payment", 1), ("release_inventory", 1)]
    assert report.failure == "the order was cancelled"
    assert stock(bank)["gadget"] == (20, 0) and bank.balance("carol") == 25_000
    assert kinds(bank, "carol") == ["withdraw", "deposit"] and shipments_of(bank, order.order_id) == []


def test_the_bank_lists_an_orders_reservations(bank):
    """GET /inventory/reservations?order_id=: how release_inventory finds a reservation whose answer it never got."""
    def reserve(order_id: str, sku: str) -> str:
        response = bank.http.post("/inventory/reservations", json={"order_id": order_id, "items": [
            {"sku": sku, "quantity": 1}]}, headers={"Idempotency-Key": f"{order_id}/{sku}"})
        response.raise_for_status()
        return response.json()["reservation_id"]

    first, second, other = reserve("O-1", "widget"), reserve("O-1", "gadget"), reserve("O-2", "widget")
    bank.http.post(f"/inventory/reservations/{first}/release").raise_for_status()

    def listed(**params) -> list[tuple[str, str]]:
        response = bank.http.get("/inventory/reservations", params=params)
        response.raise_for_status()
        return [(r["reservation_id"], r["status"]) for r in response.json()["reservations"]]

    assert listed(order_id="O-1") == [(second, "active"), (first, "released")]  # the newest first
    assert listed(order_id="O-1", status="active") == [(second, "active")]
    assert listed(order_id="O-3") == []
    assert [reservation for reservation, _ in listed()] == [other, second, first]
    assert bank.http.get("/inventory/reservations", params={"status": "lost"}).json()["error"] == "invalid_status"


def start_worker(env: dict[str, str], cwd) -> subprocess.Popen:
    worker = subprocess.Popen([sys.executable, "-m", "exercises.module09_sagas.worker"], cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first_line = worker.stdout.readline()
    assert first_line.startswith("Worker polling task queue"), first_line + worker.stdout.read()
    return worker


def stop(worker: subprocess.Popen) -> None:
    worker.send_signal(signal.SIGINT)
    assert worker.wait(timeout=30) in (0, 130), "Ctrl-C stops the worker cleanly"


async def test_a_compensation_that_keeps_failing_finishes_after_the_fix_is_deployed(tmp_path, client, bank, services):
    """Parts A to C solved, Part D not yet: the refund fails on every attempt and the order waits in its
    undo. Deploy the fixed activities (restart the worker): the same order finishes its compensations."""
    module = catalog.get("09")
    exercises = tmp_path / "exercises"
    build.write_package(exercises, (module,))
    folder = exercises / module.folder
    unsolved_activities = (folder / "activities.py").read_text()
    shutil.rmtree(folder)
    shutil.copytree(SOLUTIONS / module.folder, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "activities.py").write_text(unsolved_activities)
    env = services.env(modules_dir=exercises, PYTHONPATH=str(tmp_path))

    order = Order(unique_id("fix"), [OrderLine("gadget", 2)], "dave", 25_000)
    worker = start_worker(env, tmp_path)
    try:
        handle = await client.start_workflow(
            "OrderWorkflow", order, id=unique_id("order-fix"),
            task_queue=connection.task_queue(f"exercises.{module.folder}"),
        )

        async def refund_failed() -> bool:
            pending = (await handle.describe()).raw_description.pending_activities
            return any(p.activity_type.name == "refund_payment" and "Part D" in p.last_failure.message
                       for p in pending)

        await eventually(refund_failed, 20, "the refund failing with the unsolved Part D")
    finally:
        stop(worker)
    assert stock(bank)["gadget"] == (18, 2), "nothing is undone while the refund keeps failing"

    shutil.copyfile(SOLUTIONS / module.folder / "activities.py", folder / "activities.py")
    worker = start_worker(env, tmp_path)
    try:
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), 30)
    finally:
        stop(worker)
    assert stock(bank)["gadget"] == (20, 0) and bank.balance("dave") == 10_000
