"""Check suite of module 09, sagas: `python -m workshop check 09`.

Parts A and C run the learner's order workflow with stand-in activities (named like the real ones, with
scripted answers), Part B runs the learner's Saga in a workflow of the check's own, and Part D runs the
learner's compensation activities against the real bank: so each Part is judged on its own.

No `from __future__ import annotations` in check suites: the stand-in activities' type hints name
classes of the target module and must be evaluated where they are defined.
"""

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType, RetryState
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from workshop import bank as bank_errors
from workshop.bank import BankClient
from workshop.testing import (
    eventually,
    failure_text,
    history_events,
    last_task_failure,
    result_within,
    root_cause,
    running_worker,
    unique_id,
)

MODULE = "09"
STEPS = ["validate_order", "reserve_inventory", "charge_payment", "create_shipment", "send_confirmation"]
COMPENSATIONS = ["release_inventory", "refund_payment", "cancel_shipment"]

Script = Callable[[Any, int], Awaitable[Any]]  # (request, attempt) -> answer, or raise


class StandInShop:
    """The order's activities under their real names, with scripted answers; `calls` records (name, attempt)."""

    def __init__(self, shared, **scripts: Script) -> None:
        self.calls: list[tuple[str, int]] = []
        self.scripts = scripts
        self.shared = shared

    def attempts(self, name: str) -> list[int]:
        return [attempt for called, attempt in self.calls if called == name]

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    async def answer(self, name: str, request, default):
        attempt = activity.info().attempt
        self.calls.append((name, attempt))
        script = self.scripts.get(name)
        return await script(request, attempt) if script else default

    def activities(self) -> list:
        shared = self.shared

        @activity.defn(name="validate_order")
        async def validate_order(the_order: shared.Order) -> None:
            return await self.answer("validate_order", the_order, None)

        @activity.defn(name="reserve_inventory")
        async def reserve_inventory(request: shared.ReservationRequest) -> shared.Reservation:
            return await self.answer("reserve_inventory", request, shared.Reservation("reservation-check"))

        @activity.defn(name="charge_payment")
        async def charge_payment(request: shared.PaymentRequest) -> shared.Payment:
            return await self.answer("charge_payment", request, shared.Payment(1, 0))

        @activity.defn(name="create_shipment")
        async def create_shipment(request: shared.ShipmentRequest) -> shared.Shipment:
            return await self.answer("create_shipment", request, shared.Shipment("shipment-check", request.carrier))

        @activity.defn(name="send_confirmation")
        async def send_confirmation(request: shared.ConfirmationRequest) -> shared.Confirmation:
            return await self.answer("send_confirmation", request, shared.Confirmation("sent"))

        @activity.defn(name="release_inventory")
        async def release_inventory(request: shared.ReleaseRequest) -> shared.Undone:
            return await self.answer("release_inventory", request, undone_by_stand_in(shared))

        @activity.defn(name="refund_payment")
        async def refund_payment(request: shared.RefundRequest) -> shared.Undone:
            return await self.answer("refund_payment", request, undone_by_stand_in(shared))

        @activity.defn(name="cancel_shipment")
        async def cancel_shipment(request: shared.CancelShipmentRequest) -> shared.Undone:
            return await self.answer("cancel_shipment", request, undone_by_stand_in(shared))

        return [validate_order, reserve_inventory, charge_payment, create_shipment, send_confirmation,
                release_inventory, refund_payment, cancel_shipment]


def undone_by_stand_in(shared):
    info = activity.info()
    return shared.Undone(info.activity_type, "done by the check's stand-in", info.attempt)


def declined(message: str = "Account 'dave' has 10000 cents; cannot withdraw 25000 cents.", non_retryable=True):
    async def script(request, attempt: int):
        raise ApplicationError(message, type=bank_errors.INSUFFICIENT_FUNDS, non_retryable=non_retryable)
    return script


def order(shared, **changes):
    fields = {"order_id": unique_id("order"), "lines": [shared.OrderLine("widget", 2)], "payer": "alice",
              "amount_cents": 4_500}
    return shared.Order(**{**fields, **changes})


async def start_order(client: Client, workflow_module, the_order, queue: str) -> WorkflowHandle:
    return await client.start_workflow(workflow_module.OrderWorkflow.run, the_order, id=unique_id("order"),
                                       task_queue=queue)


