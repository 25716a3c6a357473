"""Check suite of module 04, bug handling with Jerry: `python -m workshop check 04`.

No `from __future__ import annotations` in check suites: the stand-in activities' type hints name
classes of the target module and must be evaluated where they are defined.
"""

import asyncio
import dataclasses
import re
import time

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from workshop.bank import BankClient
from workshop.money import format_cents
from workshop.testing import count_events, history_events, result_within, running_worker, unique_id

MODULE = "04"
HISTORY = "histories/transfer_before_change.json"


def stand_in_bank(shared, calls: list, failing_withdraws: int = 0):
    """Activities registered under the real names, so a check is about the workflow alone."""
    remaining_failures = [failing_withdraws]

    @activity.defn(name="check_account")
    async def check_account(account: str) -> str:
        calls.append(("check_account", account))
        return account.title()

    @activity.defn(name="withdraw")
    async def withdraw(operation: shared.BankOperation) -> shared.BankReceipt:
        if remaining_failures[0] > 0:
            remaining_failures[0] -= 1
            raise RuntimeError("the bank is unreachable (a stand-in failure of the check)")
        calls.append(("withdraw", operation.account))
        return shared.BankReceipt(transaction_id=101, balance_cents=0)

    @activity.defn(name="deposit")
    async def deposit(operation: shared.BankOperation) -> shared.BankReceipt:
        calls.append(("deposit", operation.account))
        return shared.BankReceipt(transaction_id=102, balance_cents=0)

    def heal() -> None:
        remaining_failures[0] = 0

    return [check_account, withdraw, deposit], heal


def replay_reason(err: Exception) -> str:
    found = re.search(r'message: "(.*?)", source', str(err))
    return found.group(1) if found else str(err)


async def task_failure(handle: WorkflowHandle) -> str | None:
    """`Type: message` of the first failed workflow task, if any."""
    for event in await history_events(handle):
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failure = event.workflow_task_failed_event_attributes.failure
            kind = failure.application_failure_info.type if failure.HasField("application_failure_info") else ""
            return f"{kind}: {failure.message}" if kind else failure.message
    return None


