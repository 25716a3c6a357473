"""Check suite of module 06, cancellation: `python -m workshop check 06`.

Parts A, C and D run the learner's activities against the real account API; Parts B and E (and Part C's
shield) use stand-in workflows or activities, so that each Part is judged on its own. The checks' workers
send a heartbeat every 0.2 s at most: left to itself the SDK waits up to 80% of the heartbeat timeout
between two, and a cancellation only reaches an activity with the answer to one.

No `from __future__ import annotations` in check suites: the stand-in activities' type hints name classes
of the target module and must be evaluated where they are defined.
"""

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError
from temporalio.testing import ActivityEnvironment
from temporalio.workflow import ActivityCancellationType

from workshop.bank import BankClient
from workshop.testing import Bank, eventually, history_events, result_within, running_worker, unique_id

MODULE = "06"
PAYEES = ("alice", "bob", "carol", "dave")
FAST_HEARTBEATS: dict[str, Any] = {"max_heartbeat_throttle_interval": timedelta(milliseconds=200),
                   "default_heartbeat_throttle_interval": timedelta(milliseconds=200)}
Type = ActivityCancellationType


def make_batch(shared, count: int, **options):
    transfers = [shared.Transfer("company", PAYEES[n % len(PAYEES)], 1_000 + n) for n in range(count)]
    return shared.TransferBatch(transfers, reference=unique_id("check"), **options)


def holds_of(bank: Bank, reference: str) -> dict[str, int]:
    """How many holds of the batch are active, captured and released."""
    found = {"active": 0, "captured": 0, "released": 0}
    for hold in bank.http.get("/accounts/company/holds", params={"limit": 1000}).json()["holds"]:
        if (hold["reference"] or "").startswith(f"{reference} #"):
            found[hold["status"]] += 1
    return found


def named(event) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


async def status_of(handle: WorkflowHandle) -> str:
    status = (await handle.describe()).status
    return status.name if status else "unknown"


async def call_learner(part: str, function, *args, seconds: float = 20):
    """The learner's client function (client.py), with an unwritten one or one that hangs said as a Part message."""
    try:
        return await asyncio.wait_for(function(*args), seconds)
    except NotImplementedError:
        raise AssertionError(f"Part {part}: {function.__name__} (client.py) is not written yet: it raised "
                             f"NotImplementedError. See README.md, Part {part}.") from None
    except asyncio.TimeoutError:
        raise AssertionError(f"Part {part}: {function.__name__} (client.py) did not return within {seconds:.0f} s.") \
            from None


async def ended(handle: WorkflowHandle, part: str, waiting_for: str, seconds: float = 15):
    """The workflow's result, or the WorkflowFailureError it ended with."""
    try:
        return await result_within(handle, seconds, part, waiting_for)
    except WorkflowFailureError as failure:
        return failure


@pytest.fixture
async def learner_activities(target, bank):
    """The learner's activity class, holding a client of the session's bank."""
    activities = target.load(MODULE, "activities")
    async with BankClient(bank.url) as client:
        yield activities.BankActivities(client)


def stand_in_holds(shared):
    @activity.defn(name="place_holds")
    async def place_holds(transfers: list[shared.HeldTransfer]) -> list[shared.HeldTransfer]:
        return [dataclasses.replace(t, hold_id=f"hold-{n}") for n, t in enumerate(transfers, start=1)]

    return place_holds


class SettleUntilCancelled:
    """A settling activity that heartbeats until it is cancelled, and records how it learned of it."""

    def __init__(self, shared) -> None:
        self.started = asyncio.Event()
        self.cancellations: list = []  # the cancellation details it saw
        self.shared = shared

        @activity.defn(name="settle_transfers")
        async def settle_transfers(settlement: shared.Settlement) -> shared.Settled:
            self.started.set()
            try:
                while True:
                    activity.heartbeat(0)
                    await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                self.cancellations.append(activity.cancellation_details())
                raise

        self.activity = settle_transfers


# --------------------------------------------------------------------------- Part A


