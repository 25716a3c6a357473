"""Check suite of module 03, signals: `python -m workshop check 03`.

No `from __future__ import annotations` in check suites: the stand-in activities' type hints name
classes of the target module and must be evaluated where they are defined.
"""

import asyncio
import time

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError

from workshop.testing import (
    count_events,
    history_events,
    result_within,
    root_cause,
    running_worker,
    unique_id,
    until_first_task_completed,
)

MODULE = "03"


async def signals_received(client: Client, handle: WorkflowHandle, payload_type: type) -> list[tuple]:
    """(signal name, decoded first argument, sending workflow ID or "") for each signal in the history."""
    received = []
    for event in await history_events(handle):
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            attributes = event.workflow_execution_signaled_event_attributes
            payloads = attributes.input.payloads
            value = client.data_converter.payload_converter.from_payload(payloads[0], payload_type) if payloads else None
            received.append((attributes.signal_name, value, attributes.external_workflow_execution.workflow_id))
    return received


def stand_in_bank(shared, moved: list):
    """Withdraw and deposit activities under their real names that only record what they were asked."""

    @activity.defn(name="withdraw")
    async def record_withdraw(movement: shared.MoneyMovement) -> shared.Receipt:
        moved.append(("withdraw", movement.account, movement.amount_cents))
        return shared.Receipt(len(moved), 0)

    @activity.defn(name="deposit")
    async def record_deposit(movement: shared.MoneyMovement) -> shared.Receipt:
        moved.append(("deposit", movement.account, movement.amount_cents))
        return shared.Receipt(len(moved), 0)

    return [record_withdraw, record_deposit]


@pytest.mark.part("A")
async def test_the_transfer_waits_for_the_decide_signal_without_polling(target, client):
    shared = target.load(MODULE, "shared")
    workflows = target.load(MODULE, "workflow")
    moved: list = []
    transfer = workflows.TransferApprovalWorkflow
    async with running_worker(client, [transfer], stand_in_bank(shared, moved)) as queue:

        async def start(source: str, target_account: str, **options):
            return await client.start_workflow(transfer.run, shared.TransferRequest(source, target_account, 2_500,
                                                                                    **options),
                                               id=unique_id("transfer"), task_queue=queue)

        async def decide(source: str, target_account: str, approval, wait_seconds: float):
            handle = await start(source, target_account)
            await until_first_task_completed(handle)
            await asyncio.sleep(wait_seconds)  # time enough for a polling loop to leave timers in the history
            await handle.signal("decide", approval)
            try:
                return handle, await result_within(handle, 15, "A", "waiting for the decide signal")
            except WorkflowFailureError as err:
                raise AssertionError(f"Part A: the transfer failed on its decide signal: {root_cause(err)}") from err

        async def expire():
            handle = await start("erin", "frank", approval_timeout_seconds=1)
            return await result_within(handle, 15, "A", "waiting for a decision that never comes")

        # Three transfers side by side, told apart by their accounts: approved after a wait, rejected, expired.
        (handle, approved), (_, rejected), expired = await asyncio.gather(
            decide("alice", "bob", shared.Approval("carol", True, "fine"), wait_seconds=1.5),
            decide("dave", "carol", shared.Approval("dave", False, "not today"), wait_seconds=0),
            expire(),
        )
        fired = await count_events(handle, EventType.EVENT_TYPE_TIMER_FIRED)
        started = await count_events(handle, EventType.EVENT_TYPE_TIMER_STARTED)
        assert fired == 0 and started <= 1, (
            f"Part A: while the transfer waited 1.5 s for its signal, its history got {started} timers "
            f"({fired} fired): it polls with asyncio.sleep. Wait with workflow.wait_condition instead."
        )
        assert approved.status == "completed" and approved.approver == "carol", (
            f"Part A: an approved transfer should complete, approved by 'carol'; it returned {approved}."
        )
        moved_for = {source: [m for m in moved if m[1] in accounts]
                     for source, accounts in {"alice": ("alice", "bob"), "dave": ("dave", "carol"),
                                              "erin": ("erin", "frank")}.items()}
        assert moved_for["alice"] == [("withdraw", "alice", 2_500), ("deposit", "bob", 2_500)], (
            f"Part A: an approved transfer should withdraw from alice, then deposit to bob; it moved {moved_for['alice']}."
        )
        assert rejected.status == "rejected" and not moved_for["dave"], (
            f"Part A: a rejected transfer should end 'rejected' and move nothing; it returned {rejected}, "
            f"moved {moved_for['dave']}."
        )
        assert expired.status == "expired" and not moved_for["erin"], (
            "Part A: without a decision the transfer should end 'expired' after approval_timeout_seconds "
            f"(the timeout of wait_condition); it returned {expired}."
        )


@pytest.mark.part("B")
async def test_the_client_sends_the_decide_signal(target, client):
    shared = target.load(MODULE, "shared")
    workflows = target.load(MODULE, "workflow")
    client_code = target.load(MODULE, "client")
    # No worker polls this queue: the check looks only at what arrives in the transfer's history.
    handle = await client.start_workflow(
        workflows.TransferApprovalWorkflow.run, shared.TransferRequest("alice", "bob", 2_500),
        id=unique_id("transfer"), task_queue=unique_id("no-worker"),
    )
    try:
        approval = shared.Approval("erin", False, "please split it")
        await client_code.send_decision(client, handle.id, approval)
        received = await signals_received(client, handle, shared.Approval)
        assert [(name, value) for name, value, _ in received] == [("decide", approval)], (
            f"Part B: send_decision should send one signal 'decide' carrying {approval}; "
            f"the transfer received {received}."
        )
    finally:
        await handle.terminate("check finished")


