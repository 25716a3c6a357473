"""Check suite of module 08, message handlers and compensation: `python -m workshop check 08`.

Every check runs batches on the dev server (updates need a real server) with the module's real bank
activities, so that what happened to the money is read from the bank: holds, balances, ledger. The payee
check is a stand-in that answers when the check opens its gate: the check decides whether the batch
ends while an add_transfer is still running.

Parts are checked one at a time: checks of Parts A, C and D run the learner's batch with the waits of
Part B (and, for Part C, of Part D) done for it by a workflow interceptor (`WaitForHandlersOnExit`), so
that an unsolved Part B or D does not fail them. Between them, the checks of Parts B, C and D cover all
eight cells of the runner's matrix: four endings, two update actions.

No `from __future__ import annotations` in check suites: the stand-ins' type hints name classes of the
target module and must be evaluated where they are defined.
"""

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
    WorkflowUpdateStage,
)
from temporalio.exceptions import CancelledError, FailureError
from temporalio.service import RPCError
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from workshop.bank import BankClient
from workshop.testing import history_events, root_cause, running_worker, unique_id

MODULE = "08"
AMOUNT = 1_000
# On the pristine exercise, batches exit under their handlers: the point of Part B, not news for the report.
pytestmark = pytest.mark.filterwarnings("ignore::temporalio.workflow.UnfinishedUpdateHandlersWarning")
CLOSED = {EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
          EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW}


class PayeeGates:
    """A stand-in for the check_payee activity: it answers "Bob" once the check opens the transfer's gate."""

    def __init__(self, shared) -> None:
        self.entered: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.gates: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)

        @activity.defn(name="check_payee")
        async def check_payee(transfer: shared.Transfer) -> str:
            self.entered[transfer.transfer_id].set()
            await self.gates[transfer.transfer_id].wait()
            return "Bob"

        self.activity = check_payee

    def open(self, transfer_id: str) -> None:
        self.gates[transfer_id].set()

    def open_all(self) -> None:
        for gate in list(self.gates.values()):
            gate.set()


def bank_activities(target, bank_client: BankClient, gates: PayeeGates) -> list:
    real = target.load(MODULE, "activities").BankActivities(bank_client)
    return [real.place_hold, real.release_hold, real.capture_hold, real.deposit, gates.activity]


class WaitForHandlersOnExit(Interceptor):
    """Part B's waits, done for the learner's batch (and, with `before_continue_as_new`, Part D's): checks of
    the other Parts run with it, so that an unsolved Part B or D does not fail them.

    Why this stands in for the learner's waits: it waits for `workflow.all_handlers_finished` just outside
    the learner's `run`, once `run` has returned, failed, been cancelled or (with the flag) continued as new.
    By then the given code of `run` has set `_closed` and `_exit_reason`, so a handler sees the exit exactly
    as with Part B solved (Part C compensates, `continue` carries on), and the run ends as the learner's code
    decided, only later.
    What it cannot do is make a batch that returns settle a transfer still being added (`_settle` runs inside
    `run`, before this wait): no check of A, C or D asserts that. With the learner's own waits in place, it
    has nothing left to wait for.
    """

    def __init__(self, *, before_continue_as_new: bool = False) -> None:
        self.exits: tuple[type[BaseException], ...] = (FailureError, asyncio.CancelledError)
        if before_continue_as_new:
            self.exits += (workflow.ContinueAsNewError,)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        exits = self.exits

        class WaitingRun(WorkflowInboundInterceptor):
            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                try:
                    result = await super().execute_workflow(input)
                except exits:
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    raise
                await workflow.wait_condition(workflow.all_handlers_finished)
                return result

        return WaitingRun


@dataclass
class Cell:
    """One batch of a check: the batch's handle, its first transfer and that transfer's update."""

    ending: str
    action: str
    handle: WorkflowHandle
    transfer: Any  # the target module's Transfer
    update: WorkflowUpdateHandle