@pytest.mark.part("A")
async def test_a_retried_attempt_resumes_after_the_last_heartbeat(target, bank, learner_activities):
    shared = target.load(MODULE, "shared")
    batch = make_batch(shared, 5)
    transfers = [shared.HeldTransfer(t, unique_id("key"), f"{batch.reference} #{n}")
                 for n, t in enumerate(batch.transfers, start=1)]
    held = await ActivityEnvironment().run(learner_activities.place_holds, transfers)

    # The second attempt of the activity, after a first one whose last heartbeat said "2 settled".
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=2, heartbeat_details=[2], heartbeat_timeout=timedelta(seconds=2))
    beats: list = []
    env.on_heartbeat = lambda *details: beats.append(details[0] if details else None)
    await env.run(learner_activities.settle_transfers, shared.Settlement(held, 0.0))

    statuses = {h["reference"]: h["status"] for h in bank.http.get("/accounts/company/holds").json()["holds"]}
    again = [n for n in (1, 2) if statuses[held[n - 1].reference] != "active"]
    assert not again, (
        f"Part A: the retried attempt settled transfer {again[0]} again, although the last heartbeat of the "
        "attempt before said 2 transfers were settled. Start after them: read activity.info().heartbeat_details."
    )
    assert beats == [3, 4, 5], (
        f"Part A: after each transfer the activity should heartbeat the number settled so far; resumed after 2 of 5, "
        f"it should have sent 3, 4, 5, and it sent {beats or 'no heartbeat'}. Call activity.heartbeat(settled)."
    )
    assert all(statuses[h.reference] == "captured" for h in held[2:]), "Part A: transfers 3 to 5 should be settled."