async def outcome_of(handle: WorkflowHandle, part: str, seconds: float = 30):
    """The workflow's result, or its WorkflowFailureError: a saga that failed is an outcome too."""
    try:
        return await result_within(handle, seconds, part, "running the order")
    except WorkflowFailureError as failure:
        return failure


# --------------------------------------------------------------------------- Part A


@pytest.mark.part("A")
async def test_each_compensation_is_registered_before_its_step(target, client):
    shared = target.load(MODULE, "shared")
    workflow_module = target.load(MODULE, "workflow")
    steps = {"reserve_inventory": shared.Reservation("reservation-check"), "charge_payment": shared.Payment(1, 0)}
    running = {name: asyncio.Event() for name in [*steps, "create_shipment"]}
    go_on = {name: asyncio.Event() for name in running}

    def held(name: str):
        """A step that waits at the bank until the check has asked the workflow what it registered."""
        async def script(request, attempt: int):
            running[name].set()
            await go_on[name].wait()
            return steps.get(name) or shared.Shipment("shipment-check", request.carrier)
        return script

    shop = StandInShop(shared, **{name: held(name) for name in running})
    report_query = workflow_module.OrderWorkflow.report
    registered: dict[str, list[str]] = {}
    async with running_worker(client, [workflow_module.OrderWorkflow], shop.activities()) as queue:
        handle = await start_order(client, workflow_module, order(shared), queue)
        try:
            for name in running:
                try:
                    await asyncio.wait_for(running[name].wait(), 15)
                except asyncio.TimeoutError:
                    task_failure = await last_task_failure(handle)
                    raise AssertionError(
                        f"Part A: the order did not reach {name} within 15 s (it ran {shop.names()}); look at "
                        "OrderWorkflow.run around TODO Part A."
                        + (f" Its last workflow task failed: {task_failure}" if task_failure else "")
                    ) from None
                registered[name] = (await handle.query(report_query)).compensations
                go_on[name].set()
        finally:
            for event in go_on.values():
                event.set()
        result = await outcome_of(handle, "A")
    assert registered["create_shipment"], (
        "Part A: while the order's steps ran, no compensation was registered (the `report` query lists none): "
        "a step that fails would leave the reservation and the payment in place. Call saga.add(...) in "
        "OrderWorkflow.run for the reservation, the payment and the shipment."
    )
    expected = {"reserve_inventory": COMPENSATIONS[:1], "charge_payment": COMPENSATIONS[:2],
                "create_shipment": COMPENSATIONS}
    for name, compensations in expected.items():
        assert registered[name] == compensations, (
            f"Part A: while {name} was at the bank, the registered compensations were {registered[name]}; "
            f"expected {compensations}. Register a step's compensation *before* running the step: the step can "
            "take effect while its answer never reaches the workflow (a lost answer and a spent budget, or a "
            "cancellation), and a compensation registered after it would then never run."
        )
    assert not isinstance(result, WorkflowFailureError), f"Part A: the order failed: {failure_text(result)}"
    assert result.steps_done == STEPS and result.compensations == COMPENSATIONS and not result.undone, (
        f"Part A: an order that went through should report the steps {STEPS} and the compensations "
        f"{COMPENSATIONS}, none of them run; it reported {result}."
    )


@pytest.mark.part("A")
async def test_a_failed_step_has_the_compensations_of_the_steps_begun(target, client):
    shared = target.load(MODULE, "shared")
    workflow_module = target.load(MODULE, "workflow")
    report_query = workflow_module.OrderWorkflow.report
    shop = StandInShop(shared, charge_payment=declined())
    async with running_worker(client, [workflow_module.OrderWorkflow], shop.activities()) as queue:
        handle = await start_order(client, workflow_module, order(shared, payer="dave", amount_cents=25_000), queue)
        await outcome_of(handle, "A")
        report = await handle.query(report_query)
        assert report.compensations == COMPENSATIONS[:2], (
            "Part A: the card was declined after the inventory was reserved; the saga should hold the "
            f"compensations of the two steps begun, {COMPENSATIONS[:2]}, but it registered {report.compensations}."
        )

        async def out_of_stock(the_order, attempt: int):
            raise ApplicationError("Not enough 'Unicorn plush' (unicorn): the order asks for 1, 0 in stock.",
                                   type=bank_errors.OUT_OF_STOCK, non_retryable=True)

        shop.scripts = {"validate_order": out_of_stock}
        shop.calls.clear()
        handle = await start_order(client, workflow_module, order(shared, lines=[shared.OrderLine("unicorn", 1)]), queue)
        await outcome_of(handle, "A")
        report = await handle.query(report_query)
        assert (report.steps_done, report.compensations, shop.names()) == ([], [], ["validate_order"]), (
            "Part A: an item out of stock is refused by the validation, before anything is reserved: nothing to "
            f"register, nothing to undo. The order reported steps {report.steps_done}, compensations "
            f"{report.compensations}, and ran {shop.names()}. Register compensations after the validation."
        )