async def start_cell(client: Client, queue: str, batch_workflow, shared, ending: str, action: str,
                     gates: PayeeGates, answer_at_once: bool) -> Cell:
    """Start a batch that ends as `ending`, and add one transfer to it: the batch closes under it."""
    transfer = shared.Transfer(unique_id("t"), "alice", "bob", AMOUNT, on_batch_exit=action)
    if answer_at_once:
        gates.open(transfer.transfer_id)
    handle = await client.start_workflow(batch_workflow.run, shared.BatchInput(unique_id("B"), ending),
                                         id=unique_id("batch"), task_queue=queue)
    update = await handle.start_update(batch_workflow.add_transfer, transfer,
                                       wait_for_stage=WorkflowUpdateStage.ACCEPTED)
    return Cell(ending, action, handle, transfer, update)


async def soon(condition, what: str, part: str, seconds: float = 15) -> None:
    """Poll `condition` often (the checks wait for a handful of workflow tasks, each a few milliseconds)."""
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"Part {part}: not within {seconds:.0f} s: {what}. Is the worker stuck "
                                 "(a failing workflow task, see the Web UI)?")
        await asyncio.sleep(0.02)


async def closed(handle: WorkflowHandle) -> bool:
    return any(event.event_type in CLOSED for event in await history_events(handle))


async def cancel_while_payee_is_checked(cell: Cell, gates: PayeeGates, part: str) -> None:
    """Cancel the batch while its transfer's payee check runs; answer the check once the run has seen it."""
    transfer_id = cell.transfer.transfer_id
    await soon(lambda: entered_or_closed(cell.handle, transfer_id, gates), f"the payee check of {transfer_id} started", part)
    await cell.handle.cancel()

    async def cancel_handled() -> bool:
        types = [event.event_type for event in await history_events(cell.handle)]
        if EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED not in types:
            return False
        after = types[types.index(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED):]
        return EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED in after or bool(CLOSED.intersection(after))

    await soon(cancel_handled, "the batch's run handled the cancellation", part)
    gates.open(transfer_id)


async def stop_if_running(handle: WorkflowHandle) -> None:
    if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        await handle.terminate("check finished")


async def task_completed(handle: WorkflowHandle) -> bool:
    return any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for e in await history_events(handle))


async def entered_or_closed(handle: WorkflowHandle, transfer_id: str, gates: PayeeGates) -> bool:
    return gates.entered[transfer_id].is_set() or await closed(handle)


async def update_outcome(update) -> tuple[Any, str]:
    """(the update's result, "") or (None, what its caller got instead)."""
    try:
        return await asyncio.wait_for(update, 15), ""
    except WorkflowUpdateFailedError as err:
        return None, root_cause(err)
    except RPCError as err:
        return None, err.message
    except asyncio.TimeoutError:
        return None, "no answer within 15 s"


async def run_end(client: Client, handle: WorkflowHandle) -> tuple[str, Any]:
    """How the handle's first run ended, without following continue-as-new."""
    first_run = client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
    for _ in range(750):
        status = (await first_run.describe()).status
        if status == WorkflowExecutionStatus.CONTINUED_AS_NEW:
            return "continued as new", None
        if status != WorkflowExecutionStatus.RUNNING:
            return await batch_end(first_run)
        await asyncio.sleep(0.02)
    return "still running after 15 s", None


async def batch_end(handle: WorkflowHandle) -> tuple[str, Any]:
    """How the batch's workflow ended: ("completed", result), ("failed", message) or ("cancelled", None)."""
    try:
        return "completed", await asyncio.wait_for(handle.result(), 15)
    except WorkflowFailureError as err:
        if isinstance(err.cause, CancelledError):
            return "cancelled", None
        return "failed", root_cause(err)
    except asyncio.TimeoutError:
        return "still running after 15 s", None


def hold_of(bank, transfer_id: str) -> dict | None:
    """The hold at the bank that reserves the money of `transfer_id` (its reference names the transfer)."""
    response = bank.http.get("/accounts/alice/holds", params={"limit": 1000})
    response.raise_for_status()
    found = [hold for hold in response.json()["holds"] if transfer_id in (hold["reference"] or "").split()]
    return found[0] if found else None


def ledger_entries(bank, account: str, transfer_id: str) -> list[dict]:
    return [entry for entry in bank.ledger(account) if transfer_id in (entry["reference"] or "").split()]


# --------------------------------------------------------------------------- Part A


