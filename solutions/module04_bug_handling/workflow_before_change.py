"""The transfer workflow as it was before Part C's change (no account check), with Jerry's bug fixed.

Kept, unchanged, only to record histories/transfer_before_change.json (record_history.py): a history
made by the code that ran before the change, which the new code must still replay.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workshop.bank import idempotency_key
    from workshop.money import format_cents

    from .activities import BankActivities
    from .shared import LARGE_TRANSFER_CENTS, BankOperation, TransferInput, TransferResult


@workflow.defn(name="MoneyTransferWorkflow")
class MoneyTransferWorkflowBeforeChange:
    @workflow.run
    async def run(self, transfer: TransferInput) -> TransferResult:
        description = f"transfer {transfer.reference}"
        if transfer.amount_cents >= LARGE_TRANSFER_CENTS:
            description += f" (large: {format_cents(transfer.amount_cents)})"
        attempt_timeout = timedelta(seconds=15)
        retry_policy = RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=transfer.max_attempts)
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
        return TransferResult(transfer.reference, transfer.amount_cents, withdrawal.transaction_id,
                              deposited.transaction_id)
