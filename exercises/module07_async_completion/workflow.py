"""A large transfer that waits for a person's approval: its approval activity is completed by the approver."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

# Temporal's TimeoutError (a timeout of an activity or a workflow), not Python's built-in one.
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workshop.bank import idempotency_key

    from .activities import BankActivities
    from .shared import (
        TRANSFER_REJECTED,
        ApprovalExpiry,
        ApprovalRequest,
        MoneyMovement,
        TransferOutcome,
        TransferRequest,
    )

# The approval's start_to_close_timeout: the longest a person may take, whatever else happens.
APPROVAL_DEADLINE = timedelta(days=2)
# One attempt: the step fails only with an answer for the workflow to act on (a rejection, or a silent
# approver); a retry would put the same question to the approver again.
ASK_ONCE = RetryPolicy(maximum_attempts=1)
BANK_RETRIES = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10))
BANK_CALL_TIMEOUT = timedelta(seconds=10)


@workflow.defn
class LargeTransferWorkflow:
    @workflow.run
    async def run(self, request: TransferRequest) -> TransferOutcome:
        transfer_id = workflow.info().workflow_id
        workflow.logger.info("Transfer of %d cents waits for a person's approval", request.amount_cents)
        try:
            decision = await workflow.execute_activity_method(
                BankActivities.request_approval,
                ApprovalRequest(transfer_id, request.from_account, request.to_account, request.amount_cents,
                                request.note, idempotency_key("approval")),
                start_to_close_timeout=APPROVAL_DEADLINE,
                # TODO Part D: Expire the transfer when the approver goes silent, with a heartbeat timeout
                # (No heartbeat timeout: only APPROVAL_DEADLINE, two days, ends a silent approver's wait.)
                retry_policy=ASK_ONCE,
            )
        except ActivityError as failure:
            # No result: the approver said no, or went silent, or something else went wrong.
            workflow.logger.info("The approval step ended without a result: %s", failure.cause)
            # TODO Part C: Reject: fail the activity with a non-retryable error and end the transfer as rejected
            # (A rejection ends up in the `raise` below: the transfer fails.)
            # TODO Part D: Expire the transfer when the approver goes silent, with a heartbeat timeout
            # (A silent approver's timeout ends up in the `raise` below, once there is a timeout at all.)
            raise

        reference = f"transfer {transfer_id} approved by {decision.approver}"
        withdrawn = await workflow.execute_activity_method(
            BankActivities.withdraw,
            MoneyMovement(request.from_account, request.amount_cents, reference, idempotency_key("withdraw")),
            start_to_close_timeout=BANK_CALL_TIMEOUT,
            retry_policy=BANK_RETRIES,
        )
        deposited = await workflow.execute_activity_method(
            BankActivities.deposit,
            MoneyMovement(request.to_account, request.amount_cents, reference, idempotency_key("deposit")),
            start_to_close_timeout=BANK_CALL_TIMEOUT,
            retry_policy=BANK_RETRIES,
        )
        return TransferOutcome("completed", decision.approver, decision.comment,
                               withdrawn.transaction_id, deposited.transaction_id)