@pytest.mark.part("A")
async def test_the_validator_rejects_bad_transfers_before_anything_is_recorded(target, client, bank):
    shared = target.load(MODULE, "shared")
    batch_workflow = target.load(MODULE, "workflow").TransferBatchWorkflow
    gates = PayeeGates(shared)
    async with BankClient() as bank_client, \
            running_worker(client, [batch_workflow], bank_activities(target, bank_client, gates),
                           interceptors=[WaitForHandlersOnExit()]) as queue:
        # A batch of two transfers: it stays open after the first, then closes (and fails) after the second.
        handle = await client.start_workflow(batch_workflow.run,
                                             shared.BatchInput(unique_id("B"), shared.FAILURE, size=2),
                                             id=unique_id("batch"), task_queue=queue)
        try:
            await soon(lambda: task_completed(handle), "the batch's first workflow task completed", "A")
            length = len(await history_events(handle))
            bad = [
                ("an amount of 0", shared.Transfer(unique_id("t"), "alice", "bob", 0)),
                ("a negative amount", shared.Transfer(unique_id("t"), "alice", "bob", -500)),
                ("the same source and target", shared.Transfer(unique_id("t"), "alice", "alice", AMOUNT)),
                ("an unknown on_batch_exit", shared.Transfer(unique_id("t"), "alice", "bob", AMOUNT, "retry")),
            ]
            for what, transfer in bad:  # one at a time: updates sent together can get their workflow task recorded
                await assert_rejected(handle, batch_workflow, transfer, what, length, accepted_before=0)

            first = shared.Transfer(unique_id("t"), "alice", "bob", AMOUNT)
            updates = [await accept(handle, batch_workflow, first)]
            duplicate = shared.Transfer(first.transfer_id, "alice", "carol", AMOUNT)
            await assert_rejected(handle, batch_workflow, duplicate, "the ID of a transfer already in the batch",
                                  None, accepted_before=1)
            second = shared.Transfer(unique_id("t"), "alice", "carol", AMOUNT)
            updates.append(await accept(handle, batch_workflow, second))
            # The batch has closed: it fails, but waits for both handlers first (their payee checks hang).
            await soon(lambda: entered_or_closed(handle, second.transfer_id, gates),
                       "the second transfer's payee check started", "A")
            late = shared.Transfer(unique_id("t"), "alice", "bob", AMOUNT)
            await assert_rejected(handle, batch_workflow, late, "a batch that has closed", None, accepted_before=2)
            gates.open_all()
            for transfer, update in zip((first, second), updates, strict=True):
                added, problem = await update_outcome(update.result())
                assert added is not None, f"Part A: the good transfer {transfer.transfer_id} failed: {problem}"
        finally:
            gates.open_all()
            await stop_if_running(handle)


async def accept(handle: WorkflowHandle, batch_workflow, transfer) -> WorkflowUpdateHandle:
    try:
        return await handle.start_update(batch_workflow.add_transfer, transfer,
                                         wait_for_stage=WorkflowUpdateStage.ACCEPTED)
    except WorkflowUpdateFailedError as err:
        raise AssertionError(f"Part A: a good transfer was rejected: {root_cause(err)} ({transfer})") from err


