"""A batch of transfers that callers add with an update, and that ends in one of four ways.

Each add_transfer reserves the transfer's money with a hold at the bank and confirms the payee; the batch
settles its transfers when it closes. The batch can also fail, be cancelled or continue as new, and it may
do so while an add_transfer is still running: the run waits for its handlers, and a handler whose caller
asked for it (`abort_with_compensation`) gives the money back and fails the update.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from workshop.bank import idempotency_key
    from workshop.money import format_cents

    from .activities import BankActivities
    from .shared import (
        ABORT_WITH_COMPENSATION,
        CANCELLATION,
        CONTINUE_AS_NEW,
        FAILURE,
        SUCCESS,
        UPDATE_ACTIONS,
        BatchedTransfer,
        BatchInput,
        BatchResult,
        HoldChange,
        HoldRequest,
        MoneyMovement,
        Transfer,
        TransferAdded,
    )

BANK_TIMEOUT = timedelta(seconds=10)
BANK_RETRIES = RetryPolicy(maximum_interval=timedelta(seconds=10))


@workflow.defn
class TransferBatchWorkflow:
    @workflow.init
    def __init__(self, batch: BatchInput) -> None:
        self._batch = batch
        self._transfers: list[BatchedTransfer] = list(batch.carried_over)  # added, money held
        self._transfer_ids = {item.transfer.transfer_id for item in batch.carried_over}  # added or arriving
        self._arrived = 0  # add_transfer updates this run has accepted
        self._closed = False  # the batch takes no more transfers
        self._exit_reason: str | None = None  # why the run exits before it settles: "failed", ...

    @workflow.run
    async def run(self, batch: BatchInput) -> BatchResult:
        try:
            await self._close(batch)
        except (FailureError, asyncio.CancelledError) as ending:
            # The run is about to fail or be cancelled: tell the handlers before it goes. (Not `finally`: any
            # other exception is a bug, which fails the workflow task and leaves the run where it is.)
            self._closed = True
            self._exit_reason = "was cancelled" if isinstance(ending, asyncio.CancelledError) else "failed"
            # >>> Part B: Wait for all handlers to finish before the batch exits
            await workflow.wait_condition(workflow.all_handlers_finished)
            # --- exercise version:
            # # The run exits at once, whatever its handlers are still doing.
            # <<< Part B
            raise
        self._closed = True

        if batch.ending == CONTINUE_AS_NEW or workflow.info().is_continue_as_new_suggested():
            self._exit_reason = "continued as new"
            # >>> Part D: Continue as new with an update in flight, and hand the batch to the next run
            await workflow.wait_condition(workflow.all_handlers_finished)
            # The next run settles what this one added, and takes new transfers.
            workflow.continue_as_new(BatchInput(batch.batch_id, SUCCESS, batch.size, carried_over=self._transfers))
            # --- exercise version:
            # workflow.continue_as_new(BatchInput(batch.batch_id, SUCCESS, batch.size))
            # <<< Part D

        # >>> Part B: Wait for all handlers to finish before the batch exits
        await workflow.wait_condition(workflow.all_handlers_finished)
        # --- exercise version:
        # # The batch settles at once, whatever its handlers are still doing.
        # <<< Part B
        return await self._settle(batch)

    @workflow.update
    async def add_transfer(self, transfer: Transfer) -> TransferAdded:
        """Reserve the transfer's money, confirm its payee, and add it to the batch."""
        self._arrived += 1
        self._transfer_ids.add(transfer.transfer_id)
        hold_id = await workflow.execute_activity_method(
            BankActivities.place_hold,
            HoldRequest(transfer.source, transfer.amount_cents, self._reference(transfer),
                        idempotency_key(f"hold/{transfer.transfer_id}")),
            start_to_close_timeout=BANK_TIMEOUT, retry_policy=BANK_RETRIES,
        )
        payee_check = workflow.start_activity_method(
            BankActivities.check_payee, transfer, start_to_close_timeout=BANK_TIMEOUT, retry_policy=BANK_RETRIES
        )
        # >>> Part C: Compensate in the update handler when the run exits under it
        # Whichever comes first: the payee's answer, or the run exiting under this update.
        await workflow.wait_condition(lambda: payee_check.done() or self._exit_reason is not None)
        if not payee_check.done() and transfer.on_batch_exit == ABORT_WITH_COMPENSATION:
            payee_check.cancel()  # its answer is no longer needed
            with contextlib.suppress(ActivityError):
                await payee_check  # collects the cancellation, so that no task is left with an error unread
            await self._release(hold_id, transfer)
            raise ApplicationError(
                f"Batch {self._batch.batch_id} {self._exit_reason} before transfer {transfer.transfer_id} was "
                f"added; the {format_cents(transfer.amount_cents)} held on {transfer.source} was released.",
                type="BatchExited",
            )
        # --- exercise version:
        # # The handler carries on, whatever happens to the run.
        # <<< Part C
        try:
            payee = await payee_check
        except ActivityError:
            await self._release(hold_id, transfer)  # no payee, no transfer: the money goes back
            raise
        self._transfers.append(BatchedTransfer(transfer, hold_id))
        return TransferAdded(transfer.transfer_id, hold_id, payee)

    @add_transfer.validator
    def validate_transfer(self, transfer: Transfer) -> None:
        """Runs before the update is accepted; whatever it raises rejects the update, and nothing is recorded."""
        # >>> Part A: Reject a bad transfer in the validator, before anything is recorded
        problem = None
        if self._closed:
            problem = f"batch {self._batch.batch_id} is closed; add it to another batch"
        elif transfer.amount_cents <= 0:
            problem = f"the amount must be positive, not {transfer.amount_cents} cents"
        elif transfer.source == transfer.target:
            problem = f"it would move money from {transfer.source} to the same account"
        elif transfer.transfer_id in self._transfer_ids:
            problem = "a transfer with this ID is already in the batch"
        elif transfer.on_batch_exit not in UPDATE_ACTIONS:
            problem = f"on_batch_exit must be one of {', '.join(UPDATE_ACTIONS)}, not {transfer.on_batch_exit!r}"
        if problem:
            raise ApplicationError(f"Transfer {transfer.transfer_id} refused: {problem}.", type="InvalidTransfer")
        # --- exercise version:
        # pass  # every transfer is accepted, whatever it says
        # <<< Part A

    async def _close(self, batch: BatchInput) -> None:
        """The batch's own business: it closes once `size` transfers have arrived, and ends as `ending` says."""
        await workflow.wait_condition(lambda: self._arrived >= batch.size)
        workflow.logger.info("Batch %s closes (%s)", batch.batch_id, batch.ending)
        if batch.ending == FAILURE:
            raise ApplicationError(f"The clearing house rejected batch {batch.batch_id}.", type="BatchRejected")
        if batch.ending == CANCELLATION:
            await workflow.wait_condition(lambda: False)  # stays open until an operator cancels it

    async def _settle(self, batch: BatchInput) -> BatchResult:
        """Move the money of every transfer in the batch: capture its hold, deposit into the target."""
        for item in self._transfers:
            transfer = item.transfer
            await workflow.execute_activity_method(
                BankActivities.capture_hold, HoldChange(item.hold_id, idempotency_key(f"capture/{transfer.transfer_id}")),
                start_to_close_timeout=BANK_TIMEOUT, retry_policy=BANK_RETRIES,
            )
            await workflow.execute_activity_method(
                BankActivities.deposit,
                MoneyMovement(transfer.target, transfer.amount_cents, self._reference(transfer),
                              idempotency_key(f"deposit/{transfer.transfer_id}")),
                start_to_close_timeout=BANK_TIMEOUT, retry_policy=BANK_RETRIES,
            )
        return BatchResult(batch.batch_id, [item.transfer.transfer_id for item in self._transfers])

    async def _release(self, hold_id: str, transfer: Transfer) -> None:
        await workflow.execute_activity_method(
            BankActivities.release_hold, HoldChange(hold_id, idempotency_key(f"release/{transfer.transfer_id}")),
            start_to_close_timeout=BANK_TIMEOUT, retry_policy=BANK_RETRIES,
        )

    def _reference(self, transfer: Transfer) -> str:
        return f"transfer {transfer.transfer_id} in batch {self._batch.batch_id}"
