"""A large transfer that waits for a person's approval: its approval activity is completed by the approver."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

# Temporal's TimeoutError (a timeout of an activity or a workflow), not Python's built-in one.
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType

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

# The approval step's schedule_to_close_timeout: the longest a person may take, all attempts together.
APPROVAL_DEADLINE = timedelta(days=2)
# Two attempts: the second hands the request over again after a hand-over that failed (the bank answered
# 503, the worker died before its POST) or a desk that fell silent. It files its new task token under the
# same key, so the desk keeps the same approval. A rejection is non-retryable; a second silence is final.
APPROVAL_RETRIES = RetryPolicy(maximum_attempts=2)
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
                schedule_to_close_timeout=APPROVAL_DEADLINE,
                # >>> Part D: Expire the transfer when the approver goes silent, with a heartbeat timeout
                # The approver answers, or heartbeats, at least this often: a longer silence times the attempt out.
                heartbeat_timeout=timedelta(seconds=request.approver_heartbeat_timeout_seconds),
                # --- exercise version:
                # # (No heartbeat timeout: only APPROVAL_DEADLINE, two days, ends a silent approver's wait.)
                # <<< Part D
                retry_policy=APPROVAL_RETRIES,
            )
        except ActivityError as failure:
            # No result: the approver said no, or went silent, or something else went wrong.
            workflow.logger.info("The approval step ended without a result: %s", failure.cause)
            # >>> Part C: Reject: fail the activity with a non-retryable error and end the transfer as rejected
            cause = failure.cause
            if isinstance(cause, ApplicationError) and cause.type == TRANSFER_REJECTED:
                approver = str(cause.details[0]) if cause.details else ""
                workflow.logger.info("Transfer rejected by %s: %s", approver, cause.message)
                return TransferOutcome("rejected", approver, cause.message)
            # --- exercise version:
            # # (A rejection ends up in the `raise` below: the transfer fails.)
            # <<< Part C
            # >>> Part D: Expire the transfer when the approver goes silent, with a heartbeat timeout
            if isinstance(failure.cause, TimeoutError):
                # HEARTBEAT: the desk was silent on the last attempt too; otherwise APPROVAL_DEADLINE has passed.
                silent = failure.cause.type == TimeoutType.HEARTBEAT
                reason = (f"no word from the approver for {request.approver_heartbeat_timeout_seconds:g} s"
                          if silent else "no decision before the deadline")
                workflow.logger.info("Transfer expired: %s", reason)
                # Close the request at the bank too, so that a late approver cannot approve it there.
                await workflow.execute_activity_method(
                    BankActivities.expire_approval,
                    ApprovalExpiry(transfer_id, reason, idempotency_key("expire")),
                    start_to_close_timeout=BANK_CALL_TIMEOUT,
                    retry_policy=BANK_RETRIES,
                )
                return TransferOutcome("expired", comment=reason)
            # --- exercise version:
            # # (A silent approver's timeout ends up in the `raise` below, once there is a timeout at all.)
            # <<< Part D
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
