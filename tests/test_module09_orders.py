"""Module 09 end to end: the solved order saga against the real bank, one scenario at a time, and a cancelled
order. After each, nothing leaks: stock, balances and shipments are where they should be, and each
compensation was applied once (the ledger, the reservations, the shipments, the bank's counters)."""

import asyncio
import shutil
import signal
import subprocess
import sys

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from solutions.module09_sagas import run_workflow
from solutions.module09_sagas.activities import OrderActivities
from solutions.module09_sagas.shared import (
    Order,
    OrderLine,
    Payment,
    PaymentRequest,
    RefundRequest,
    Undone,
    order_workflow_id,
    task_queue,
)
from solutions.module09_sagas.worker import build_worker
from solutions.module09_sagas.workflow import OrderWorkflow
from workshop import build, catalog, connection
from workshop.bank import BankClient
from workshop.paths import SOLUTIONS
from workshop.testing import eventually, history_events, running_worker, unique_id

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


def the_shop(shop: OrderActivities, **stand_ins) -> list:
    """The order's activities, with stand-ins (activities under the real names) where given."""
    names = ["validate_order", "reserve_inventory", "charge_payment", "create_shipment", "send_confirmation",
             "release_inventory", "refund_payment", "cancel_shipment"]
    return [stand_ins.get(name) or getattr(shop, name) for name in names]


async def test_a_cancel_while_a_step_is_at_the_bank_waits_for_that_step(client, bank):
    """The order is cancelled while its charge is on its way to the bank, and the charge lands after the
    cancel. The saga waits for that attempt (WAIT_CANCELLATION_COMPLETED) and only then compensates, so the
    refund finds the charge. Compensating at once (TRY_CANCEL, the default) would look before the charge
    lands, find nothing to refund, and leave alice 45.00 short."""
    order = Order(unique_id("cancel-mid-charge"), [OrderLine("widget", 2)], "alice", 4_500)
    at_the_bank, let_it_land = asyncio.Event(), asyncio.Event()
    async with BankClient(bank.url) as bank_client:
        shop = OrderActivities(bank_client)

        @activity.defn(name="charge_payment")
        async def charge_landing_late(request: PaymentRequest) -> Payment:
            at_the_bank.set()
            await let_it_land.wait()  # the request is on its way while the order is cancelled
            return await shop.charge_payment(request)

        async with running_worker(client, [OrderWorkflow], the_shop(shop, charge_payment=charge_landing_late)) as queue:
            handle = await client.start_workflow(OrderWorkflow.run, order, id=unique_id("order"), task_queue=queue)
            await asyncio.wait_for(at_the_bank.wait(), 20)
            await handle.cancel()

            async def cancel_passed_on() -> bool:  # the workflow has asked the server to cancel the charge
                return any(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED
                           for e in await history_events(handle))

            await eventually(cancel_passed_on, 20, "the order passing the cancellation on to the charge")
            let_it_land.set()
            with pytest.raises(WorkflowFailureError):
                await asyncio.wait_for(handle.result(), 20)
            assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
            report = await handle.query(OrderWorkflow.report)
    assert kinds(bank, "alice") == ["withdraw", "deposit"] and bank.balance("alice") == 100_000, report.undone
    assert stock(bank)["widget"] == (50, 0)
    assert report.steps_done == ["validate_order", "reserve_inventory", "charge_payment"]
    assert undone(report) == [("cancel_shipment", 1), ("refund_payment", 1), ("release_inventory", 1)]


async def test_a_compensation_that_fails_for_good_is_named_and_the_others_still_run(client, bank):
    order = Order(unique_id("refund-refused"), [OrderLine("gadget", 2)], "dave", 25_000)
    async with BankClient(bank.url) as bank_client:

        @activity.defn(name="refund_payment")
        async def refund_refused(request: RefundRequest) -> Undone:
            raise ApplicationError("The payments desk refuses refunds today.", type="RefundRefused",
                                   non_retryable=True)

        shop = the_shop(OrderActivities(bank_client), refund_payment=refund_refused)
        async with running_worker(client, [OrderWorkflow], shop) as queue:
            handle = await client.start_workflow(OrderWorkflow.run, order, id=unique_id("order"), task_queue=queue)
            with pytest.raises(WorkflowFailureError) as failure:
                await asyncio.wait_for(handle.result(), 20)
            report = await handle.query(OrderWorkflow.report)
    assert "NOT undone: refund_payment" in str(failure.value.cause)
    assert report.not_undone == ["refund_payment"] and undone(report) == [("release_inventory", 1)]
    assert stock(bank)["gadget"] == (20, 0)


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
