"""A batch of transfers: hold the money, settle the transfers in one long activity, release what is left."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from workshop.bank import NON_RETRYABLE_ERROR_TYPES, idempotency_key

    from .activities import BankActivities
    from .shared import BatchReport, Cleanup, HeldTransfer, Settled, Settlement, TransferBatch

BANK_RETRIES = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10),
                           non_retryable_error_types=NON_RETRYABLE_ERROR_TYPES)
BANK_CALLS = timedelta(seconds=30)  # one attempt of the short activities


@workflow.defn
class TransferBatchWorkflow:
    @workflow.run
    async def run(self, batch: TransferBatch) -> BatchReport:
        count = len(batch.transfers)
        transfers = [HeldTransfer(transfer, idempotency_key(f"transfer-{n}"), f"{batch.reference} #{n} of {count}")
                     for n, transfer in enumerate(batch.transfers, start=1)]
        # Every transfer's money on hold first: the hold IDs are what a cleanup releases.
        held = await workflow.execute_activity_method(BankActivities.place_holds, transfers,
                                                      start_to_close_timeout=BANK_CALLS, retry_policy=BANK_RETRIES)
        cancelled = False
        # >>> Part C: Clean up in finally with a shielded activity; end Canceled or Completed
        try:
            await self._settle(batch, held)
        except (ActivityError, asyncio.CancelledError) as err:
            # While the workflow awaits an activity, a cancellation arrives as an ActivityError caused by a
            # CancelledError (before the activity has started, as asyncio.CancelledError).
            if not (batch.complete_when_cancelled and is_cancelled_exception(err)):
                raise  # a cancellation that leaves the workflow ends it Canceled; any other failure, Failed
            cancelled = True
            workflow.logger.info("Batch cancelled (%s): completing with a report", workflow.cancellation_reason())
        finally:
            # However the batch ended, release the holds it did not settle. A cancellation is delivered once:
            # if it ended the settling, it cannot reach the cleanup. One that arrives while the cleanup runs
            # is kept from it by the shield, which raises at once: wait for the cleanup again.
            release = workflow.start_activity_method(BankActivities.release_holds, held,
                                                     start_to_close_timeout=BANK_CALLS, retry_policy=BANK_RETRIES)
            try:
                cleanup: Cleanup = await asyncio.shield(release)
            except asyncio.CancelledError:
                workflow.logger.info("Cancellation requested during the cleanup: letting the cleanup finish")
                cleanup = await release
        # --- exercise version:
        # await self._settle(batch, held)
        # cleanup = Cleanup(released=0, settled=count)
        # <<< Part C
        return BatchReport(count, cleanup.settled, cleanup.released, cancelled)

    async def _settle(self, batch: TransferBatch, held: list[HeldTransfer]) -> Settled:
        return await workflow.execute_activity_method(
            BankActivities.settle_transfers,
            Settlement(held, batch.seconds_per_transfer),
            start_to_close_timeout=timedelta(minutes=30),  # the whole batch, in one attempt
            # >>> Part A: Heartbeat the batch's progress, resume from it, and give the activity a heartbeat timeout
            # Without a heartbeat for 2 s the attempt has failed: a dead worker is noticed in seconds, not after
            # the 30 minutes above.
            heartbeat_timeout=timedelta(seconds=2),
            # --- exercise version:
            # <<< Part A
            # >>> Part E: Pass the batch's ActivityCancellationType to the settling activity
            cancellation_type=batch.cancellation_type,
            # --- exercise version:
            # <<< Part E
            retry_policy=BANK_RETRIES,
        )
