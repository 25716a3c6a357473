"""Check suite of module 10, workflow handles: `python -m workshop check 10`.

Every Part is client code (client.py); the checks drive standing orders of their own through the target's
workflow, with stand-in bank activities, and look at which run each call of the learner's code reached:
through describe(), the history, results and the errors the server gives.

No `from __future__ import annotations` in check suites: the stand-in activities' type hints name classes
of the target module and must be evaluated where they are defined.
"""

import asyncio

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from workshop.testing import count_events, running_worker, unique_id

MODULE = "10"


def stand_in_bank(shared) -> list:
    """Withdraw and deposit under their real names: the checks are about handles, not about the bank."""

    @activity.defn(name="withdraw")
    async def withdraw(movement: shared.MoneyMovement) -> shared.Receipt:
        return shared.Receipt(1, 0)

    @activity.defn(name="deposit")
    async def deposit(movement: shared.MoneyMovement) -> shared.Receipt:
        return shared.Receipt(2, 0)

    return [withdraw, deposit]


class Orders:
    """The check's own standing orders under one workflow ID, and names for their runs in messages."""

    def __init__(self, client: Client, target, queue: str) -> None:
        self.client = client
        self.shared = target.load(MODULE, "shared")
        self.workflow = target.load(MODULE, "workflow").StandingOrderWorkflow
        self.queue = queue
        self.payee = unique_id("payee")  # a workflow ID of the check's own
        self.workflow_id = self.shared.order_workflow_id("alice", self.payee)
        self.names: dict = {None: "None"}

    def order(self, amount_cents: int = 2_500):
        return self.shared.StandingOrder("alice", self.payee, amount_cents)

    def name(self, run_id) -> str:
        return self.names.get(run_id, repr(run_id))

    def named(self, run_id: str | None, name: str) -> str:
        assert run_id, f"{name} has no run ID"  # the server always gives one; this keeps the type checker sure
        self.names.setdefault(run_id, name)
        return run_id

    async def start(self, label: str) -> WorkflowHandle:
        """A new order under the check's workflow ID, started by the check itself."""
        handle = await self.client.start_workflow(self.workflow.run, self.order(), id=self.workflow_id,
                                                  task_queue=self.queue)
        self.named(handle.result_run_id, f"{label}'s run 1")
        return handle

    async def pay(self, label: str):
        """pay_now through a handle of the check's own (by ID: the latest run); the run then continues as new."""
        payment = await self.client.get_workflow_handle_for(self.workflow.run, self.workflow_id).execute_update(
            self.workflow.pay_now)
        self.named(payment.run_id, f"{label}'s run {payment.number}")  # run n makes payment n
        return payment

    async def latest(self):
        """The description of the run that holds the workflow ID now."""
        return await self.client.get_workflow_handle(self.workflow_id).describe()

    async def current_run(self, label: str, number: int) -> str:
        return self.named((await self.latest()).run_id, f"{label}'s run {number}")

    async def closed(self, handle: WorkflowHandle, part: str, what: str, seconds: float = 10) -> BaseException | None:
        """Wait for the order of `handle` to close; returns its failure, if any."""
        try:
            await asyncio.wait_for(handle.result(), seconds)
        except asyncio.TimeoutError:
            raise AssertionError(f"Part {part}: {what} did not close within {seconds:.0f} s.") from None
        except WorkflowFailureError as err:
            return err.cause
        return None

    async def cancel_requests(self, run_id: str) -> int:
        handle = self.client.get_workflow_handle(self.workflow_id, run_id=run_id)
        return await count_events(handle, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED)

    async def terminate(self) -> None:
        try:
            await self.client.get_workflow_handle(self.workflow_id).terminate("check finished")
        except RPCError:
            pass  # closed already


def worker(client: Client, target):
    shared = target.load(MODULE, "shared")
    return running_worker(client, [target.load(MODULE, "workflow").StandingOrderWorkflow], stand_in_bank(shared))


