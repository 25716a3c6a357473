"""A money transfer that survives an unreliable bank: retries by policy, refund when the deposit fails."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workshop.bank import NON_RETRYABLE_ERROR_TYPES, idempotency_key

    from .activities import BankActivities
    from .shared import BankRequest, TransferInput, TransferResult


@workflow.defn
class MoneyTransferWorkflow:
    @workflow.run
    async def run(self, transfer: TransferInput) -> TransferResult:
        # >>> Part B: Give the bank calls a retry policy and timeouts.
        retry_policy = RetryPolicy(
            initial_interval=timedelta(seconds=1),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=10),
            # Errors that no retry can fix, whether or not the activity marked them non-retryable.
            non_retryable_error_types=NON_RETRYABLE_ERROR_TYPES,
        )
        # An attempt that takes longer than this has failed as far as the workflow is concerned: retry it.
        attempt_timeout = timedelta(seconds=5)
        # All attempts of a step together; then the step fails and the workflow decides (Part C refunds).
        step_timeout = timedelta(minutes=2)
        # --- exercise version:
        # retry_policy = RetryPolicy(maximum_attempts=1)
        # attempt_timeout = timedelta(minutes=5)
        # step_timeout = None
        # <<< Part B

        # The workflow names each step's idempotency key: Temporal records it in the activity's input, so
        # every attempt sends the same one (see workshop/bank.py, and the README's "one bank call").
        withdrawal = await workflow.execute_activity_method(
            BankActivities.withdraw,
            BankRequest(transfer.source, transfer.amount_cents, idempotency_key("withdraw"), transfer.reference),
            start_to_close_timeout=attempt_timeout,
            schedule_to_close_timeout=step_timeout,
            retry_policy=retry_policy,
        )
        # >>> Part C: Refund the withdrawal when the deposit fails for good.
        try:
            deposit = await workflow.execute_activity_method(
                BankActivities.deposit,
                BankRequest(transfer.target, transfer.amount_cents, idempotency_key("deposit"), transfer.reference),
                start_to_close_timeout=attempt_timeout,
                schedule_to_close_timeout=step_timeout,
                retry_policy=retry_policy,
            )
        except ActivityError as failure:
            workflow.logger.warning("Deposit to %s failed for good; refunding %s", transfer.target, transfer.source)
            # The refund has no overall timeout: the money must go back, however long the bank is down.
            await workflow.execute_activity_method(
                BankActivities.deposit,
                BankRequest(transfer.source, transfer.amount_cents, idempotency_key("refund"),
                            f"refund: {transfer.reference}"),
                start_to_close_timeout=attempt_timeout,
                retry_policy=retry_policy,
            )
            reason = failure.cause.message if isinstance(failure.cause, ApplicationError) else str(failure.cause)
            raise ApplicationError(
                f"The deposit to {transfer.target} failed ({reason}); "
                f"the {transfer.amount_cents} cents were refunded to {transfer.source}.",
                type="TransferRefunded",
            ) from failure
        # --- exercise version:
        # deposit = await workflow.execute_activity_method(
        #     BankActivities.deposit,
        #     BankRequest(transfer.target, transfer.amount_cents, idempotency_key("deposit"), transfer.reference),
        #     start_to_close_timeout=attempt_timeout,
        #     schedule_to_close_timeout=step_timeout,
        #     retry_policy=retry_policy,
        # )
        # <<< Part C
        return TransferResult(withdrawal=withdrawal, deposit=deposit)
