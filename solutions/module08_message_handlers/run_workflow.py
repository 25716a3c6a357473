"""Adds a transfer to a batch while the batch ends, in each of its four ways, with each update action.

    python -m workshop run 08 --embedded                          # all of it: 4 endings x 2 update actions
    python -m workshop run 08 --embedded --ending failure         # one ending, both actions
    python -m workshop run 08 --embedded --ending cancellation --action abort_with_compensation

Every batch closes while its transfer t1 is still being added. For continue-as-new, a second transfer t2
goes to the run that continue-as-new started. Without --embedded, start a worker first:
`python -m workshop worker 08`.

Three endings come from the batch itself, in the workflow task that accepts t1. The cancellation comes
from the runner, once the batch's history shows t1's payee check scheduled (so its hold is placed). With
--embedded, that check's answer also waits until the run has taken the cancellation (GatedPayeeChecks):
a busy machine cannot change the order. A worker of its own answers after 0.2 s, usually time enough.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.exceptions import CancelledError
from temporalio.service import RPCError

from workshop.bank import BankClient
from workshop.connection import connect, run_script
from workshop.money import format_cents

from .activities import BankActivities
from .shared import (
    CANCELLATION,
    CONTINUE_AS_NEW,
    EXIT_TYPES,
    UPDATE_ACTIONS,
    BatchInput,
    Transfer,
    TransferAdded,
    batch_workflow_id,
    task_queue,
)
from .worker import build_worker
from .workflow import TransferBatchWorkflow

SOURCE, TARGET, AMOUNT_CENTS = "alice", "bob", 1_000


@dataclass
class Cell:
    """One batch of the matrix: what the callers of add_transfer saw, how the batch ended, and its holds."""

    ending: str
    action: str
    updates: dict[str, str] = field(default_factory=dict)  # transfer ID -> "added ..." or "failed: ..."
    batch: str = ""  # "completed, settled ...", "failed: ..." or "cancelled"
    holds: dict[str, str] = field(default_factory=dict)  # transfer ID -> the hold's status at the bank


class GatedPayeeChecks(BankActivities):
    """The module's activities, but a payee check answers only once the runner opens its batch's gate.

    Only a worker in the runner's process (--embedded) can be gated; the runner gates the batches it cancels.
    """

    def __init__(self, bank: BankClient) -> None:
        super().__init__(bank)
        self.gates: dict[str, asyncio.Event] = {}  # a batch's workflow ID -> set once its payee may answer

    @activity.defn(name="check_payee")
    async def check_payee(self, transfer: Transfer) -> str:
        payee = await super().check_payee(transfer)
        gate = self.gates.get(activity.info().workflow_id or "")
        if gate is not None:
            await gate.wait()
        return payee


async def update_outcome(update: Awaitable[TransferAdded]) -> str:
    """What the caller of add_transfer gets: the transfer added, or why the update failed."""
    try:
        added = await update
    except WorkflowUpdateFailedError as err:
        return f"failed: {root_message(err)}"
    except RPCError as err:  # no update to wait for: say, the workflow had closed already
        return f"failed: {err.message}"
    return f"added, {format_cents(AMOUNT_CENTS)} held on {SOURCE} for {added.payee}"


def root_message(error: BaseException) -> str:
    """The innermost message of a failure chain (update failure -> activity -> application error)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause  # type: ignore[attr-defined]
    return getattr(error, "message", None) or str(error)