@pytest.mark.part("A")
async def test_a_the_settling_activity_has_a_heartbeat_timeout(target, client: Client):
    shared = target.load(MODULE, "shared")
    workflows = target.load(MODULE, "workflow")

    @activity.defn(name="settle_transfers")
    async def settle_transfers(settlement: shared.Settlement) -> shared.Settled:
        return shared.Settled(len(settlement.transfers), 1, 0)

    @activity.defn(name="release_holds")
    async def release_holds(transfers: list[shared.HeldTransfer]) -> shared.Cleanup:
        return shared.Cleanup(0, len(transfers))

    batch_workflow = workflows.TransferBatchWorkflow
    async with running_worker(client, [batch_workflow], [stand_in_holds(shared), settle_transfers, release_holds]) as queue:
        handle = await client.start_workflow(batch_workflow.run, make_batch(shared, 2), id=unique_id("batch"),
                                             task_queue=queue)
        await result_within(handle, 15, "A", "settling two transfers")
    scheduled = [e.activity_task_scheduled_event_attributes for e in await history_events(handle)
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    settle = next(s for s in scheduled if s.activity_type.name == "settle_transfers")
    timeout = settle.heartbeat_timeout.ToTimedelta()
    assert timeout > timedelta(0), (
        "Part A: the settling activity has no heartbeat_timeout: when its worker dies, Temporal waits out its "
        "30-minute start_to_close_timeout before it tries again. Give it a heartbeat_timeout of a few seconds."
    )
    assert timeout <= timedelta(seconds=10), (
        f"Part A: a heartbeat_timeout of {timeout} lets a dead worker go unnoticed that long; make it a few seconds."
    )


# --------------------------------------------------------------------------- Part B


@workflow.defn(name="TransferBatchWorkflow", sandboxed=False)
class StandInBatch:
    """A batch of the check's own, so that Part B is checked alone: it waits for its activity to be cancelled,
    then lets the cancellation through ("raise") or completes ("complete")."""

    @workflow.run
    async def run(self, ending: str) -> dict:
        try:
            await workflow.execute_activity(
                "settle_transfers", {"transfers": [], "seconds_per_transfer": 0}, start_to_close_timeout=timedelta(minutes=1),
                heartbeat_timeout=timedelta(seconds=5), cancellation_type=Type.WAIT_CANCELLATION_COMPLETED,
            )
        except BaseException:
            if ending != "complete":
                raise
        return {"transfers": 0, "settled": 0, "released": 0, "cancelled": True}  # read as the target's BatchReport


@pytest.mark.part("B")
async def test_b_cancel_batch_waits_until_the_batch_has_ended(target, client: Client):
    shared = target.load(MODULE, "shared")
    client_code = target.load(MODULE, "client")
    settle = SettleUntilCancelled(shared)
    async with running_worker(client, [StandInBatch], [settle.activity], **FAST_HEARTBEATS) as queue:
        for ending, expected in (("raise", WorkflowExecutionStatus.CANCELED), ("complete", WorkflowExecutionStatus.COMPLETED)):
            settle.started.clear()
            handle = await client.start_workflow(StandInBatch.run, ending, id=unique_id("batch"), task_queue=queue)
            await asyncio.wait_for(settle.started.wait(), 10)
            status = await call_learner("B", client_code.cancel_batch, client, handle.id, "check: wrong batch")
            now = await status_of(handle)
            assert now != "RUNNING", (
                "Part B: cancel_batch returned while the batch was still running. handle.cancel() returns once the "
                "server has recorded the request; wait for the batch to end (handle.result()) before saying how."
            )
            assert status == expected, (
                f"Part B: the batch ended {now}, but cancel_batch returned {status!r}. Return its status, from "
                f"handle.describe(), once it has ended (a batch that handles the cancellation ends COMPLETED)."
            )
            requests = [e.workflow_execution_cancel_requested_event_attributes for e in await history_events(handle)
                        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED]
            assert requests and requests[0].cause == "check: wrong batch", (
                "Part B: the cancellation request should carry the reason given to cancel_batch: "
                "handle.cancel(reason=reason)."
            )
    assert [d.cancel_requested for d in settle.cancellations] == [True, True], (
        "Part B: the settling activity should have seen the cancellation (asyncio.CancelledError) at a heartbeat."
    )


# --------------------------------------------------------------------------- Part C


async def cancelled_batch(target, client: Client, bank: Bank, learner_activities, **options):
    """Run the learner's batch with its real holds and cleanup, cancel it while it settles; return the
    handle, how it ended and the batch's holds."""
    shared = target.load(MODULE, "shared")
    workflows = target.load(MODULE, "workflow")
    settle = SettleUntilCancelled(shared)
    batch = make_batch(shared, 4, **options)
    activities = [learner_activities.place_holds, settle.activity, learner_activities.release_holds]
    async with running_worker(client, [workflows.TransferBatchWorkflow], activities, **FAST_HEARTBEATS) as queue:
        handle = await client.start_workflow(workflows.TransferBatchWorkflow.run, batch, id=unique_id("batch"),
                                             task_queue=queue)
        await asyncio.wait_for(settle.started.wait(), 10)
        await handle.cancel(reason="check: cancel the batch")
        outcome = await ended(handle, "C", "stopping the cancelled batch")
    return handle, outcome, holds_of(bank, batch.reference)


@pytest.mark.part("C")
async def test_c_a_cancelled_batch_releases_its_holds_and_ends_canceled(target, client, bank, learner_activities):
    handle, outcome, holds = await cancelled_batch(target, client, bank, learner_activities)
    assert holds["active"] == 0, (
        f"Part C: the batch was cancelled, and {holds['active']} of its 4 holds are still active: nothing released "
        "them. Release them in a `finally` block, with BankActivities.release_holds."
    )
    assert holds["released"] == 4, f"Part C: the cleanup should have released the 4 holds; holds: {holds}."
    status = await status_of(handle)
    assert status == "CANCELED" and isinstance(outcome, WorkflowFailureError) and \
        isinstance(outcome.cause, CancelledError), (
        f"Part C: a batch with complete_when_cancelled=False should end Canceled, letting the cancellation "
        f"through after its cleanup; it ended {status}."
    )


@pytest.mark.part("C")
async def test_c_a_batch_that_handles_its_cancellation_completes_with_a_report(target, client, bank,
                                                                             learner_activities):
    handle, outcome, holds = await cancelled_batch(target, client, bank, learner_activities,
                                                   complete_when_cancelled=True)
    status = await status_of(handle)
    assert status == "COMPLETED" and not isinstance(outcome, BaseException), (
        f"Part C: with complete_when_cancelled=True the batch should handle the cancellation (catch it, do not "
        f"re-raise) and complete with a report; it ended {status}. temporalio.exceptions.is_cancelled_exception "
        "tells a cancellation from another failure."
    )
    assert outcome.cancelled and outcome.released == 4 and outcome.settled == 0, (
        f"Part C: the report of the cancelled batch should say cancelled=True, released=4, settled=0 (what the "
        f"cleanup found); it says {outcome}."
    )
    assert holds["released"] == 4, f"Part C: the cleanup should have released the 4 holds; holds: {holds}."


@pytest.mark.part("C")
async def test_c_a_cancellation_during_the_cleanup_does_not_stop_it(target, client: Client):
    shared = target.load(MODULE, "shared")
    workflows = target.load(MODULE, "workflow")
    cleanup_started, cancel_sent = asyncio.Event(), asyncio.Event()
    told: list = []

    @activity.defn(name="settle_transfers")
    async def settle_transfers(settlement: shared.Settlement) -> shared.Settled:
        return shared.Settled(len(settlement.transfers), 1, 0)

    @activity.defn(name="release_holds")
    async def release_holds(transfers: list[shared.HeldTransfer]) -> shared.Cleanup:
        cleanup_started.set()
        await cancel_sent.wait()
        try:
            for _ in range(12):  # 0.6 s of work, heartbeating: time enough to be told of a cancellation
                activity.heartbeat()
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            told.append(activity.cancellation_details())
            raise
        return shared.Cleanup(0, len(transfers))

    batch_workflow = workflows.TransferBatchWorkflow
    activities = [stand_in_holds(shared), settle_transfers, release_holds]
    async with running_worker(client, [batch_workflow], activities, **FAST_HEARTBEATS) as queue:
        handle = await client.start_workflow(batch_workflow.run, make_batch(shared, 2), id=unique_id("batch"),
                                             task_queue=queue)

        async def cleanup_started_or_batch_ended() -> bool:
            return cleanup_started.is_set() or await status_of(handle) != "RUNNING"

        await eventually(cleanup_started_or_batch_ended, 10, "Part C: the cleanup started, or the batch ended")
        assert cleanup_started.is_set(), (
            f"Part C: the batch settled every transfer and ended {await status_of(handle)} without running its cleanup: "
            "the `finally` block runs however the batch ends, and releases what is left."
        )
        await handle.cancel(reason="check: cancel during the cleanup")
        cancel_sent.set()
        await ended(handle, "C", "finishing the cleanup")
    events = await history_events(handle)
    cleanup_id = next(e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                      and e.activity_task_scheduled_event_attributes.activity_type.name == "release_holds")
    cancel_requests = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED
                       and e.activity_task_cancel_requested_event_attributes.scheduled_event_id == cleanup_id]
    assert not cancel_requests and not any(d.cancel_requested for d in told), (
        "Part C: the cancellation that arrived during the cleanup cancelled the cleanup activity itself. Wait for "
        "it through asyncio.shield(...), so that the cancellation does not reach it."
    )
    completed = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                 and e.activity_task_completed_event_attributes.scheduled_event_id == cleanup_id]
    assert completed, (
        f"Part C: the batch ended {named(events[-1])} before its cleanup had finished: asyncio.shield raises the "
        "CancelledError at once. Catch it and await the cleanup activity's handle again."
    )


