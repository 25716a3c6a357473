"""Check suite of module 02, retries: `python -m workshop check 02`.

Part A runs the learner's activities against the real account API; Parts B and C run the learner's
workflow with stand-in activities, so each Part is judged on its own.
"""

import dataclasses
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType, RetryState
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from workshop import bank as bank_errors
from workshop.bank import BankClient
from workshop.testing import failure_text, history_events, result_within, running_worker, unique_id

MODULE = "02"


def activity_env() -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=unique_id("transfer"), attempt=1)
    return env


async def raised_by(env: ActivityEnvironment, fn, *args) -> BaseException | None:
    try:
        await env.run(fn, *args)
    except Exception as err:  # the check looks at what was raised
        if "Part A" in failure_text(err):
            raise
        return err
    return None


@pytest.fixture
async def learner_activities(target, bank):
    """The learner's activity class, holding a client of the session's bank."""
    activities = target.load(MODULE, "activities")
    async with BankClient(bank.url) as client:
        yield activities.BankActivities(client)


@pytest.mark.part("A")
async def test_a_retried_withdraw_is_applied_once(target, bank, learner_activities):
    shared = target.load(MODULE, "shared")
    env = activity_env()
    request = shared.BankRequest("alice", 2_500, unique_id("key"), "check")
    before = bank.balance("alice")

    bank.faults(lost_response_rate=1.0)  # the bank applies the withdraw, then the answer is lost
    first = await raised_by(env, learner_activities.withdraw, request)
    assert first is not None, "Part A: the bank's answer was lost (504), yet the activity did not raise."
    assert not (isinstance(first, ApplicationError) and first.non_retryable), (
        "Part A: a lost answer (504) must stay retryable; only the bank's final answers are non-retryable."
    )
    bank.faults(lost_response_rate=0.0)
    receipt = await env.run(learner_activities.withdraw, request)  # Temporal's retry of the same step

    withdrawals = [e for e in bank.ledger("alice") if e["kind"] == "withdraw"]
    assert len(withdrawals) == 1 and bank.balance("alice") == before - 2_500, (
        f"Part A: the retry withdrew again ({len(withdrawals)} withdrawals in the ledger). Send the request's "
        "key (request.key, the same on every attempt of the step) as the Idempotency-Key header."
    )
    assert receipt.transaction_id == withdrawals[0]["transaction_id"]


@pytest.mark.parametrize(
    "account, amount, error_type, what",
    [
        ("dave", 10**9, bank_errors.INSUFFICIENT_FUNDS, "withdrawing more than dave has"),
        ("nobody", 500, bank_errors.UNKNOWN_ACCOUNT, "an account the bank does not know"),
        ("alice", 0, bank_errors.INVALID_AMOUNT, "an amount of 0 cents"),
    ],
    ids=["insufficient-funds", "unknown-account", "invalid-amount"],
)
@pytest.mark.part("A")
async def test_final_answers_of_the_bank_are_not_retryable(target, bank, learner_activities, account, amount,
                                                          error_type, what):
    shared = target.load(MODULE, "shared")
    env = activity_env()
    error = await raised_by(env, learner_activities.withdraw, shared.BankRequest(account, amount, unique_id("key")))
    assert isinstance(error, ApplicationError), (
        f"Part A: {what} should raise ApplicationError, not {error!r}: Temporal would retry it forever."
    )
    assert error.type == error_type and error.non_retryable, (
        f"Part A: {what} should raise ApplicationError(..., type={error_type!r}, non_retryable=True); got "
        f"type={error.type!r}, non_retryable={error.non_retryable}. Map the bank's error code with FINAL_ERRORS."
    )
    assert bank.balance("dave") == 10_000 and bank.balance("alice") == 100_000, "Part A: a refusal must not move money."


def stand_in_bank(shared, fail_withdraw_times: int = 0, deposit_error: str | None = None, bank_down_for: str = ""):
    """Activities named like the learner's, with scripted failures; `calls` records (kind, account, attempt, key)."""
    calls: list[tuple[str, str, int, str]] = []

    @activity.defn(name="withdraw")
    async def withdraw(request: shared.BankRequest) -> shared.Receipt:
        calls.append(("withdraw", request.account, activity.info().attempt, request.key))
        if activity.info().attempt <= fail_withdraw_times:
            raise RuntimeError("503 Service Unavailable from the bank")
        return shared.Receipt(request.account, request.amount_cents, len(calls), 0)

    @activity.defn(name="deposit")
    async def deposit(request: shared.BankRequest) -> shared.Receipt:
        calls.append(("deposit", request.account, activity.info().attempt, request.key))
        if request.account == bank_down_for:
            raise RuntimeError("503 Service Unavailable from the bank")
        if deposit_error and request.account != "alice":
            raise ApplicationError(f"no account {request.account!r}", type=deposit_error)
        return shared.Receipt(request.account, request.amount_cents, len(calls), 0)

    return calls, [withdraw, deposit]


def attempts(calls, kind: str, account: str) -> list[int]:
    return [attempt for k, a, attempt, _ in calls if (k, a) == (kind, account)]


