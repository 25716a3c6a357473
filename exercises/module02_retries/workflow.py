"""A money transfer that survives an unreliable bank: retries by policy, refund when the deposit fails."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workshop.bank import idempotency_key

    from .activities import BankActivities
    from .shared import BankRequest, TransferInput, TransferResult


@workflow.defn
class MoneyTransferWorkflow:
    @workflow.run
    async def run(self, transfer: TransferInput) -> TransferResult:
        # TODO Part B: Give the bank calls a retry policy and timeouts.
        retry_policy = RetryPolicy(maximum_attempts=1)
        attempt_timeout = timedelta(minutes=5)
        step_timeout = None

        # The workflow names each step's idempotency key: Temporal records it in the activity's input, so
        # every attempt sends the same one (see workshop/bank.py, and the README's "one bank call").
        withdrawal = await workflow.execute_activity_method(
            BankActivities.withdraw,
            BankRequest(transfer.source, transfer.amount_cents, idempotency_key("withdraw"), transfer.reference),
            start_to_close_timeout=attempt_timeout,
            schedule_to_close_timeout=step_timeout,
            retry_policy=retry_policy,
        )
        # TODO Part C: Refund the withdrawal when the deposit fails for good.
        deposit = await workflow.execute_activity_method(
            BankActivities.deposit,
            BankRequest(transfer.target, transfer.amount_cents, idempotency_key("deposit"), transfer.reference),
            start_to_close_timeout=attempt_timeout,
            schedule_to_close_timeout=step_timeout,
            retry_policy=retry_policy,
        )
        return TransferResult(withdrawal=withdrawal, deposit=deposit)