# --------------------------------------------------------------------------- Part D


@pytest.mark.part("D")
async def test_d_a_terminated_batch_runs_no_cleanup(target, client: Client, bank, learner_activities):
    shared = target.load(MODULE, "shared")
    workflows = target.load(MODULE, "workflow")
    client_code = target.load(MODULE, "client")
    batch = make_batch(shared, 10, seconds_per_transfer=0.3)  # 3 s: time enough to terminate it halfway
    activities = [learner_activities.place_holds, learner_activities.settle_transfers, learner_activities.release_holds]
    async with running_worker(client, [workflows.TransferBatchWorkflow], activities, **FAST_HEARTBEATS) as queue:
        handle = await client.start_workflow(workflows.TransferBatchWorkflow.run, batch, id=unique_id("batch"),
                                             task_queue=queue)

        async def one_settled() -> bool:
            return holds_of(bank, batch.reference)["captured"] >= 1

        await eventually(one_settled, 15, "Part D: the batch settled its first transfer")
        status = await call_learner("D", client_code.terminate_batch, client, handle.id, "check: terminate", seconds=15)
        assert status == WorkflowExecutionStatus.TERMINATED, (
            f"Part D: terminate_batch returned {status!r} and the batch is {await status_of(handle)}: terminate it "
            "with handle.terminate(reason=...), then return its status."
        )
        holds = holds_of(bank, batch.reference)
    events = await history_events(handle)
    last = events[-1]
    assert named(last) == "WORKFLOW_EXECUTION_TERMINATED" and \
        last.workflow_execution_terminated_event_attributes.reason == "check: terminate", (
        f"Part D: the history should end with the termination and its reason; it ends with {named(last)}."
    )
    cleanups = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                and e.activity_task_scheduled_event_attributes.activity_type.name == "release_holds"]
    assert not cleanups and holds["released"] == 0 and holds["active"] > 0, (
        f"Part D: a terminated batch runs no more code, so no cleanup: its unsettled holds stay active. Found "
        f"{len(cleanups)} cleanup(s) scheduled and holds {holds}."
    )


