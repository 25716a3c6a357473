"""Check suite of module 01, durable execution: `python -m workshop check 01`.

No `from __future__ import annotations` in check suites: the stand-in activities' type hints name
classes of the target module and must be evaluated where they are defined.
"""

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import WorkflowAlreadyStartedError

from workshop.testing import count_events, result_within, root_cause, running_worker, unique_id

MODULE = "01"


@pytest.mark.part("A")
async def test_pays_everyone_once_in_order_with_timers_between(target, time_skipping_env):
    shared = target.load(MODULE, "shared")
    workflow_module = target.load(MODULE, "workflow")
    paid: list[str] = []

    # Stands in for the bank, so this check is about the workflow alone.
    @activity.defn(name="pay_salary")
    async def record_payment(deposit: shared.SalaryDeposit) -> shared.PaymentConfirmation:
        paid.append(deposit.payment.employee)
        return shared.PaymentConfirmation(deposit.payment.employee, deposit.payment.amount_cents, len(paid), 0)

    payroll = shared.monthly_payroll("november", pause_seconds=60)
    client = time_skipping_env.client
    async with running_worker(client, [workflow_module.PayrollWorkflow], [record_payment]) as queue:
        handle = await client.start_workflow(
            workflow_module.PayrollWorkflow.run, payroll, id=unique_id("payroll"), task_queue=queue
        )
        try:
            result = await result_within(handle, 30, "A", "paying the employees")
        except WorkflowFailureError as err:
            raise AssertionError(f"Part A: the payroll workflow failed: {root_cause(err)}") from err

    expected = [p.employee for p in payroll.payments]
    assert paid == expected, f"Part A: expected one payment each, in order, to {expected}; the activity paid {paid}."
    assert [c.employee for c in result.confirmations] == expected, (
        "Part A: the result should hold one confirmation per payment, in order."
    )
    timers = await count_events(handle, EventType.EVENT_TYPE_TIMER_STARTED)
    assert timers == len(expected) - 1, (
        f"Part A: expected {len(expected) - 1} durable timers (workflow.sleep) between "
        f"{len(expected)} payments; the history has {timers}."
    )


@pytest.mark.part("B")
async def test_a_month_is_paid_once_attached_while_running_refused_after(target, client):
    shared = target.load(MODULE, "shared")
    runner = target.load(MODULE, "run_workflow")
    payroll_id = unique_id("payroll")
    # No worker polls this queue, so the first execution stays Running while we start it again.
    queue = unique_id("no-worker")
    payroll = shared.monthly_payroll("november")
    first = await runner.start_payroll(client, payroll, payroll_id, queue)
    try:
        assert first.id == payroll_id, f"Part B: start the workflow with the ID it is given, not {first.id!r}."
        try:
            second = await runner.start_payroll(client, payroll, payroll_id, queue)
        except WorkflowAlreadyStartedError:
            raise AssertionError(
                "Part B: starting the payroll while it runs raised WorkflowAlreadyStartedError; attach to the "
                "running execution instead (the ID conflict policy decides what happens while it runs)."
            ) from None
        assert second.result_run_id == first.result_run_id, (
            "Part B: the second start began a new run instead of attaching to the running one."
        )
    finally:
        await client.get_workflow_handle(payroll_id).terminate("check: the payroll stopped halfway")
    # Closed now (as if it had paid some employees and stopped): a new payroll under the month's ID would
    # pay them again, because its bank keys belong to a new execution.
    try:
        third = await runner.start_payroll(client, payroll, payroll_id, queue)
    except WorkflowAlreadyStartedError:
        return
    await client.get_workflow_handle(payroll_id, run_id=third.result_run_id).terminate("check finished")
    raise AssertionError(
        "Part B: after the month's payroll closed, starting it again began a second payroll for the same "
        "month. Refuse any reuse of the ID once an execution has closed (the ID reuse policy)."
    )
