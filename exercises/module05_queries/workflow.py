"""A transfer that waits for the customer's confirmation, then moves the money; queries report its progress."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workshop.bank import idempotency_key

    from .activities import BankActivities
    from .shared import (
        AWAITING_CONFIRMATION,
        COMPLETED,
        DEPOSITING,
        WITHDRAWING,
        MoneyMovement,
        Receipt,
        TransferProgress,
        TransferRequest,
        TransferResult,
    )

BANK_RETRIES = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10))


@workflow.defn
class TransferWorkflow:
    def __init__(self) -> None:
        self._confirmed = False
        self._step = AWAITING_CONFIRMATION
        self._balances_seen: dict[str, int] = {}
        self._attempts: dict[str, int] = {}

    @workflow.signal
    def confirm(self) -> None:
        self._confirmed = True

    @workflow.query
    def progress(self) -> TransferProgress:
        # TODO Part A: Answer the progress query from the workflow's state, without changing it
        raise NotImplementedError("Part A is not done yet: Answer the progress query from the workflow's state, without changing it. See README.md, Part A.")

    @workflow.query(dynamic=True)
    def progress_field(self, name: str, args: Sequence[RawValue]) -> Any:
        """Any query without a handler of its own: one field of the progress, or one entry of it."""
        # TODO Part C: Answer a field of the progress by name in a dynamic query handler
        raise NotImplementedError('Part C is not done yet: Answer a field of the progress by name in a dynamic query handler. See README.md, Part C.')

    @workflow.run
    async def run(self, request: TransferRequest) -> TransferResult:
        await workflow.wait_condition(lambda: self._confirmed)
        withdrawn = await self._move(WITHDRAWING, "withdraw", request.from_account, request.amount_cents)
        deposited = await self._move(DEPOSITING, "deposit", request.to_account, request.amount_cents)
        self._step = COMPLETED
        return TransferResult(withdrawn.transaction_id, deposited.transaction_id)

    async def _move(self, step: str, name: str, account: str, amount_cents: int) -> Receipt:
        self._step = step
        bank_activity = BankActivities.withdraw if name == "withdraw" else BankActivities.deposit
        try:
            receipt = await workflow.execute_activity_method(
                bank_activity,
                MoneyMovement(account, amount_cents, f"transfer {workflow.info().workflow_id}", idempotency_key(name)),
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=BANK_RETRIES,
            )
        except ActivityError:
            self._step = f"failed while {step}"  # a query on the failed transfer shows where it stopped
            raise
        self._balances_seen[account] = receipt.balance_cents
        self._attempts[name] = receipt.attempt
        return receipt