async def run_transfer(target, env, activities, transfer, part: str, seconds: float = 60):
    workflow_module = target.load(MODULE, "workflow")
    client = env.client
    async with running_worker(client, [workflow_module.MoneyTransferWorkflow], activities) as queue:
        handle = await client.start_workflow(
            workflow_module.MoneyTransferWorkflow.run, transfer, id=unique_id("transfer"), task_queue=queue
        )
        try:
            return handle, await result_within(handle, seconds, part, "transferring money")
        except WorkflowFailureError as failure:
            return handle, failure


@pytest.mark.part("B")
async def test_transient_bank_errors_are_retried(target, time_skipping_env):
    shared = target.load(MODULE, "shared")
    calls, activities = stand_in_bank(shared, fail_withdraw_times=3)
    _, outcome = await run_transfer(target, time_skipping_env, activities, shared.TransferInput("alice", "bob", 100), "B")
    assert not isinstance(outcome, WorkflowFailureError), (
        f"Part B: the transfer failed after {len(attempts(calls, 'withdraw', 'alice'))} withdraw attempt(s) of a "
        "bank that answered 503 three times. Give the bank calls a RetryPolicy that keeps retrying transient errors."
    )
    assert attempts(calls, "withdraw", "alice") == [1, 2, 3, 4], (
        f"Part B: expected 4 withdraw attempts, saw {attempts(calls, 'withdraw', 'alice')}."
    )


@pytest.mark.part("B")
async def test_unknown_account_is_not_retried(target, time_skipping_env):
    shared = target.load(MODULE, "shared")
    calls, activities = stand_in_bank(shared, fail_withdraw_times=1, deposit_error=bank_errors.UNKNOWN_ACCOUNT)
    await run_transfer(target, time_skipping_env, activities, shared.TransferInput("alice", "nobody", 100), "B")
    assert attempts(calls, "withdraw", "alice") == [1, 2], (
        "Part B: one 503 from the bank ended the transfer. Give the bank calls a RetryPolicy that retries."
    )
    deposits = attempts(calls, "deposit", "nobody")
    assert deposits == [1], (
        f"Part B: a deposit to an unknown account was attempted {len(deposits)} times; list "
        f"{bank_errors.UNKNOWN_ACCOUNT!r} in the retry policy's non_retryable_error_types."
    )


@pytest.mark.part("B")
async def test_each_attempt_has_a_timeout_and_each_step_a_time_budget(target, time_skipping_env):
    shared = target.load(MODULE, "shared")
    calls, activities = stand_in_bank(shared, bank_down_for="bob")  # the deposit to bob never gets through
    handle, _ = await run_transfer(target, time_skipping_env, activities, shared.TransferInput("alice", "bob", 100),
                                   "B", seconds=20)
    scheduled = [e.activity_task_scheduled_event_attributes for e in await history_events(handle)
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    attempt_timeout = scheduled[0].start_to_close_timeout.ToTimedelta()
    assert timedelta(0) < attempt_timeout <= timedelta(seconds=30), (
        f"Part B: an attempt of the withdraw may take {attempt_timeout}: a bank that hangs holds the transfer "
        "that long before the attempt is retried. Give each attempt a start_to_close_timeout of a few seconds."
    )
    deposit_attempts = attempts(calls, "deposit", "bob")
    assert len(deposit_attempts) > 1, (
        "Part B: the bank was down and the deposit was tried once. Retry it (and Part B's other check)."
    )
    # When the next retry would pass the step's schedule_to_close_timeout, the server fails the activity
    # with its last failure and says why: retry state TIMEOUT.
    ended_by_time = [e for e in await history_events(handle)
                     if (e.activity_task_failed_event_attributes.retry_state
                         or e.activity_task_timed_out_event_attributes.retry_state) == RetryState.RETRY_STATE_TIMEOUT]
    assert len(ended_by_time) == 1, (
        f"Part B: the deposit to a bank that stays down was retried {len(deposit_attempts)} times and never "
        "given up. Bound each step, retries included, with a schedule_to_close_timeout (a few minutes), so the "
        "workflow gets to decide (Part C refunds)."
    )


@pytest.mark.part("C")
async def test_failed_deposit_is_refunded(target, time_skipping_env):
    shared = target.load(MODULE, "shared")
    calls, activities = stand_in_bank(shared, deposit_error=bank_errors.UNKNOWN_ACCOUNT)
    _, outcome = await run_transfer(target, time_skipping_env, activities, shared.TransferInput("alice", "nobody", 700), "C")
    refunds = attempts(calls, "deposit", "alice")
    assert refunds == [1], (
        "Part C: the deposit failed for good, but the 700 cents taken from alice were not refunded. "
        "Catch ActivityError around the deposit and deposit the amount back into the source account."
    )
    keys = {kind: key for kind, account, _, key in calls if kind == "deposit"}
    deposit_key = next(key for kind, account, _, key in calls if (kind, account) == ("deposit", "nobody"))
    refund_key = next(key for kind, account, _, key in calls if (kind, account) == ("deposit", "alice"))
    assert refund_key != deposit_key, (
        "Part C: the refund sent the deposit's idempotency key: the bank would take it for the failed deposit "
        f"again. Give the refund a step of its own (idempotency_key(\"refund\")). ({len(keys)} keys seen)"
    )
    assert isinstance(outcome, WorkflowFailureError) and "refund" in failure_text(outcome).lower(), (
        "Part C: after refunding, fail the workflow with an ApplicationError that says the money was refunded."
    )