async def finished_or_task_failed(handle: WorkflowHandle, seconds: float) -> str | None:
    """Waits until the workflow closes (returns None) or a workflow task fails (returns its failure)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            return None
        failure = await task_failure(handle)
        if failure:
            return failure
        await asyncio.sleep(0.2)
    return None


@pytest.mark.part("A")
async def test_a_large_transfer_gets_past_the_workflow_code(target, client):
    shared = target.load(MODULE, "shared")
    workflow_module = target.load(MODULE, "workflow")
    calls: list = []
    activities, _ = stand_in_bank(shared, calls)
    transfer = shared.TransferInput("alice", "bob", shared.LARGE_TRANSFER_CENTS * 2, "check A")
    # No failure types: a bug in workflow code fails the workflow *task*, which Temporal retries.
    async with running_worker(client, [workflow_module.MoneyTransferWorkflow], activities, fail_workflow_on=()) as queue:
        handle = await client.start_workflow(
            workflow_module.MoneyTransferWorkflow.run, transfer, id=unique_id("transfer"), task_queue=queue
        )
        try:
            failure = await finished_or_task_failed(handle, 15)
            if failure:
                status = (await handle.describe()).status
                raise AssertionError(
                    f"Part A: the workflow task of a {format_cents(transfer.amount_cents)} transfer fails with "
                    f"{failure}. The execution stays {status.name.title()} and Temporal retries the task until "
                    "fixed code runs it: open the transfer in the Web UI, expand its WorkflowTaskFailed event, "
                    "and fix the line of workflow.py that its stack trace names."
                )
            result = await result_within(handle, 10, "A", "running a large transfer")
        finally:
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("check finished")
    assert ("withdraw", "alice") in calls and ("deposit", "bob") in calls, (
        f"Part A: a transfer should withdraw from alice and deposit into bob; the activities saw {calls}."
    )
    assert result.amount_cents == transfer.amount_cents, "Part A: the result should carry the transferred amount."
    assert await count_events(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED) == 0, (
        "Part A: the transfer completed, but a workflow task failed on the way."
    )


@pytest.mark.part("B")
async def test_the_withdraw_reaches_the_bank_and_takes_the_money_once(target, bank):
    shared = target.load(MODULE, "shared")
    module_activities = target.load(MODULE, "activities")
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=unique_id("check-b"), activity_type="withdraw")
    # The same key for both calls: to the bank, the second is a retry of the first.
    operation = shared.BankOperation("carol", 1_234, "check B", unique_id("check-b-key"))
    before = bank.balance("carol")
    async with BankClient(bank.url) as bank_client:
        activities = module_activities.BankActivities(bank_client)
        await withdraw_twice(env, activities, operation, bank, before)


async def withdraw_twice(env, activities, operation, bank, before: int) -> None:
    try:
        first = await asyncio.wait_for(env.run(activities.withdraw, operation), 20)
    except ApplicationError as err:
        raise AssertionError(f"Part B: the withdraw failed for good: {err.type}: {err}") from None
    except Exception as err:
        raise AssertionError(
            f"Part B: the withdraw activity fails: {type(err).__name__}: {err}. Temporal retries it without "
            "end, and every attempt fails the same way. Compare where withdraw and deposit send their "
            "requests (activities.py)."
        ) from None
    retried = await env.run(activities.withdraw, operation)
    after = bank.balance("carol")
    assert after == before - operation.amount_cents, (
        f"Part B: withdrawing {operation.amount_cents} cents (twice, as a retry would) should take exactly "
        f"that amount from carol; her balance went from {before} to {after} cents."
    )
    assert retried.transaction_id == first.transaction_id, (
        "Part B: a retry of the same withdraw should get the first transaction back from the bank "
        "(same Idempotency-Key), not make a new one."
    )


@pytest.mark.part("C")
async def test_the_new_step_is_guarded_for_executions_recorded_before_it(target, client):
    shared = target.load(MODULE, "shared")
    workflow_module = target.load(MODULE, "workflow")
    path = target.folder(MODULE) / HISTORY
    assert path.exists(), f"Part C: {HISTORY} is missing from your module folder; copy it back from solutions/."
    history = WorkflowHistory.from_json("transfer-before-change", path.read_text(encoding="utf-8"))
    replay = await Replayer(workflows=[workflow_module.MoneyTransferWorkflow]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    if isinstance(replay.replay_failure, NondeterminismError):
        raise AssertionError(
            f"Part C: {HISTORY}, a transfer recorded before the account check existed, no longer replays: "
            f"{replay_reason(replay.replay_failure)}. Executions already past that point would fail every workflow task "
            "once this code is deployed. Guard the new step with `if workflow.patched(CHECK_TARGET_PATCH):`."
        )
    if replay.replay_failure is not None:
        raise AssertionError(
            f"Part C: replaying {HISTORY} fails with {type(replay.replay_failure).__name__}: "
            f"{replay_reason(replay.replay_failure)} (if that is Jerry's bug, fix Part A first)."
        )

    calls: list = []
    activities, _ = stand_in_bank(shared, calls)
    transfer = shared.TransferInput("carol", "dave", 700, "check C")
    async with running_worker(client, [workflow_module.MoneyTransferWorkflow], activities) as queue:
        handle = await client.start_workflow(
            workflow_module.MoneyTransferWorkflow.run, transfer, id=unique_id("transfer"), task_queue=queue
        )
        await result_within(handle, 15, "C", "running a new transfer")
    assert calls[:1] == [("check_account", "dave")], (
        "Part C: a new transfer should check the target account (the check_account activity) before it "
        f"moves any money; the activities saw {calls}. Add that step to workflow.py, under workflow.patched."
    )
    assert await count_events(handle, EventType.EVENT_TYPE_MARKER_RECORDED) >= 1, (
        "Part C: the new transfer's history has no patch marker: run the new step under "
        "`if workflow.patched(CHECK_TARGET_PATCH):`, so that later changes can tell old executions from new."
    )


@pytest.mark.part("D")
async def test_a_reset_reruns_the_failed_step_with_fixed_code(target, client):
    shared = target.load(MODULE, "shared")
    workflow_module = target.load(MODULE, "workflow")
    resetter = target.load(MODULE, "reset_transfer")
    calls: list = []
    # The withdraw fails on both of its 2 allowed attempts, so the transfer fails for good.
    activities, heal = stand_in_bank(shared, calls, failing_withdraws=2)
    transfer = shared.TransferInput("alice", "bob", 900, "check D", max_attempts=2)
    workflow_id = unique_id("transfer")
    async with running_worker(client, [workflow_module.MoneyTransferWorkflow], activities) as queue:
        handle = await client.start_workflow(
            workflow_module.MoneyTransferWorkflow.run, transfer, id=workflow_id, task_queue=queue
        )
        try:
            await asyncio.wait_for(handle.result(), 20)
        except WorkflowFailureError:
            pass
        else:
            raise AssertionError("Part D: the transfer was meant to fail (its withdraw failed twice), but it completed.")
        checks_before = calls.count(("check_account", "bob"))
        heal()  # the bug is fixed; the failed transfer stays failed until it is reset
        try:
            new_run_id = await resetter.reset_transfer(client, workflow_id)
        except NotImplementedError as err:
            raise AssertionError(f"Part D: reset_transfer (reset_transfer.py) is not written yet: {err}") from None
        assert new_run_id and new_run_id != handle.result_run_id, (
            f"Part D: reset_transfer should return the ID of the new run the reset made, not {new_run_id!r}."
        )
        reset_run = client.get_workflow_handle(workflow_id, run_id=new_run_id)
        await result_within(reset_run, 15, "D", "running the transfer after the reset")
    assert calls.count(("withdraw", "alice")) == 1 and calls.count(("deposit", "bob")) == 1, (
        f"Part D: after the reset the transfer should withdraw once and deposit once; the activities saw {calls}."
    )
    assert calls.count(("check_account", "bob")) == checks_before, (
        "Part D: the reset went back further than the failed step: the account check, which had already "
        "succeeded, ran again. Reset to the WorkflowTaskCompleted event that scheduled the failed withdraw."
    )