# --------------------------------------------------------------------------- Part B


# What SagaCheck works with, set by run_saga: the target's saga module and the check's stand-in activities.
saga_under_check: dict[str, Any] = {}


@workflow.defn(name="SagaCheck", sandboxed=False)
class SagaCheck:
    """A workflow of the check's own: it registers the three compensations in the order of their steps, then
    runs the learner's Saga.compensate(). So Part B is judged without the learner's order workflow."""

    @workflow.run
    async def run(self) -> dict:
        saga_module, shared, activities = (saga_under_check[name] for name in ("saga", "shared", "activities"))
        saga = saga_module.Saga()
        saga.add(activities["release_inventory"], shared.ReleaseRequest("order-check", "key-release"))
        saga.add(activities["refund_payment"], shared.RefundRequest("alice", 4_500, "key-charge", "key-refund", "refund"))
        saga.add(activities["cancel_shipment"], shared.CancelShipmentRequest("order-check", "key-cancel"))
        await saga.compensate()
        return {"undone": [u.compensation for u in saga.undone], "not_undone": list(saga.not_undone)}


async def run_saga(target, env, shop: StandInShop) -> dict:
    activities = shop.activities()
    saga_under_check.update(saga=target.load(MODULE, "saga"), shared=target.load(MODULE, "shared"),
                            activities={fn.__name__: fn for fn in activities})
    async with running_worker(env.client, [SagaCheck], activities) as queue:
        handle = await env.client.start_workflow(SagaCheck.run, id=unique_id("saga"), task_queue=queue)
        try:
            return await result_within(handle, 30, "B", "running Saga.compensate()")
        except WorkflowFailureError as failure:
            raise AssertionError(
                f"Part B: Saga.compensate() raised ({root_cause(failure)}). A compensation that fails for good "
                "should be noted in saga.not_undone, and the others should still run: catch its ActivityError."
            ) from failure


@pytest.mark.part("B")
async def test_compensations_run_in_reverse_order(target, time_skipping_env):
    shop = StandInShop(target.load(MODULE, "shared"))
    outcome = await run_saga(target, time_skipping_env, shop)
    reverse = list(reversed(COMPENSATIONS))
    assert shop.names() == reverse, (
        f"Part B: the saga registered {COMPENSATIONS} (in the order of their steps); compensate() ran "
        f"{shop.names()}. Run them the other way round, the last step's first: {reverse}."
    )
    assert outcome == {"undone": reverse, "not_undone": []}, (
        f"Part B: compensate() should record what each compensation returned in saga.undone, in the order "
        f"they ran; it recorded {outcome}."
    )


@pytest.mark.part("B")
async def test_a_compensation_is_retried_and_one_that_fails_for_good_stops_no_other(target, time_skipping_env):
    shared = target.load(MODULE, "shared")

    async def unknown_shipment(request, attempt: int):
        raise ApplicationError("There is no shipment 'shipment-gone'.", type="UnknownShipment", non_retryable=True)

    async def bank_busy_four_times(request, attempt: int):
        if attempt <= 4:
            raise RuntimeError("503 Service Unavailable from the bank")
        return shared.Undone("refund_payment", "refunded", attempt)

    shop = StandInShop(shared, cancel_shipment=unknown_shipment, refund_payment=bank_busy_four_times)
    outcome = await run_saga(target, time_skipping_env, shop)
    refunds = shop.attempts("refund_payment")
    assert refunds == [1, 2, 3, 4, 5], (
        "Part B: the refund met a busy bank (503) four times; compensate() "
        f"{f'ran it on attempts {refunds}' if refunds else 'never ran it'}, and a fifth attempt would have succeeded. "
        "A compensation must be retried until it is done: give it a RetryPolicy without an attempt limit."
    )
    assert shop.attempts("release_inventory") == [1] and outcome["not_undone"] == ["cancel_shipment"], (
        "Part B: cancel_shipment failed for good (a non-retryable error); the saga should note it in "
        f"saga.not_undone and still run the others. It ran {shop.names()} and reported {outcome}."
    )
    assert outcome["undone"] == ["refund_payment", "release_inventory"], f"Part B: undone: {outcome['undone']}"