async def run_cell(client: Client, bank: BankClient, ending: str, action: str,
                   gated: GatedPayeeChecks | None = None) -> Cell:
    cell = Cell(ending, action)
    batch = BatchInput(f"B-{uuid.uuid4().hex[:8]}", ending)
    workflow_id = batch_workflow_id(batch.batch_id)
    if ending == CANCELLATION and gated:
        gated.gates[workflow_id] = asyncio.Event()
    handle = await client.start_workflow(TransferBatchWorkflow.run, batch, id=workflow_id, task_queue=task_queue())
    first = Transfer("t1", SOURCE, TARGET, AMOUNT_CENTS, on_batch_exit=action)
    # Returns once a worker has accepted the update: its handler is running, and the batch closes under it.
    update = await handle.start_update(TransferBatchWorkflow.add_transfer, first,
                                       wait_for_stage=WorkflowUpdateStage.ACCEPTED)
    if ending == CANCELLATION:
        await cancel_while_payee_is_checked(handle, gated)
    cell.updates["t1"] = await update_outcome(update.result())

    if ending == CONTINUE_AS_NEW:
        # A handle without a run ID reaches the latest run: the one that continue-as-new started.
        latest = client.get_workflow_handle_for(TransferBatchWorkflow.run, handle.id)
        second = Transfer("t2", SOURCE, TARGET, AMOUNT_CENTS, on_batch_exit=action)
        cell.updates["t2"] = await update_outcome(latest.execute_update(TransferBatchWorkflow.add_transfer, second))

    try:
        result = await handle.result()  # follows the batch from run to run
        cell.batch = f"completed, settled {', '.join(result.settled) or 'nothing'}"
    except WorkflowFailureError as failure:
        cell.batch = "cancelled" if isinstance(failure.cause, CancelledError) else f"failed: {root_message(failure)}"

    holds = (await bank.call("GET", f"/accounts/{SOURCE}/holds?limit=1000"))["holds"]
    for transfer_id in cell.updates:
        reference = f"transfer {transfer_id} in batch {batch.batch_id}"
        cell.holds[transfer_id] = next((h["status"] for h in holds if h["reference"] == reference), "none")
    return cell


async def cancel_while_payee_is_checked(handle: WorkflowHandle, gated: GatedPayeeChecks | None) -> None:
    """An operator cancels the batch once its history shows t1's hold placed and its payee check out; a gated
    check then answers only after the run has taken the cancellation."""
    await watch_history(handle, until=payee_check_out)
    await handle.cancel()
    if gated:
        await watch_history(handle, until=cancellation_taken)
        gated.gates.pop(handle.id).set()


async def watch_history(handle: WorkflowHandle, until: Callable[[list[HistoryEvent]], bool]) -> None:
    """Reads the batch's history a few times a second until it shows what the runner waits for."""
    while True:
        if until([event async for event in handle.fetch_history_events()]):
            return
        await asyncio.sleep(0.05)


def payee_check_out(events: list[HistoryEvent]) -> bool:
    """t1's handler has scheduled check_payee (so its hold is placed), or its update has already ended."""
    return any(event.activity_task_scheduled_event_attributes.activity_type.name == "check_payee"
               or event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED for event in events)


def cancellation_taken(events: list[HistoryEvent]) -> bool:
    """A workflow task has completed since the cancel request: the run has reacted to it."""
    types = [event.event_type for event in events]
    requested = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED
    return requested in types and EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED in types[types.index(requested):]


def show(cells: list[Cell]) -> None:
    for ending in dict.fromkeys(cell.ending for cell in cells):
        print(f"The batch ends: {ending}")
        for cell in (c for c in cells if c.ending == ending):
            print(f"  update action: {cell.action}")
            for transfer_id, outcome in cell.updates.items():
                sent_to = " (to the next run)" if transfer_id == "t2" else ""
                print(f"    add_transfer {transfer_id:<4} {outcome}{sent_to}")
            print(f"    batch             {cell.batch}")
            for transfer_id, status in cell.holds.items():
                print(f"    hold of {transfer_id:<9} {status}")


async def main(args: argparse.Namespace) -> None:
    client = await connect()
    endings = [args.ending] if args.ending else EXIT_TYPES
    actions = [args.action] if args.action else UPDATE_ACTIONS
    async with BankClient() as bank:
        gated = GatedPayeeChecks(bank) if args.embedded else None
        async with build_worker(client, activities=gated) if gated else nullcontext():
            # The batches are independent: run them side by side, and print them in order.
            cells = await asyncio.gather(*(run_cell(client, bank, ending, action, gated)
                                           for ending in endings for action in actions))
    show(list(cells))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedded", action="store_true", help="run a worker in this process as well")
    parser.add_argument("--ending", choices=EXIT_TYPES, help="how the batch ends (default: each in turn)")
    parser.add_argument("--action", choices=UPDATE_ACTIONS, help="the update's action if the batch exits under it")
    run_script(main(parser.parse_args()))
