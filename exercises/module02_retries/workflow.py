"""A money transfer that survives an unreliable bank: retries by policy, refund when the deposit fails."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from .activities import deposit, withdraw
    from .shared import (
        INSUFFICIENT_FUNDS,
        INVALID_AMOUNT,
        UNKNOWN_ACCOUNT,
        BankRequest,
        TransferInput,
        TransferResult,
    )


@workflow.defn
class MoneyTransferWorkflow:
    @workflow.run
    async def run(self, transfer: TransferInput) -> TransferResult:
        # TODO Part B: Give the activities a retry policy and timeouts.
        retry_policy = RetryPolicy(maximum_attempts=1)
        options = {"start_to_close_timeout": timedelta(seconds=10), "retry_policy": retry_policy}

        withdrawal = await workflow.execute_activity(
            withdraw, BankRequest(transfer.source, transfer.amount_cents, "withdraw", transfer.reference), **options
        )
        # TODO Part C: Refund the withdrawal when the deposit fails for good.
        deposit_receipt = await workflow.execute_activity(
            deposit, BankRequest(transfer.target, transfer.amount_cents, "deposit", transfer.reference), **options
        )
        return TransferResult(withdrawal=withdrawal, deposit=deposit_receipt)