@pytest.mark.part("B")
async def test_a_cancellation_that_arrives_while_undoing_does_not_stop_the_undo(target, client):
    shared = target.load(MODULE, "shared")
    cancelling, let_it_finish = asyncio.Event(), asyncio.Event()

    async def slow_cancellation(request, attempt: int):
        cancelling.set()
        await let_it_finish.wait()
        return shared.Undone("cancel_shipment", "cancelled 1 shipment(s)", attempt)

    shop = StandInShop(shared, cancel_shipment=slow_cancellation)
    activities = shop.activities()
    saga_under_check.update(saga=target.load(MODULE, "saga"), shared=shared,
                            activities={fn.__name__: fn for fn in activities})
    async with running_worker(client, [SagaCheck], activities) as queue:
        handle = await client.start_workflow(SagaCheck.run, id=unique_id("saga"), task_queue=queue)
        started = asyncio.ensure_future(cancelling.wait())
        finished = asyncio.ensure_future(handle.result())
        await asyncio.wait([started, finished], timeout=15, return_when=asyncio.FIRST_COMPLETED)
        if not started.done():
            started.cancel()
            raise AssertionError(f"Part B: compensate() did not run cancel_shipment, the last registered "
                                 f"compensation (it ran {shop.names()}).")
        finished.cancel()
        await handle.cancel()  # the customer cancels the order while it is being undone

        async def cancellation_handled() -> bool:
            events = await history_events(handle)
            asked = [e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED]
            return bool(asked) and any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
                                       and e.event_id > asked[0] for e in events)

        await eventually(cancellation_handled, 15, "Part B: the workflow took notice of the cancellation")
        let_it_finish.set()
        try:
            outcome = await result_within(handle, 30, "B", "undoing a cancelled order")
        except WorkflowFailureError as failure:
            outcome = {"undone": [], "not_undone": [], "failure": root_cause(failure)}
    assert outcome.get("undone") == list(reversed(COMPENSATIONS)), (
        "Part B: the order was cancelled while cancel_shipment ran; every compensation should still be done, "
        f"that one included, but compensate() reported {outcome}. The cancellation reaches the activity the "
        "workflow awaits: await each compensation through asyncio.shield(...), and when the shield raises "
        "asyncio.CancelledError, await the compensation again."
    )


# --------------------------------------------------------------------------- Part C


@pytest.mark.part("C")
async def test_a_declined_card_fails_at_once_and_a_busy_bank_is_retried(target, time_skipping_env):
    shared = target.load(MODULE, "shared")
    workflow_module = target.load(MODULE, "workflow")

    async def busy_then_declined(request, attempt: int):
        if attempt == 1:
            raise RuntimeError("503 Service Unavailable from the bank")
        if attempt < 6:  # declined, without non_retryable=True: the retry policy must know the type
            await declined(non_retryable=False)(request, attempt)
        return shared.Payment(1, 0)  # so that a policy retrying everything still lets the check end

    shop = StandInShop(shared, charge_payment=busy_then_declined)
    client = time_skipping_env.client
    async with running_worker(client, [workflow_module.OrderWorkflow], shop.activities()) as queue:
        handle = await start_order(client, workflow_module, order(shared, payer="dave"), queue)
        await outcome_of(handle, "C")
    charges = shop.attempts("charge_payment")
    assert len(charges) > 1, (
        "Part C: one 503 from the bank ended the order at charge_payment. Give the steps a RetryPolicy that "
        "retries (in OrderWorkflow._step): a busy bank is worth another attempt."
    )
    assert charges == [1, 2], (
        f"Part C: after a 503, the bank declined the card (InsufficientFunds); charge_payment was attempted "
        f"{charges}. List the final error types (NON_RETRYABLE_ERROR_TYPES) in the policy's "
        "non_retryable_error_types: no retry puts money into an account."
    )


