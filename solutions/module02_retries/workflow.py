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
        # >>> Part B: Give the activities a retry policy and timeouts.
        retry_policy = RetryPolicy(
            initial_interval=timedelta(seconds=1),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=10),
            # Errors that no retry can fix, whether or not the activity marked them non-retryable.
            non_retryable_error_types=[INSUFFICIENT_FUNDS, UNKNOWN_ACCOUNT, INVALID_AMOUNT],
        )
        # --- exercise version:
        # retry_policy = RetryPolicy(maximum_attempts=1)
        # <<< Part B
        options = {"start_to_close_timeout": timedelta(seconds=10), "retry_policy": retry_policy}

        withdrawal = await workflow.execute_activity(
            withdraw, BankRequest(transfer.source, transfer.amount_cents, "withdraw", transfer.reference), **options
        )
        # >>> Part C: Refund the withdrawal when the deposit fails for good.
        try:
            deposit_receipt = await workflow.execute_activity(
                deposit, BankRequest(transfer.target, transfer.amount_cents, "deposit", transfer.reference), **options
            )
        except ActivityError as failure:
            workflow.logger.warning("Deposit to %s failed for good; refunding %s", transfer.target, transfer.source)
            await workflow.execute_activity(
                deposit,
                BankRequest(transfer.source, transfer.amount_cents, "refund", f"refund: {transfer.reference}"),
                **options,
            )
            reason = failure.cause.message if isinstance(failure.cause, ApplicationError) else str(failure)
            raise ApplicationError(
                f"The deposit to {transfer.target} failed ({reason}); "
                f"the {transfer.amount_cents} cents were refunded to {transfer.source}.",
                type="TransferRefunded",
            ) from failure
        # --- exercise version:
        # deposit_receipt = await workflow.execute_activity(
        #     deposit, BankRequest(transfer.target, transfer.amount_cents, "deposit", transfer.reference), **options
        # )
        # <<< Part C
        return TransferResult(withdrawal=withdrawal, deposit=deposit_receipt)
