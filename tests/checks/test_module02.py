"""Check suite of module 02, retries: `python -m workshop check 02`.

Part A runs the learner's activities against the real account API; Parts B and C run the learner's
workflow with stand-in activities, so each Part is judged on its own.
"""

import dataclasses

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from workshop.testing import failure_text, result_within, running_worker, unique_id

MODULE = "02"


def activity_env(workflow_id: str) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=workflow_id, workflow_run_id="run-1", attempt=1)
    return env


async def raised_by(env: ActivityEnvironment, fn, *args) -> BaseException | None:
    try:
        await env.run(fn, *args)
    except Exception as err:  # noqa: BLE001 - the check looks at what was raised
        if "Part A" in failure_text(err):
            raise
        return err
    return None


@pytest.mark.part("A")
async def test_a_retried_withdraw_is_applied_once(target, bank):
    shared = target.load(MODULE, "shared")
    activities = target.load(MODULE, "activities")
    env = activity_env(unique_id("transfer"))
    request = shared.BankRequest("alice", 2_500, "withdraw", "check")
    before = bank.balance("alice")

    bank.faults(lost_response_rate=1.0)  # the bank applies the withdraw, then the answer is lost
    first = await raised_by(env, activities.withdraw, request)
    assert first is not None, "Part A: the bank's answer was lost (504), yet the activity did not raise."
    assert not (isinstance(first, ApplicationError) and first.non_retryable), (
        "Part A: a lost answer (504) must stay retryable; only business errors are non-retryable."
    )
    bank.faults(lost_response_rate=0.0)
    receipt = await env.run(activities.withdraw, request)  # Temporal's retry of the same step

    withdrawals = [e for e in bank.ledger("alice") if e["kind"] == "withdraw"]
    assert len(withdrawals) == 1 and bank.balance("alice") == before - 2_500, (
        f"Part A: the retry withdrew again ({len(withdrawals)} withdrawals in the ledger). Send the same "
        "Idempotency-Key on every attempt of a step: build it from activity.info().workflow_id and the step."
    )
    assert receipt.transaction_id == withdrawals[0]["transaction_id"]


@pytest.mark.part("A")
async def test_insufficient_funds_is_not_retryable(target, bank):
    shared = target.load(MODULE, "shared")
    activities = target.load(MODULE, "activities")
    env = activity_env(unique_id("transfer"))
    error = await raised_by(env, activities.withdraw, shared.BankRequest("dave", 10**9, "withdraw", "check"))
    assert isinstance(error, ApplicationError), (
        f"Part A: withdrawing more than dave has should raise ApplicationError, not {error!r}."
    )
    assert error.type == shared.INSUFFICIENT_FUNDS and error.non_retryable, (
        f"Part A: insufficient funds should raise ApplicationError(..., type={shared.INSUFFICIENT_FUNDS!r}, "
        f"non_retryable=True); got type={error.type!r}, non_retryable={error.non_retryable}."
    )
    assert bank.balance("dave") == 10_000, "Part A: a refused withdraw must not move money."


def stand_in_bank(shared, fail_withdraw_times: int = 0, deposit_error: str | None = None):
    """Activities named like the learner's, with scripted failures; `calls` records what ran."""
    calls: list[tuple[str, str, int]] = []

    @activity.defn(name="withdraw")
    async def withdraw(request: shared.BankRequest) -> shared.Receipt:
        calls.append(("withdraw", request.account, activity.info().attempt))
        if activity.info().attempt <= fail_withdraw_times:
            raise RuntimeError("503 Service Unavailable from the bank")
        return shared.Receipt(request.account, request.amount_cents, len(calls), 0)

    @activity.defn(name="deposit")
    async def deposit(request: shared.BankRequest) -> shared.Receipt:
        calls.append((request.step, request.account, activity.info().attempt))
        if deposit_error and request.step == "deposit":
            raise ApplicationError(f"no account {request.account!r}", type=deposit_error)
        return shared.Receipt(request.account, request.amount_cents, len(calls), 0)

    return calls, [withdraw, deposit]


async def run_transfer(target, env, activities, transfer, part: str):
    workflow_module = target.load(MODULE, "workflow")
    client = env.client
    async with running_worker(client, [workflow_module.MoneyTransferWorkflow], activities) as queue:
        handle = await client.start_workflow(
            workflow_module.MoneyTransferWorkflow.run, transfer, id=unique_id("transfer"), task_queue=queue
        )
        return await result_within(handle, 60, part, "transferring money")


@pytest.mark.part("B")
async def test_transient_bank_errors_are_retried(target, time_skipping_env):
    shared = target.load(MODULE, "shared")
    calls, activities = stand_in_bank(shared, fail_withdraw_times=3)
    try:
        await run_transfer(target, time_skipping_env, activities, shared.TransferInput("alice", "bob", 100), "B")
    except WorkflowFailureError as failure:
        raise AssertionError(
            f"Part B: the transfer failed after {len(calls)} withdraw attempt(s) of a bank that answered "
            "503 three times. Give the activities a RetryPolicy that keeps retrying transient errors."
        ) from failure
    attempts = [attempt for step, _, attempt in calls if step == "withdraw"]
    assert attempts == [1, 2, 3, 4], f"Part B: expected 4 withdraw attempts, saw {attempts}."


@pytest.mark.part("B")
async def test_unknown_account_is_not_retried(target, time_skipping_env):
    shared = target.load(MODULE, "shared")
    calls, activities = stand_in_bank(shared, fail_withdraw_times=1, deposit_error=shared.UNKNOWN_ACCOUNT)
    with pytest.raises(WorkflowFailureError):
        await run_transfer(target, time_skipping_env, activities, shared.TransferInput("alice", "nobody", 100), "B")
    withdrawals = [attempt for step, _, attempt in calls if step == "withdraw"]
    assert withdrawals == [1, 2], (
        "Part B: one 503 from the bank ended the transfer. Give the activities a RetryPolicy that retries."
    )
    deposits = [attempt for step, _, attempt in calls if step == "deposit"]
    assert deposits == [1], (
        f"Part B: a deposit to an unknown account was attempted {len(deposits)} times; list "
        f"{shared.UNKNOWN_ACCOUNT!r} in the retry policy's non_retryable_error_types."
    )


@pytest.mark.part("C")
async def test_failed_deposit_is_refunded(target, time_skipping_env):
    shared = target.load(MODULE, "shared")
    calls, activities = stand_in_bank(shared, deposit_error=shared.UNKNOWN_ACCOUNT)
    with pytest.raises(WorkflowFailureError) as failure:
        await run_transfer(target, time_skipping_env, activities, shared.TransferInput("alice", "nobody", 700), "C")
    refunds = [(account, attempt) for step, account, attempt in calls if step == "refund"]
    assert refunds == [("alice", 1)], (
        "Part C: the deposit failed for good, but the 700 cents taken from alice were not refunded. "
        "Catch ActivityError around the deposit and deposit the amount back with step 'refund'."
    )
    assert "refund" in failure_text(failure.value).lower(), (
        "Part C: after refunding, fail the workflow with a message that says the money was refunded."
    )