@pytest.mark.part("C")
async def test_the_shipment_is_retried_until_its_budget_runs_out(target, time_skipping_env):
    shared = target.load(MODULE, "shared")
    workflow_module = target.load(MODULE, "workflow")

    async def carrier_down(request, attempt: int):
        if attempt < 30:  # then it gives in, so that a step without a budget lets the check end
            raise ApplicationError(f"Carrier {request.carrier!r} is not taking shipments right now.",
                                   type=shared.CARRIER_UNAVAILABLE)
        return shared.Shipment("shipment-late", request.carrier)

    shop = StandInShop(shared, create_shipment=carrier_down)
    client = time_skipping_env.client
    async with running_worker(client, [workflow_module.OrderWorkflow], shop.activities()) as queue:
        handle = await start_order(client, workflow_module, order(shared, carrier="tortoise", ship_within_seconds=60),
                                   queue)
        outcome = await outcome_of(handle, "C")
    shipments = shop.attempts("create_shipment")
    assert len(shipments) > 1, (
        "Part C: the carrier was not taking shipments (CarrierUnavailable, a retryable error) and "
        f"create_shipment was attempted {len(shipments)} time(s). Retry it: the carrier may be back soon."
    )
    scheduled = [e.activity_task_scheduled_event_attributes for e in await history_events(handle)
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                 and e.activity_task_scheduled_event_attributes.activity_type.name == "create_shipment"]
    budget = scheduled[0].schedule_to_close_timeout.ToTimedelta()
    ended_by_time = [e for e in await history_events(handle)
                     if (e.activity_task_failed_event_attributes.retry_state
                         or e.activity_task_timed_out_event_attributes.retry_state) == RetryState.RETRY_STATE_TIMEOUT]
    assert budget == timedelta(seconds=60) and ended_by_time and isinstance(outcome, WorkflowFailureError), (
        f"Part C: with the carrier down, create_shipment was attempted {len(shipments)} times and the step's "
        f"schedule_to_close_timeout was {budget or 'not set'}. Give the shipment step the order's budget "
        "(ship_within_seconds, 60 s here) as its schedule_to_close_timeout: then it gives up, and the saga "
        "undoes the order."
    )


# --------------------------------------------------------------------------- Part D


def activity_env(name: str) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=unique_id("order"), activity_type=name, attempt=1)
    return env


async def raised_by(env: ActivityEnvironment, fn, *args) -> BaseException | None:
    try:
        await env.run(fn, *args)
    except NotImplementedError as err:
        raise AssertionError(f"Part D: {fn.__name__} is not written yet (activities.py, TODO Part D).") from err
    except Exception as err:  # the check looks at what was raised
        return err
    return None


def retryable(error: BaseException | None) -> bool:
    return error is not None and not (isinstance(error, ApplicationError) and error.non_retryable)


@pytest.fixture
async def learner_activities(target, bank):
    """The learner's activity class, holding a client of the session's bank."""
    activities = target.load(MODULE, "activities")
    async with BankClient(bank.url) as client:
        yield activities.OrderActivities(client)


def post(bank, path: str, body: dict | None = None, key: str | None = None) -> dict:
    response = bank.http.post(path, json=body, headers={"Idempotency-Key": key} if key else {})
    response.raise_for_status()
    return response.json()


def stock(bank, sku: str) -> tuple[int, int]:
    item = next(i for i in bank.http.get("/inventory").json()["items"] if i["sku"] == sku)
    return item["in_stock"], item["reserved"]


