"""Check suite of module 07, asynchronous activity completion: `python -m workshop check 07`.

Part A runs the learner's approval activity alone (in a probe workflow of the check's own) against the real
account API. Parts B, C and D run the learner's workflow with stand-in activities: an approval activity that
only records its task token (and, for Part B, puts the approval at the bank), and money moves that only
record what they were asked. The checks answer through the task token themselves wherever a Part is about
the other side, so that each Part is judged on its own. All of it on the dev server (the `client` fixture):
the time-skipping server does not skip time while an activity is open, and the approver answers a real one.

No `from __future__ import annotations` in check suites: the stand-in activities' type hints name classes
of the target module and must be evaluated where they are defined.
"""

import base64
import binascii
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.common import RetryPolicy
from temporalio.service import RPCError

from workshop.bank import BankClient
from workshop.testing import Bank, eventually, history_events, result_within, root_cause, running_worker, unique_id

MODULE = "07"


@workflow.defn(name="ApprovalProbe", sandboxed=False)
class ApprovalProbe:
    """Runs the learner's approval activity on its own, by name, once."""

    @workflow.run
    async def run(self, request: dict) -> Any:
        return await workflow.execute_activity(
            "request_approval", request, start_to_close_timeout=timedelta(minutes=1),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


def approvals_of(bank: Bank, transfer_id: str) -> list[dict]:
    """The bank's approvals for one transfer, newest first."""
    approvals = bank.http.get("/approvals", params={"limit": 1000}).json()["approvals"]
    return [approval for approval in approvals if approval["transfer_id"] == transfer_id]


async def is_open(handle: WorkflowHandle) -> bool:
    return (await handle.describe()).status == WorkflowExecutionStatus.RUNNING


async def why_closed(handle: WorkflowHandle) -> str:
    try:
        return f"returned {await handle.result()!r}"
    except WorkflowFailureError as failure:
        return f"failed: {root_cause(failure).rstrip('.')}"


class StandInBank:
    """Activities under the real names. The approval activity records each attempt's task token and completes
    asynchronously; with `bank`, it first puts the approval at the bank, as Part A's answer does."""

    def __init__(self, shared, bank: BankClient | None = None) -> None:
        self.tokens: list[bytes] = []
        self.moved: list[tuple[str, str, int]] = []
        self.expired: list[str] = []
        self.shared = shared
        self.bank = bank

    def activities(self) -> list:
        shared, stand_in = self.shared, self

        @activity.defn(name="request_approval")
        async def request_approval(request: shared.ApprovalRequest) -> shared.ApprovalDecision:
            if stand_in.bank is not None:
                await stand_in.bank.call("POST", "/approvals", key=request.idempotency_key, json={
                    "transfer_id": request.transfer_id, "from_account": request.from_account,
                    "to_account": request.to_account, "amount_cents": request.amount_cents, "note": request.note,
                    "task_token": base64.b64encode(activity.info().task_token).decode()})
            stand_in.tokens.append(activity.info().task_token)
            activity.raise_complete_async()

        @activity.defn(name="expire_approval")
        async def expire_approval(expiry: shared.ApprovalExpiry) -> None:
            stand_in.expired.append(expiry.transfer_id)

        @activity.defn(name="withdraw")
        async def withdraw(movement: shared.MoneyMovement) -> shared.Receipt:
            stand_in.moved.append(("withdraw", movement.account, movement.amount_cents))
            return shared.Receipt(len(stand_in.moved), 0)

        @activity.defn(name="deposit")
        async def deposit(movement: shared.MoneyMovement) -> shared.Receipt:
            stand_in.moved.append(("deposit", movement.account, movement.amount_cents))
            return shared.Receipt(len(stand_in.moved), 0)

        return [request_approval, expire_approval, withdraw, deposit]

    async def first_token(self, handle: WorkflowHandle) -> bytes:
        await eventually(lambda: self._started(handle), 15, "the transfer's approval activity started")
        return self.tokens[0]

    async def _started(self, handle: WorkflowHandle) -> bool:
        if not self.tokens and not await is_open(handle):
            raise AssertionError(f"The transfer ended before it asked for approval: it {await why_closed(handle)}")
        return bool(self.tokens)


async def start_transfer(client: Client, workflows, shared, queue: str, **options) -> WorkflowHandle:
    request = shared.TransferRequest("company", "bob", 250_000, "relocation bonus", **options)
    return await client.start_workflow(workflows.LargeTransferWorkflow.run, request, id=unique_id("transfer"),
                                       task_queue=queue)


async def ended(handle: WorkflowHandle, part: str, waiting_for: str, seconds: float = 15):
    """The workflow's result, or the WorkflowFailureError it ended with."""
    try:
        return await result_within(handle, seconds, part, waiting_for)
    except WorkflowFailureError as failure:
        return failure


def first_event(events, event_type: int):
    return next((event for event in events if event.event_type == event_type), None)


async def learner_call(part: str, what: str, call: Awaitable[Any]) -> Any:
    """`call`, with a function of client.py that is not written yet reported as this Part's message."""
    try:
        return await call
    except NotImplementedError as err:
        raise AssertionError(f"Part {part}: {what}, but client.py is not written yet: {err}") from None


@pytest.mark.part("A")
async def test_the_activity_hands_its_task_token_to_the_bank_and_stays_open(target, client, bank):
    shared = target.load(MODULE, "shared")
    activities = target.load(MODULE, "activities")
    transfer_id = unique_id("transfer")
    request = dataclasses.asdict(
        shared.ApprovalRequest(transfer_id, "company", "bob", 250_000, "relocation bonus", unique_id("key")))
    probes: list[WorkflowHandle] = []
    async with BankClient(bank.url) as bank_client:
        learner = activities.BankActivities(bank_client)
        async with running_worker(client, [ApprovalProbe], [learner.request_approval]) as queue:

            async def ask(changed: Callable[[list[dict]], bool], what: str) -> list[dict]:
                """Run the learner's activity for `request`, wait until the bank shows `changed`, return its approvals."""
                probe = await client.start_workflow(ApprovalProbe.run, request, id=unique_id("probe"), task_queue=queue)
                probes.append(probe)

                async def asked() -> bool:
                    return changed(approvals_of(bank, transfer_id)) or not await is_open(probe)

                await eventually(asked, 15, f"Part A: {what}")
                if not await is_open(probe):
                    raise AssertionError(
                        f"Part A: request_approval {await why_closed(probe)}. It should put the approval at the bank "
                        "(POST /approvals, with the task token) and then call activity.raise_complete_async(), "
                        "which leaves the activity open until the approver answers."
                    )
                return approvals_of(bank, transfer_id)

            try:
                [approval] = await ask(bool, "an approval request for the transfer reached the bank")
                assert (approval["from_account"], approval["to_account"], approval["amount_cents"],
                        approval["note"]) == ("company", "bob", 250_000, "relocation bonus"), (
                    f"Part A: the bank's approval should be for 2,500.00 from company to bob, 'relocation bonus'; it is {approval}."
                )
                first_token = approval["task_token"]
                assert first_token, (
                    "Part A: the approval at the bank has no task_token. Send activity.info().task_token, base64-encoded."
                )
                try:
                    token = base64.b64decode(first_token, validate=True)
                    await client.get_async_activity_handle(task_token=token).heartbeat("the check is looking")
                except (binascii.Error, RPCError) as err:
                    raise AssertionError(
                        f"Part A: the approval's task_token is not the activity's task token in base64 ({err}). "
                        "Send base64.b64encode(activity.info().task_token).decode()."
                    ) from err

                # The same step once more, as Temporal runs it after a lost attempt: same request, same key.
                approvals = await ask(lambda found: len(found) > 1 or found[0]["task_token"] != first_token,
                                      "the second attempt's task token reached the bank")
                assert len(approvals) == 1, (
                    f"Part A: two attempts of one approval step left {len(approvals)} approvals at the bank. Send "
                    "request.idempotency_key (the same on every attempt) as the key: the bank then keeps one "
                    "approval and gives it the newer attempt's token."
                )
                decision = {"approver": "carol", "comment": "checked with payroll"}
                await client.get_async_activity_handle(
                    task_token=base64.b64decode(approvals[0]["task_token"])).complete(decision)
                result = await result_within(probes[-1], 15, "A", "the approval activity's result")
                assert result == decision, (
                    f"Part A: the activity's result should be what the approver sent ({decision}); it is {result!r}."
                )
            finally:
                for probe in probes:
                    if await is_open(probe):
                        await probe.terminate("check finished")


@pytest.mark.part("B")
async def test_the_approver_completes_the_activity_and_a_second_answer_changes_nothing(target, client, bank):
    shared = target.load(MODULE, "shared")
    workflows = target.load(MODULE, "workflow")
    approver = target.load(MODULE, "approver")
    async with BankClient(bank.url) as bank_client:
        stand_in = StandInBank(shared, bank_client)
        async with running_worker(client, [workflows.LargeTransferWorkflow], stand_in.activities()) as queue:
            handle = await start_transfer(client, workflows, shared, queue)
            try:
                await stand_in.first_token(handle)
                approval_id = approvals_of(bank, handle.id)[0]["approval_id"]
                decision = shared.ApprovalDecision("carol", "checked with payroll")
                answer = await learner_call("B", "the approver tried to approve the waiting transfer",
                                            approver.decide(client, bank_client, approval_id, True, decision))
                assert answer.delivered, f"Part B: approving the waiting transfer should deliver; the approver said: {answer}"
                outcome = await ended(handle, "B", "moving the money after the approval")
                assert not isinstance(outcome, WorkflowFailureError), (
                    f"Part B: the approved transfer failed: {root_cause(outcome)}"
                )
                assert (outcome.status, outcome.approver, outcome.comment) == ("completed", "carol", "checked with payroll"), (
                    f"Part B: the approved transfer should complete, approved by carol ('checked with payroll'); it "
                    f"returned {outcome}. send_approval should complete the activity with the ApprovalDecision."
                )
                assert stand_in.moved == [("withdraw", "company", 250_000), ("deposit", "bob", 250_000)], (
                    f"Part B: an approved transfer withdraws from company, then deposits to bob; it moved {stand_in.moved}."
                )

                for approve, again in ((True, "a second approval"), (False, "a rejection after the approval")):
                    try:
                        late = await approver.decide(client, bank_client, approval_id, approve,
                                                     shared.ApprovalDecision("dave", "second thoughts"))
                    except Exception as err:
                        raise AssertionError(f"Part B: {again} crashed the approver: {err!r}") from err
                    assert not late.delivered and "already approved" in late.message, (
                        f"Part B: {again} should be refused with a clear line; the approver said: {late}"
                    )
                assert len(stand_in.moved) == 2, f"Part B: a second answer moved money again: {stand_in.moved}."
                recorded = approvals_of(bank, handle.id)[0]
                assert (recorded["status"], recorded["decided_by"]) == ("approved", "carol"), (
                    f"Part B: the bank should keep the first decision (approved by carol); it has {recorded}."
                )
            finally:
                if await is_open(handle):
                    await handle.terminate("check finished")


@pytest.mark.part("C")
async def test_a_rejection_fails_the_activity_for_good_and_the_transfer_ends_rejected(target, client):
    shared = target.load(MODULE, "shared")
    workflows = target.load(MODULE, "workflow")
    client_code = target.load(MODULE, "client")
    stand_in = StandInBank(shared)
    async with running_worker(client, [workflows.LargeTransferWorkflow], stand_in.activities()) as queue:
        handle = await start_transfer(client, workflows, shared, queue)
        try:
            token = await stand_in.first_token(handle)
            await learner_call("C", "the approver tried to reject the waiting transfer", client_code.send_rejection(
                client.get_async_activity_handle(task_token=token), shared.ApprovalDecision("dave", "split it in two")))

            async def ended_or_asked_again() -> bool:
                return len(stand_in.tokens) > 1 or not await is_open(handle)

            await eventually(ended_or_asked_again, 15, "Part C: the rejected transfer ended")
            assert len(stand_in.tokens) == 1, (
                "Part C: the rejection was retried: a second attempt of the approval step asked the bank again. A "
                "rejection is an answer: make send_rejection's ApplicationError non_retryable=True."
            )
            outcome = await ended(handle, "C", "ending the rejected transfer")
            failed = first_event(await history_events(handle), EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED)
            failure = failed.activity_task_failed_event_attributes.failure if failed else None
            assert failure is not None and failure.application_failure_info.type == shared.TRANSFER_REJECTED, (
                "Part C: send_rejection should fail the activity with an ApplicationError of "
                f"type=TRANSFER_REJECTED ({shared.TRANSFER_REJECTED!r}); the history shows "
                f"{failure.application_failure_info.type if failure else 'no failed activity'!r}."
            )
            assert failure.application_failure_info.non_retryable, (
                "Part C: the rejection should be non_retryable=True: it is an answer, and no retry policy may ask again."
            )
            assert not isinstance(outcome, WorkflowFailureError), (
                f"Part C: the rejected transfer failed ({root_cause(outcome)}) instead of ending 'rejected'. Catch the "
                "ActivityError in the workflow and return a TransferOutcome with status 'rejected' when its cause is "
                "the TRANSFER_REJECTED ApplicationError."
            )
            assert (outcome.status, outcome.approver, outcome.comment) == ("rejected", "dave", "split it in two"), (
                f"Part C: the transfer should end 'rejected' by dave ('split it in two'); it returned {outcome}. The "
                "approver's name is the error's detail, the comment its message."
            )
            assert stand_in.moved == [] and len(stand_in.tokens) == 1, (
                f"Part C: a rejected transfer moves no money and asks once; it moved {stand_in.moved} and asked "
                f"{len(stand_in.tokens)} times."
            )
        finally:
            if await is_open(handle):
                await handle.terminate("check finished")


@pytest.mark.part("D")
async def test_a_silent_approver_times_out_on_heartbeats_and_the_transfer_expires(target, client):
    shared = target.load(MODULE, "shared")
    workflows = target.load(MODULE, "workflow")
    stand_in = StandInBank(shared)
    async with running_worker(client, [workflows.LargeTransferWorkflow], stand_in.activities()) as queue:
        handle = await start_transfer(client, workflows, shared, queue, approver_heartbeat_timeout_seconds=1)
        try:
            await stand_in.first_token(handle)  # from here on, nobody answers and nobody heartbeats
            scheduled = first_event(await history_events(handle), EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
            heartbeat_timeout = scheduled.activity_task_scheduled_event_attributes.heartbeat_timeout.ToTimedelta()
            assert heartbeat_timeout == timedelta(seconds=1), (
                f"Part D: the approval step's heartbeat timeout is {heartbeat_timeout or 'not set'}. Give it the "
                "request's approver_heartbeat_timeout_seconds (1 s here): a silent approver then ends an attempt "
                "after that long, not at the two-day deadline."
            )
            outcome = await ended(handle, "D", "waiting for a silent approver")
            timed_out = first_event(await history_events(handle), EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT)
            timeout_type = timed_out.activity_task_timed_out_event_attributes.failure.timeout_failure_info.timeout_type \
                if timed_out else None
            assert timeout_type == TimeoutType.TIMEOUT_TYPE_HEARTBEAT, (
                f"Part D: the silent approver's activity should time out on its heartbeat timeout; the history shows "
                f"{TimeoutType.Name(timeout_type) if timeout_type else 'no timeout'}."
            )
            assert not isinstance(outcome, WorkflowFailureError), (
                f"Part D: the transfer failed when its approver went silent ({root_cause(outcome)}) instead of ending "
                "'expired'. Catch the ActivityError whose cause is a TimeoutError of type TimeoutType.HEARTBEAT."
            )
            assert outcome.status == "expired" and stand_in.moved == [], (
                f"Part D: without word from the approver the transfer should end 'expired' and move nothing; it "
                f"returned {outcome} and moved {stand_in.moved}."
            )
            assert stand_in.expired == [handle.id], (
                "Part D: the expired transfer should close its approval request at the bank (expire_approval), so "
                f"that nobody approves it later; expire_approval was called for {stand_in.expired}."
            )
        finally:
            if await is_open(handle):
                await handle.terminate("check finished")
