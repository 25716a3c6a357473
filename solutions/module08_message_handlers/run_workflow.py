"""Adds a transfer to a batch while the batch ends, in each of its four ways, with each update action.

    python -m workshop run 08 --embedded                          # all of it: 4 endings x 2 update actions
    python -m workshop run 08 --embedded --ending failure         # one ending, both actions
    python -m workshop run 08 --embedded --ending cancellation --action abort_with_compensation

Every batch closes while its transfer t1 is still being added. For continue-as-new, a second transfer t2
goes to the run that continue-as-new started. Without --embedded, start a worker first:
`python -m workshop worker 08`.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections.abc import Awaitable
from contextlib import nullcontext
from dataclasses import dataclass, field

from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.exceptions import CancelledError
from temporalio.service import RPCError

from workshop.bank import BankClient
from workshop.connection import connect, run_script
from workshop.money import format_cents

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


async def run_cell(client: Client, bank: BankClient, ending: str, action: str) -> Cell:
    cell = Cell(ending, action)
    batch = BatchInput(f"B-{uuid.uuid4().hex[:8]}", ending)
    handle = await client.start_workflow(TransferBatchWorkflow.run, batch, id=batch_workflow_id(batch.batch_id),
                                         task_queue=task_queue())
    first = Transfer("t1", SOURCE, TARGET, AMOUNT_CENTS, on_batch_exit=action)
    # Returns once a worker has accepted the update: its handler is running, and the batch closes under it.
    update = await handle.start_update(TransferBatchWorkflow.add_transfer, first,
                                       wait_for_stage=WorkflowUpdateStage.ACCEPTED)
    if ending == CANCELLATION:
        await handle.cancel()  # an operator cancels the batch while t1 is still being added
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
    async with BankClient() as bank, build_worker(client, bank) if args.embedded else nullcontext():
        # The batches are independent: run them side by side, and print them in order.
        cells = await asyncio.gather(*(run_cell(client, bank, ending, action)
                                       for ending in endings for action in actions))
    show(list(cells))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedded", action="store_true", help="run a worker in this process as well")
    parser.add_argument("--ending", choices=EXIT_TYPES, help="how the batch ends (default: each in turn)")
    parser.add_argument("--action", choices=UPDATE_ACTIONS, help="the update's action if the batch exits under it")
    run_script(main(parser.parse_args()))
