"""A local activity is cancelled without heartbeats: the worker that runs it cancels it itself.

    python -m workshop run 06 --embedded screening

The screening looks up each transfer's target at the bank, slowly, in a *local* activity: it runs in the
worker that runs the workflow, and is recorded in the history as a marker when it ends.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from .activities import BankActivities
    from .shared import TransferBatch


@workflow.defn
class ScreeningWorkflow:
    @workflow.run
    async def run(self, batch: TransferBatch) -> int:
        # No heartbeat_timeout, no heartbeats: when the workflow is cancelled, its worker cancels the local
        # activity directly, as soon as the workflow sees the cancellation request.
        return await workflow.execute_local_activity_method(
            BankActivities.screen_transfers, batch, start_to_close_timeout=timedelta(minutes=5)
        )
