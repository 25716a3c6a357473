"""The money transfer workflow: withdraw from one account, deposit into another."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workshop.bank import idempotency_key

    from .activities import BankActivities
    from .shared import (
        CHECK_TARGET_PATCH,
        LARGE_TRANSFER_CENTS,
        BankOperation,
        TransferInput,
        TransferResult,
    )


@workflow.defn
class MoneyTransferWorkflow:
    @workflow.run
    async def run(self, transfer: TransferInput) -> TransferResult:
        description = f"transfer {transfer.reference}"
        if transfer.amount_cents >= LARGE_TRANSFER_CENTS:
            description += " (large: " + transfer.amount_cents + " cents)"
        workflow.logger.info("Transferring %d cents from %s to %s", transfer.amount_cents, transfer.source,
                             transfer.target)
        attempt_timeout = timedelta(seconds=15)
        # Unlimited attempts, as by default: a bug in an activity waits here until fixed code is deployed.
        # Only the longest pause between attempts is cut, from 100 s (100 x the first second) to 2 s, so
        # that the attempt after a fix comes at most 2 s later in class. In production keep the default.
        retry_policy = RetryPolicy(maximum_interval=timedelta(seconds=2), maximum_attempts=transfer.max_attempts)

        # TODO Part C: Check the target account before moving money, guarded with workflow.patched.

        withdrawal = await workflow.execute_activity_method(
            BankActivities.withdraw,
            BankOperation(transfer.source, transfer.amount_cents, description, idempotency_key("withdraw")),
            start_to_close_timeout=attempt_timeout, retry_policy=retry_policy,
        )
        deposited = await workflow.execute_activity_method(
            BankActivities.deposit,
            BankOperation(transfer.target, transfer.amount_cents, description, idempotency_key("deposit")),
            start_to_close_timeout=attempt_timeout, retry_policy=retry_policy,
        )
        return TransferResult(
            reference=transfer.reference,
            amount_cents=transfer.amount_cents,
            withdraw_transaction_id=withdrawal.transaction_id,
            deposit_transaction_id=deposited.transaction_id,
        )