def ref_of(client_code, handle: WorkflowHandle, orders: Orders):
    """The learner's order_ref; an error in it is Part A's to report."""
    try:
        return client_code.order_ref(handle)
    except Exception as err:
        raise AssertionError(
            f"Part A: order_ref raised {err!r} for a handle with run_id {orders.name(handle.run_id)}, result_run_id "
            f"{orders.name(handle.result_run_id)} and first_execution_run_id {orders.name(handle.first_execution_run_id)}. "
            "Which of the three names the run that began the order?"
        ) from None


@pytest.mark.part("A")
async def test_the_ref_names_the_orders_first_run_whichever_run_the_start_reached(target, client):
    client_code = target.load(MODULE, "client")
    async with worker(client, target) as queue:
        orders = Orders(client, target, queue)
        opened = await client_code.open_order(client, orders.order(), queue)
        try:
            first = orders.named((await orders.latest()).raw_info.first_run_id, "order A's run 1")
            ref = ref_of(client_code, opened, orders)
            assert ref.workflow_id == orders.workflow_id and ref.first_run_id == first, (
                f"Part A: for a new order, order_ref should name its workflow ID and its first run ({orders.name(first)}); "
                f"it named {ref.workflow_id} and {orders.name(ref.first_run_id)}."
            )
            await orders.pay("order A")  # run 1 pays and continues as new
            await orders.current_run("order A", 2)
            again = await client_code.open_order(client, orders.order(3_000), queue)
            ref_again = ref_of(client_code, again, orders)
            assert ref_again.first_run_id == first, (
                f"Part A: the second open_order reached order A in {orders.name(again.result_run_id)} (it had continued "
                f"as new); order_ref should still name the run that began the order, {orders.name(first)}, but it named "
                f"{orders.name(ref_again.first_run_id)}. Which of the handle's three run IDs is the same in every run "
                "of a chain?"
            )
        finally:
            await orders.terminate()

        later = await client_code.open_order(client, orders.order(), queue)  # a new order under the same ID
        try:
            first_later = orders.named((await orders.latest()).raw_info.first_run_id, "order B's run 1")
            ref_later = ref_of(client_code, later, orders)
            assert ref_later.first_run_id == first_later, (
                f"Part A: a later order under the same ID began with {orders.name(first_later)}; order_ref named "
                f"{orders.name(ref_later.first_run_id)}."
            )
        finally:
            await orders.terminate()


@pytest.mark.part("B")
async def test_next_run_tells_each_runs_own_outcome(target, client):
    client_code = target.load(MODULE, "client")
    async with worker(client, target) as queue:
        orders = Orders(client, target, queue)
        handle = await orders.start("the order")
        runs = [(await orders.pay("the order")).run_id for _ in range(3)]
        failure = await orders.closed(handle, "B", "the order, after its three payments,")
        assert failure is None, f"Part B: the order should complete after three payments; it ended with {failure!r}."
        for run_id, following in zip(runs, [*runs[1:], None], strict=True):
            try:
                answer = await asyncio.wait_for(client_code.next_run(client, orders.workflow_id, run_id), 10)
            except asyncio.TimeoutError:
                raise AssertionError(f"Part B: next_run({orders.name(run_id)}) did not return within 10 s.") from None
            if following is not None and answer is None:
                raise AssertionError(
                    f"Part B: {orders.name(run_id)} continued as new as {orders.name(following)}, but next_run returned "
                    "None: result() follows the runs to the order's end unless told otherwise. Ask for this run's own "
                    "outcome with follow_runs=False."
                )
            assert answer == following, (
                f"Part B: next_run({orders.name(run_id)}) should return {orders.name(following)}; "
                f"it returned {orders.name(answer)}."
            )