@pytest.mark.part("D")
async def test_a_refund_whose_answer_is_lost_is_paid_once_and_only_for_a_charge(target, bank, learner_activities):
    shared = target.load(MODULE, "shared")
    env = activity_env("refund_payment")
    order_id = unique_id("order")
    declined_card = shared.RefundRequest("dave", 25_000, f"{order_id}/charge", f"{order_id}/refund", "refund")
    nothing = await raised_by(env, learner_activities.refund_payment, declined_card)
    assert nothing is None and bank.ledger("dave") == [], (
        "Part D: refund_payment for a charge that never happened (a declined card) should find no charge with "
        f"the request's charge_key in the ledger and do nothing; it {f'raised {nothing!r}' if nothing else 'paid'}."
    )

    charge_key = f"{order_id}/charge-alice"
    post(bank, "/accounts/alice/withdraw", {"amount_cents": 2_500, "reference": "check charge"}, key=charge_key)
    request = shared.RefundRequest("alice", 2_500, charge_key, f"{order_id}/refund-alice", "refund of a check order")
    bank.faults(lost_response_rate=1.0)  # the bank pays the refund, then the answer is lost
    first = await raised_by(env, learner_activities.refund_payment, request)
    bank.faults(lost_response_rate=0.0)
    assert retryable(first), (
        f"Part D: the refund's answer was lost (504); refund_payment should raise a retryable error, so that "
        f"Temporal tries again, but it {'returned' if first is None else f'raised {first!r}'}."
    )
    undone = await env.run(learner_activities.refund_payment, request)  # Temporal's retry of the compensation
    deposits = [e for e in bank.ledger("alice") if e["kind"] == "deposit"]
    assert len(deposits) == 1 and bank.balance("alice") == 100_000, (
        f"Part D: a retried refund paid {len(deposits)} times (alice's ledger). Send the request's key (made by "
        "the workflow, the same on every attempt) with the deposit: the bank then answers the retry with the "
        "first refund."
    )
    assert isinstance(undone, shared.Undone), f"Part D: refund_payment should return an Undone, not {undone!r}."


@pytest.mark.part("D")
async def test_the_release_that_loses_its_first_answer_is_applied_once(target, bank, learner_activities):
    shared = target.load(MODULE, "shared")
    env = activity_env("release_inventory")
    order_id = unique_id("order")
    request = shared.ReleaseRequest(order_id, f"{order_id}/release")
    nothing = await raised_by(env, learner_activities.release_inventory, request)
    assert nothing is None, (
        f"Part D: release_inventory raised {nothing!r} for an order that has no reservation. It is registered "
        "before the reservation step, so it may run when nothing was reserved: that is nothing to undo."
    )

    post(bank, "/inventory/reservations", {"order_id": order_id, "items": [{"sku": "lamp", "quantity": 2}]},
         key=f"{order_id}/reserve")
    first = await raised_by(env, learner_activities.release_inventory, request)  # the lamp's answer is lost
    assert retryable(first), (
        "Part D: the bank released the lamps but lost the answer (504); release_inventory should raise a "
        f"retryable error so that Temporal retries, but it {'returned' if first is None else f'raised {first!r}'}. "
        "Never take a change for done without its answer."
    )
    undone = await env.run(learner_activities.release_inventory, request)
    await env.run(learner_activities.release_inventory, request)  # once more: still nothing changes
    assert stock(bank, "lamp") == (5, 0), (
        f"Part D: after the releases, the lamps are {stock(bank, 'lamp')} (in stock, reserved); expected (5, 0)."
    )
    assert isinstance(undone, shared.Undone), f"Part D: release_inventory should return an Undone, not {undone!r}."


@pytest.mark.part("D")
async def test_cancel_shipment_finds_the_orders_shipments_and_is_fine_with_none(target, bank, learner_activities):
    shared = target.load(MODULE, "shared")
    env = activity_env("cancel_shipment")
    order_id, other_order = unique_id("order"), unique_id("order")
    request = shared.CancelShipmentRequest(order_id, f"{order_id}/cancel-shipment")

    error = await raised_by(env, learner_activities.cancel_shipment, request)
    assert error is None, (
        f"Part D: cancel_shipment raised {error!r} for an order that has no shipment. It is registered before "
        "the shipment step, so it may run when no shipment was made: that is nothing to undo, not an error."
    )
    for an_order in (order_id, other_order):
        post(bank, "/shipments", {"order_id": an_order, "carrier": "parcelpost", "address": "1 Main St"},
             key=f"{an_order}/ship")
    bank.faults(lost_response_rate=1.0)  # the cancellation is applied, its answer lost
    lost = await raised_by(env, learner_activities.cancel_shipment, request)
    bank.faults(lost_response_rate=0.0)
    assert retryable(lost), (
        f"Part D: a cancellation whose answer was lost should raise a retryable error, so that Temporal retries; "
        f"cancel_shipment {'returned' if lost is None else f'raised {lost!r}'}."
    )
    await env.run(learner_activities.cancel_shipment, request)
    shipments = {s["order_id"]: s["status"] for s in bank.http.get("/shipments").json()["shipments"]}
    assert (shipments.get(order_id), shipments.get(other_order)) == ("cancelled", "created"), (
        "Part D: cancel_shipment should cancel the shipments of its order and no other; the bank shows "
        f"{shipments}."
    )
