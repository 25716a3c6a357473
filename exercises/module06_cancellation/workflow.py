"""A batch of transfers: hold the money, settle the transfers in one long activity, release what is left."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

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
        # TODO Part C: Clean up in finally with a shielded activity; end Canceled or Completed
        await self._settle(batch, held)
        cleanup = Cleanup(released=0, settled=count)
        return BatchReport(count, cleanup.settled, cleanup.released, cancelled)

    async def _settle(self, batch: TransferBatch, held: list[HeldTransfer]) -> Settled:
        return await workflow.execute_activity_method(
            BankActivities.settle_transfers,
            Settlement(held, batch.seconds_per_transfer),
            start_to_close_timeout=timedelta(minutes=30),  # the whole batch, in one attempt
            # TODO Part A: Heartbeat the batch's progress, resume from it, and give the activity a heartbeat timeout
            # TODO Part E: Pass the batch's ActivityCancellationType to the settling activity
            retry_policy=BANK_RETRIES,
        )
