"""What module 10's README says about handles and run IDs, checked against the dev server.

The two tables (which run each call reaches, and which run IDs each way of making a handle sets), the
failure moment (an old signal-with-start handle and a later order under the same workflow ID), a cancel
of a closed run, and the idempotency keys of an order's payments.
"""

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from solutions.module10_workflow_handles.shared import MoneyMovement, Receipt, StandingOrder
from solutions.module10_workflow_handles.workflow import StandingOrderWorkflow
from workshop.testing import count_events, running_worker, unique_id

pytestmark = pytest.mark.asyncio

keys: list[str] = []


@activity.defn(name="withdraw")
async def withdraw(movement: MoneyMovement) -> Receipt:
    keys.append(movement.idempotency_key)
    return Receipt(1, 0)


@activity.defn(name="deposit")
async def deposit(movement: MoneyMovement) -> Receipt:
    keys.append(movement.idempotency_key)
    return Receipt(2, 0)


def run_ids(handle: WorkflowHandle) -> tuple:
    return handle.run_id, handle.result_run_id, handle.first_execution_run_id


async def pay(client: Client, workflow_id: str) -> str:
    """pay_now through a handle by ID; returns the run that paid (it then continues as new)."""
    payment = await client.get_workflow_handle_for(StandingOrderWorkflow.run, workflow_id).execute_update(
        StandingOrderWorkflow.pay_now)
    return payment.run_id


async def test_the_handles_carry_the_run_ids_the_readme_says(client):
    async with running_worker(client, [StandingOrderWorkflow], [withdraw, deposit]) as queue:
        order = StandingOrder("alice", unique_id("payee"), 2_500)
        workflow_id = unique_id("order")
        plain = await client.start_workflow(StandingOrderWorkflow.run, order, id=workflow_id, task_queue=queue)
        first = plain.result_run_id
        assert run_ids(plain) == (None, first, first), "start_workflow: no run_id; the started run twice"

        keys.clear()
        assert await pay(client, workflow_id) == first
        current = (await client.get_workflow_handle(workflow_id).describe()).run_id
        signalled = await client.start_workflow(StandingOrderWorkflow.run, order, id=workflow_id, task_queue=queue,
                                                start_signal="change_amount", start_signal_args=[3_000])
        assert run_ids(signalled) == (None, current, first), "signal-with-start reaching run 2 of a chain"
        joined = await client.start_workflow(StandingOrderWorkflow.run, order, id=workflow_id, task_queue=queue,
                                             id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
        assert run_ids(joined) == (None, current, first), "a USE_EXISTING start that finds run 2 open"
        assert await pay(client, workflow_id) == current
        assert len(keys) == 4 and all(key.startswith(f"{workflow_id}/{first}/payment-") for key in keys), (
            f"every payment's key holds the order's first run ID: {keys}"
        )

        assert run_ids(client.get_workflow_handle(workflow_id)) == (None, None, None)
        assert run_ids(client.get_workflow_handle(workflow_id, run_id=first)) == (first, first, None)
        assert run_ids(client.get_workflow_handle(workflow_id, first_execution_run_id=first)) == (None, None, first)

        # A cancel of a closed run is accepted, and reaches nothing.
        latest = (await client.get_workflow_handle(workflow_id).describe()).run_id
        await client.get_workflow_handle(workflow_id, run_id=current).cancel()
        requests = await count_events(client.get_workflow_handle(workflow_id, run_id=latest),
                                      EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED)
        assert requests == 0, "a cancel pinned to a closed run does not reach the run after it"
        await client.get_workflow_handle(workflow_id).terminate("test finished")


async def test_an_old_signal_with_start_handle_meets_a_later_order(client):
    async with running_worker(client, [StandingOrderWorkflow], [withdraw, deposit]) as queue:
        order = StandingOrder("carol", unique_id("payee"), 2_500)
        workflow_id = unique_id("order")
        old = await client.start_workflow(StandingOrderWorkflow.run, order, id=workflow_id, task_queue=queue,
                                          start_signal="change_amount", start_signal_args=[2_500])
        assert old.run_id is None and old.first_execution_run_id == old.result_run_id
        await old.cancel()
        with pytest.raises(WorkflowFailureError):
            await old.result()

        new = await client.start_workflow(StandingOrderWorkflow.run, order, id=workflow_id, task_queue=queue)
        assert new.result_run_id != old.result_run_id
        description = await old.describe()
        assert description.run_id == new.result_run_id, "describe reaches the later order"
        assert description.raw_info.first_run_id == new.result_run_id

        await old.signal(StandingOrderWorkflow.change_amount, 100)
        assert (await new.query(StandingOrderWorkflow.progress)).amount_cents == 100, "the signal reaches it too"

        for call in (old.cancel, old.terminate, lambda: old.execute_update(StandingOrderWorkflow.pay_now)):
            with pytest.raises(RPCError) as refused:
                await call()
            assert refused.value.status == RPCStatusCode.NOT_FOUND
            assert refused.value.message == "workflow execution not found"
        assert await count_events(new, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED) == 0

        await client.get_workflow_handle(workflow_id).cancel()  # the ID alone: the later order
        with pytest.raises(WorkflowFailureError):
            await new.result()