@pytest.mark.part("C")
async def test_the_review_workflow_signals_the_transfer(target, client):
    shared = target.load(MODULE, "shared")
    workflows = target.load(MODULE, "workflow")
    no_worker = unique_id("no-worker")
    async with running_worker(client, [workflows.FraudReviewWorkflow]) as queue:
        for amount, approved in ((2_500, True), (shared.AUTO_APPROVAL_LIMIT_CENTS + 1, False)):
            transfer = await client.start_workflow(
                workflows.TransferApprovalWorkflow.run, shared.TransferRequest("alice", "bob", amount),
                id=unique_id("transfer"), task_queue=no_worker,
            )
            try:
                review = await client.start_workflow(
                    workflows.FraudReviewWorkflow.run, shared.ReviewRequest(transfer.id, amount),
                    id=unique_id("review"), task_queue=queue,
                )
                try:
                    await result_within(review, 15, "C", "signalling the transfer")
                except WorkflowFailureError as err:
                    raise AssertionError(f"Part C: the fraud review workflow failed: {root_cause(err)}") from err
                received = await signals_received(client, transfer, shared.Approval)
                assert len(received) == 1 and received[0][0] == "decide", (
                    f"Part C: the transfer should receive one 'decide' signal from the review; it received {received}."
                )
                _, approval, sender = received[0]
                assert approval.approved is approved and approval.approver == "fraud-review", (
                    f"Part C: for {amount} cents the review should send approved={approved}; it sent {approval}."
                )
                assert sender == review.id, (
                    f"Part C: the signal should come from the review workflow {review.id}, not from {sender}."
                )
            finally:
                await transfer.terminate("check finished")


@pytest.mark.part("D")
async def test_signal_with_start_creates_one_entity_execution(target, client):
    shared = target.load(MODULE, "shared")
    client_code = target.load(MODULE, "client")
    account = unique_id("acct")
    entity_id = shared.account_workflow_id(account)
    queue = unique_id("no-worker")  # the entity never runs: the check looks at executions and signals
    events = [shared.AccountEvent("first", "deposit", 500), shared.AccountEvent("second", "withdraw", 200)]
    handles = []
    try:
        for event in events:
            try:
                handles.append(await client_code.post_account_event(client, account, event, queue))
            except WorkflowAlreadyStartedError:
                raise AssertionError(
                    "Part D: the second event raised WorkflowAlreadyStartedError: use signal-with-start "
                    "(start_signal / start_signal_args) so that it reaches the running entity."
                ) from None
        first, second = handles
        assert first.id == entity_id, f"Part D: the entity's workflow ID should be {entity_id!r}, not {first.id!r}."
        assert first.result_run_id == second.result_run_id, (
            "Part D: the second event started a new run instead of reaching the running entity."
        )
        executions = 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # visibility catches up with the server a moment later
            executions = (await client.count_workflows(f'WorkflowId = "{entity_id}"')).count
            if executions:
                break
            await asyncio.sleep(0.2)
        assert executions == 1, f"Part D: expected exactly one execution of {entity_id}; found {executions}."
        received = await signals_received(client, first, shared.AccountEvent)
        assert [(name, value) for name, value, _ in received] == [("post_event", e) for e in events], (
            f"Part D: the entity should receive both events as 'post_event' signals; it received {received}."
        )
    finally:
        if handles:
            await client.get_workflow_handle(entity_id).terminate("check finished")


@pytest.mark.part("E")
async def test_the_entity_processes_a_burst_one_at_a_time_in_arrival_order(target, client):
    shared = target.load(MODULE, "shared")
    workflows = target.load(MODULE, "workflow")
    started: list[str] = []
    in_flight = peak = 0

    @activity.defn(name="apply_account_event")
    async def record_event(posting: shared.Posting) -> shared.Receipt:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        started.append(posting.event.event_id)
        try:
            if len(started) <= 3:
                await asyncio.sleep(0.1)  # slow first events: later ones would overtake them if run alongside
            return shared.Receipt(len(started), 0)
        finally:
            in_flight -= 1

    burst = 50
    sent = [f"e{number}" for number in range(1, burst + 1)]
    account = unique_id("acct")
    async with running_worker(client, [workflows.AccountEntityWorkflow], [record_event]) as queue:
        handle = await client.start_workflow(
            workflows.AccountEntityWorkflow.run, shared.AccountState(account_id=account),
            id=shared.account_workflow_id(account), task_queue=queue,
            start_signal="post_event", start_signal_args=[shared.AccountEvent(sent[0], "deposit", 100)],
        )
        try:
            for number, event_id in enumerate(sent[1:], start=2):
                if number % 10 == 0:  # every tenth one the old way, through the dynamic handler
                    await handle.signal("deposit", shared.LegacyPosting(event_id, 100))
                else:
                    await handle.signal("post_event", shared.AccountEvent(event_id, "deposit", 100))
            deadline = time.monotonic() + 30
            while len(started) < burst and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert len(started) == burst, (
                f"Part E: only {len(started)} of {burst} events were processed within 30 s."
            )
            assert peak == 1, (
                f"Part E: up to {peak} events were processed at the same time. Let the signal handlers only "
                "queue the events, and process the queue in run(), one event at a time."
            )
            first_difference = next(i for i, (a, b) in enumerate(zip(started, sent, strict=True)) if a != b) \
                if started != sent else 0
            assert started == sent, (
                f"Part E: events were processed in another order than they arrived: at position "
                f"{first_difference}, {started[first_difference]} came before {sent[first_difference]}."
            )
        finally:
            await handle.terminate("check finished")