@pytest.mark.part("C")
async def test_the_runs_of_an_order_are_its_own_chain(target, client):
    client_code = target.load(MODULE, "client")
    shared = target.load(MODULE, "shared")
    async with worker(client, target) as queue:
        orders = Orders(client, target, queue)
        order_a = await orders.start("order A")
        await orders.pay("order A")
        a2 = await orders.current_run("order A", 2)
        await client.get_workflow_handle(orders.workflow_id).cancel()  # order A ends cancelled in its run 2
        await orders.closed(order_a, "C", "order A, cancelled,")
        order_b = await orders.start("order B")  # a later order under the same ID
        try:
            await orders.pay("order B")
            b2 = await orders.current_run("order B", 2)
            for label, handle, expected in (
                ("A", order_a, [(order_a.result_run_id, "CONTINUED_AS_NEW"), (a2, "CANCELED")]),
                ("B", order_b, [(order_b.result_run_id, "CONTINUED_AS_NEW"), (b2, "RUNNING")]),
            ):
                ref = shared.OrderRef(orders.workflow_id, handle.result_run_id)
                try:
                    runs = await asyncio.wait_for(client_code.runs_of_order(client, ref), 10)
                except asyncio.TimeoutError:
                    raise AssertionError(
                        f"Part C: runs_of_order for order {label} did not return within 10 s. Order B is still "
                        "running: describe each run rather than wait for its result."
                    ) from None
                listed = [(run.run_id, run.status) for run in runs]
                assert listed == expected, (
                    f"Part C: runs_of_order for order {label} should list "
                    + ", ".join(f"{orders.name(run)} {status}" for run, status in expected) + "; it listed "
                    + (", ".join(f"{orders.name(run)} {status}" for run, status in listed) or "nothing")
                    + ". Start at the ref's first run, and follow the chain with a handle pinned to each run."
                )
        finally:
            await orders.terminate()


@pytest.mark.part("D")
async def test_an_old_ref_never_reaches_a_later_order(target, client):
    client_code = target.load(MODULE, "client")
    shared = target.load(MODULE, "shared")
    async with worker(client, target) as queue:
        orders = Orders(client, target, queue)
        order_a = await orders.start("order A")
        ref_a = shared.OrderRef(orders.workflow_id, order_a.result_run_id)
        await orders.pay("order A")
        await orders.current_run("order A", 2)
        await client_code.cancel_order(client, ref_a)
        cause = await orders.closed(order_a, "D", "order A, after cancel_order,")
        assert type(cause).__name__ == "CancelledError", (
            f"Part D: cancel_order should cancel order A in its current run, order A's run 2; order A ended with "
            f"{cause!r}."
        )

        order_b = await orders.start("order B")
        try:
            await orders.pay("order B")
            b2 = await orders.current_run("order B", 2)
            try:
                payment = await asyncio.wait_for(client_code.pay_now(client, ref_a), 10)
            except RPCError as err:
                assert err.status == RPCStatusCode.NOT_FOUND, (
                    f"Part D: pay_now for the closed order A should be refused with NOT_FOUND; it failed with {err}."
                )
            except asyncio.TimeoutError:
                raise AssertionError("Part D: pay_now for the closed order A did not return within 10 s.") from None
            else:
                raise AssertionError(
                    f"Part D: pay_now with order A's ref made payment {payment.number} in {orders.name(payment.run_id)}: "
                    "an update through a handle that names only the workflow ID reaches whichever order holds the ID "
                    "now. Give order_handle the ref's first run ID."
                )
            try:
                await client_code.cancel_order(client, ref_a)
            except RPCError as err:
                assert err.status == RPCStatusCode.NOT_FOUND, (
                    f"Part D: cancel_order for the closed order A should be refused with NOT_FOUND; it failed with {err}."
                )
            assert await orders.cancel_requests(b2) == 0, (
                "Part D: cancel_order with order A's ref asked order B to cancel: a handle that names only the "
                "workflow ID reaches whichever order holds the ID now. Give order_handle the ref's first run ID."
            )
            try:
                payment = await asyncio.wait_for(
                    client_code.pay_now(client, shared.OrderRef(orders.workflow_id, order_b.result_run_id)), 10)
            except (RPCError, asyncio.TimeoutError) as err:
                raise AssertionError(
                    f"Part D: pay_now with order B's ref should reach order B's current run, {orders.name(b2)}; it "
                    f"failed with {err!r}. A handle with the first run ID reaches the latest run of that chain."
                ) from None
            assert payment.run_id == b2, (
                f"Part D: pay_now with order B's ref should reach order B's current run, {orders.name(b2)}; it reached "
                f"{orders.name(payment.run_id)}."
            )
        finally:
            await orders.terminate()