# --------------------------------------------------------------------------- Part E


async def cancel_with(target, client: Client, cancellation_type: ActivityCancellationType):
    """Cancel a learner's batch that settles with this cancellation type: its history, and what the settling
    activity heard while the workflow was open."""
    shared = target.load(MODULE, "shared")
    workflows = target.load(MODULE, "workflow")
    settle = SettleUntilCancelled(shared)

    @activity.defn(name="release_holds")
    async def release_holds(transfers: list[shared.HeldTransfer]) -> shared.Cleanup:
        return shared.Cleanup(len(transfers), 0)

    batch = make_batch(shared, 2, cancellation_type=cancellation_type)
    batch_workflow = workflows.TransferBatchWorkflow
    activities = [stand_in_holds(shared), settle.activity, release_holds]
    async with running_worker(client, [batch_workflow], activities, **FAST_HEARTBEATS) as queue:
        handle = await client.start_workflow(batch_workflow.run, batch, id=unique_id("batch"), task_queue=queue)
        await asyncio.wait_for(settle.started.wait(), 10)
        await handle.cancel()
        await ended(handle, "E", f"stopping a batch cancelled with {cancellation_type.name}")
        told_while_open = [d for d in settle.cancellations if d.cancel_requested]
        # Let the activity stop before its worker does: at its next heartbeat it hears of the cancellation or,
        # if its workflow has closed meanwhile (TRY_CANCEL, ABANDON), that the workflow is gone.
        await asyncio.wait_for(_until(lambda: settle.cancellations), 10)
    return await history_events(handle), told_while_open


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.05)


def order(events) -> tuple[int | None, int | None, int]:
    """Positions of the settling activity's cancel request and cancellation, and of the first step the
    workflow took after the cancellation request (the cleanup, or the end)."""
    settle_id = next(e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                     and e.activity_task_scheduled_event_attributes.activity_type.name == "settle_transfers")
    asked = cancelled = None
    moved_on = len(events)
    seen_request = False
    for i, e in enumerate(events):
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
            seen_request = True
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED and \
                e.activity_task_cancel_requested_event_attributes.scheduled_event_id == settle_id:
            asked = i
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED and \
                e.activity_task_canceled_event_attributes.scheduled_event_id == settle_id:
            cancelled = i
        elif seen_request and moved_on == len(events) and named(e) in (
                "ACTIVITY_TASK_SCHEDULED", "WORKFLOW_EXECUTION_CANCELED", "WORKFLOW_EXECUTION_COMPLETED",
                "WORKFLOW_EXECUTION_FAILED"):
            moved_on = i
    return asked, cancelled, moved_on


@pytest.mark.part("E")
async def test_e_each_cancellation_type_gives_its_own_event_order(target, client: Client):
    runs = await asyncio.gather(*(cancel_with(target, client, t)
                                  for t in (Type.WAIT_CANCELLATION_COMPLETED, Type.ABANDON, Type.TRY_CANCEL)))
    (wait_events, wait_told), (abandon_events, abandon_told), (try_events, _) = runs

    asked, cancelled, moved_on = order(wait_events)
    assert asked is not None and cancelled is not None and cancelled < moved_on, (
        "Part E: with WAIT_CANCELLATION_COMPLETED the workflow should go on only once the settling activity has "
        "stopped (ActivityTaskCancelRequested, ActivityTaskCanceled, then the cleanup); it went on before. Pass "
        "batch.cancellation_type to execute_activity_method."
    )
    asked, cancelled, moved_on = order(abandon_events)
    assert asked is None and not abandon_told, (
        "Part E: with ABANDON the settling activity is not asked to stop (no ActivityTaskCancelRequested); it was. "
        "Pass batch.cancellation_type to execute_activity_method."
    )
    asked, cancelled, moved_on = order(try_events)
    assert asked is not None and (cancelled is None or cancelled > moved_on), (
        "Part E: with TRY_CANCEL the activity is asked to stop (ActivityTaskCancelRequested) and the workflow goes "
        "on at once, without waiting for ActivityTaskCanceled. Pass batch.cancellation_type to execute_activity_method."
    )
    assert wait_told, "Part E: with WAIT_CANCELLATION_COMPLETED the activity should be told of the cancellation."