async def assert_rejected(handle: WorkflowHandle, batch_workflow, transfer, what: str, length: int | None,
                          accepted_before: int) -> None:
    try:
        await asyncio.wait_for(handle.execute_update(batch_workflow.add_transfer, transfer), 15)
        outcome = "was added"
    except WorkflowUpdateFailedError as err:
        outcome = f"failed ({root_cause(err)})"
    except asyncio.TimeoutError:
        outcome = "got no answer within 15 s"
    events = await history_events(handle)
    accepted = sum(1 for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
    assert accepted == accepted_before, (
        f"Part A: a transfer with {what} was accepted and then {outcome}; the history records it "
        "(WorkflowExecutionUpdateAccepted). Refuse it in validate_transfer, before anything is recorded."
    )
    assert outcome.startswith("failed"), f"Part A: a transfer with {what} {outcome}; it should be rejected."
    if length is not None:
        assert len(events) == length, (
            f"Part A: rejecting a transfer with {what} added {len(events) - length} events to the history; "
            "a rejection by the validator adds none."
        )


# --------------------------------------------------------------------------- Part B


@pytest.mark.part("B")
async def test_the_batch_waits_for_the_update_in_flight_however_it_exits(target, client, bank):
    shared = target.load(MODULE, "shared")
    batch_workflow = target.load(MODULE, "workflow").TransferBatchWorkflow  # the learner's own, waits and all
    gates = PayeeGates(shared)
    async with BankClient() as bank_client, \
            running_worker(client, [batch_workflow], bank_activities(target, bank_client, gates)) as queue:
        # Every caller that chose `continue`, and one that chose `abort_with_compensation` in a batch that
        # settles: a batch that settles lets its handlers finish, whatever they chose.
        cells = [await start_cell(client, queue, batch_workflow, shared, ending, action, gates,
                                  answer_at_once=ending != shared.CANCELLATION)
                 for ending, action in ((shared.SUCCESS, shared.CONTINUE), (shared.SUCCESS, shared.ABORT_WITH_COMPENSATION),
                                        (shared.FAILURE, shared.CONTINUE), (shared.CANCELLATION, shared.CONTINUE))]
        try:
            await cancel_while_payee_is_checked(cells[3], gates, "B")
            outcomes = await asyncio.gather(*(update_outcome(cell.update.result()) for cell in cells))
            ends = await asyncio.gather(*(batch_end(cell.handle) for cell in cells))
        finally:
            gates.open_all()
            for cell in cells:
                await stop_if_running(cell.handle)

    exits = {shared.SUCCESS: ("settled", "settles"), shared.FAILURE: ("failed", "fails"),
             shared.CANCELLATION: ("was cancelled", "is cancelled")}
    for cell, (added, problem), (end, detail) in zip(cells, outcomes, ends, strict=True):
        did, does = exits[cell.ending]
        assert added is not None, (
            f"Part B: the batch {did} while add_transfer (on_batch_exit={cell.action}) was still running, and "
            f"its caller got '{problem}' instead of the transfer. Wait for all handlers to finish "
            f"(workflow.all_handlers_finished) before the batch {does}."
        )
        expected_end = {shared.SUCCESS: "completed", shared.FAILURE: "failed", shared.CANCELLATION: "cancelled"}
        assert end == expected_end[cell.ending], (
            f"Part B: a batch that {does} should end {expected_end[cell.ending]}, after its handlers; "
            f"it ended {end} ({detail})."
        )
    for cell, (_, result) in zip(cells, ends, strict=True):
        transfer_id = cell.transfer.transfer_id
        hold = hold_of(bank, transfer_id)
        status = hold["status"] if hold else "never placed"
        if cell.ending != shared.SUCCESS:  # added to a batch that then failed or was cancelled: still reserved
            assert status == "active", f"Part B: the hold of {transfer_id}, added with `continue`, is {status}."
            continue
        assert result.settled == [transfer_id], (
            f"Part B: the batch settled {result.settled}; it should settle the transfer that was being added "
            f"when it closed ({transfer_id}): wait for the handlers before _settle."
        )
        assert status == "captured", f"Part B: the settled transfer's hold should be captured at the bank; it is {status}."
        assert ledger_entries(bank, "bob", transfer_id), (
            f"Part B: the money of the settled transfer {transfer_id} never reached bob (no deposit in his ledger)."
        )


# --------------------------------------------------------------------------- Part C


@pytest.mark.part("C")
async def test_the_handler_gives_the_money_back_when_the_run_exits_under_it(target, client, bank):
    shared = target.load(MODULE, "shared")
    batch_workflow = target.load(MODULE, "workflow").TransferBatchWorkflow
    gates = PayeeGates(shared)
    alice_before = bank.balance("alice")
    async with BankClient() as bank_client, \
            running_worker(client, [batch_workflow], bank_activities(target, bank_client, gates),
                           interceptors=[WaitForHandlersOnExit(before_continue_as_new=True)]) as queue:
        cells = [await start_cell(client, queue, batch_workflow, shared, ending, shared.ABORT_WITH_COMPENSATION,
                                  gates, answer_at_once=ending != shared.CANCELLATION)
                 for ending in (shared.FAILURE, shared.CANCELLATION, shared.CONTINUE_AS_NEW)]
        try:
            await cancel_while_payee_is_checked(cells[1], gates, "C")
            outcomes = await asyncio.gather(*(update_outcome(cell.update.result()) for cell in cells))
            # The first two batches end; the third one's next run waits for transfers: its first run's end counts.
            ends = [*await asyncio.gather(*(batch_end(cell.handle) for cell in cells[:2])),
                    await run_end(client, cells[2].handle)]
        finally:
            gates.open_all()
            for cell in cells:
                await stop_if_running(client.get_workflow_handle(cell.handle.id))

    hows = {shared.FAILURE: ("failed", "failed"), shared.CANCELLATION: ("was cancelled", "cancelled"),
            shared.CONTINUE_AS_NEW: ("continued as new", "continued as new")}
    for cell, (added, problem), (end, _) in zip(cells, outcomes, ends, strict=True):
        how, expected_end = hows[cell.ending]
        transfer_id = cell.transfer.transfer_id
        hold = hold_of(bank, transfer_id)
        status = hold["status"] if hold else "never placed"
        assert added is None, (
            f"Part C: the batch {how} while {transfer_id} was being added with on_batch_exit="
            f"abort_with_compensation, yet its caller was told the transfer was added, and its hold is {status}. "
            "Wait for the payee check or self._exit_reason, whichever comes first; then release the hold and "
            "raise an ApplicationError."
        )
        assert "completed before the Update completed" not in problem, (
            f"Part C: the run {how} before add_transfer finished ({problem}): the handler should fail the "
            "update itself, after releasing the hold."
        )
        assert status == "released", (
            f"Part C: the update failed ({problem}), but the hold of {transfer_id} is {status} at the bank: "
            "release it (self._release) before failing the update."
        )
        assert end == expected_end, (
            f"Part C: the batch should still have {how} after its handler compensated; it ended {end}."
        )
    assert bank.balance("alice") == alice_before and not any(
        ledger_entries(bank, "alice", cell.transfer.transfer_id) for cell in cells
    ), "Part C: the compensated transfers moved money (alice's ledger has entries for them); a hold moves none."


# --------------------------------------------------------------------------- Part D


@pytest.mark.part("D")
async def test_continue_as_new_waits_for_the_update_and_the_next_run_takes_the_batch(target, client, bank):
    shared = target.load(MODULE, "shared")
    batch_workflow = target.load(MODULE, "workflow").TransferBatchWorkflow
    gates = PayeeGates(shared)
    async with BankClient() as bank_client, \
            running_worker(client, [batch_workflow], bank_activities(target, bank_client, gates),
                           interceptors=[WaitForHandlersOnExit()]) as queue:
        cell = await start_cell(client, queue, batch_workflow, shared, shared.CONTINUE_AS_NEW, shared.CONTINUE,
                                gates, answer_at_once=True)
        try:
            added, problem = await update_outcome(cell.update.result())
            assert added is not None, (
                "Part D: the batch continued as new while add_transfer was still running, and its caller got "
                f"'{problem}'. Wait for all handlers to finish before workflow.continue_as_new."
            )
            second = shared.Transfer(unique_id("t"), "alice", "bob", AMOUNT)
            gates.open(second.transfer_id)
            latest = client.get_workflow_handle_for(batch_workflow.run, cell.handle.id)  # the latest run
            added, problem = await update_outcome(latest.execute_update(batch_workflow.add_transfer, second))
            assert added is not None, f"Part D: add_transfer sent to the run after continue-as-new failed: {problem}"
            end, result = await batch_end(cell.handle)
        finally:
            gates.open_all()
            # Without the hand-over's wait, the next run never gets a transfer and would wait forever.
            await stop_if_running(client.get_workflow_handle(cell.handle.id))
    assert end == "completed", f"Part D: the run after continue-as-new should settle the batch; it ended {end} ({result})."
    first_id = cell.transfer.transfer_id
    assert first_id in result.settled, (
        f"Part D: the next run settled {result.settled}, without {first_id}, which was added before "
        "continue-as-new: its money stays held. Hand the batch's transfers over in continue_as_new's BatchInput "
        "(carried_over)."
    )
    hold = hold_of(bank, first_id)
    assert hold is not None and hold["status"] == "captured", (
        f"Part D: the hold of {first_id} should be captured once the next run settled; it is {hold and hold['status']}."
    )
