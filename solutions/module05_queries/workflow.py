"""A transfer that waits for the customer's confirmation, then moves the money; queries report its progress."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

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
        # >>> Part A: Answer the progress query from the workflow's state, without changing it
        # Read, never change: a query handler may not alter the workflow's state, run activities or wait.
        # (The SDK serialises the answer right here on the worker, so no caller holds a reference into it.)
        return TransferProgress(self._step, self._balances_seen, self._attempts)
        # <<< Part A

    @workflow.query(dynamic=True)
    def progress_field(self, name: str, args: Sequence[RawValue]) -> Any:
        """Any query without a handler of its own: one field of the progress, or one entry of it."""
        # >>> Part C: Answer a field of the progress by name in a dynamic query handler
        fields: dict[str, Any] = {"step": self._step, "balances_seen": self._balances_seen, "attempts": self._attempts}
        if name not in fields:
            raise ApplicationError(
                f"TransferWorkflow has no query {name!r}. Ask for 'progress' or one of its fields: "
                f"{', '.join(fields)} (the last two take an account or a step name).",
                type="UnknownQuery",
            )
        if not args:
            return fields[name]
        key = workflow.payload_converter().from_payload(args[0].payload, str)
        if not isinstance(fields[name], dict):
            raise ApplicationError(f"The query {name!r} takes no argument.", type="UnknownQuery")
        return fields[name].get(key)  # None: not seen (yet)
        # <<< Part C

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
