"""A standing order: one payment per period from payer to payee, and one run per payment.

Each run waits for its payment to fall due (or for the pay_now update), pays, and continues as new with
the payments made so far: an order that runs for years keeps a short history, and its runs form a chain
under one workflow ID. The last run returns the order's summary.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workshop.bank import NON_RETRYABLE_ERROR_TYPES, idempotency_key

    from .activities import BankActivities
    from .shared import MoneyMovement, OrderProgress, OrderSummary, Payment, StandingOrder

BANK_RETRIES = RetryPolicy(maximum_interval=timedelta(seconds=10), non_retryable_error_types=NON_RETRYABLE_ERROR_TYPES)


@workflow.defn
class StandingOrderWorkflow:
    @workflow.init
    def __init__(self, order: StandingOrder) -> None:
        self._order = order
        self._pay_now = False
        self._payment: Payment | None = None  # this run's payment, once made

    @workflow.signal
    def change_amount(self, amount_cents: int) -> None:
        """The payments to come move this amount (continue-as-new carries it to the next runs)."""
        self._order.amount_cents = amount_cents

    @workflow.query
    def progress(self) -> OrderProgress:
        order = self._order
        return OrderProgress(order.paid, order.payments, order.amount_cents, order.paid_cents, workflow.info().run_id)

    @workflow.update
    async def pay_now(self) -> Payment:
        """Make this period's payment now rather than at the end of the period, and answer with it."""
        self._pay_now = True
        await workflow.wait_condition(lambda: self._payment is not None)
        assert self._payment is not None
        return self._payment

    @workflow.run
    async def run(self, order: StandingOrder) -> OrderSummary:
        try:
            await workflow.wait_condition(lambda: self._pay_now, timeout=timedelta(seconds=order.period_seconds))
        except asyncio.TimeoutError:
            pass  # the period is over: the payment is due
        # A cancel that arrives while the money moves lets the payment finish first: never half a payment.
        payment = asyncio.create_task(self._pay())
        try:
            await asyncio.shield(payment)
        except asyncio.CancelledError:
            await payment
            raise
        await workflow.wait_condition(workflow.all_handlers_finished)  # pay_now answers before the run ends
        if order.paid < order.payments:
            workflow.logger.info("Payment %d of %d made; continuing as new", order.paid, order.payments)
            workflow.continue_as_new(order)
        return OrderSummary(order.paid, order.paid_cents, workflow.info().run_id)

    async def _pay(self) -> None:
        order, number = self._order, self._order.paid + 1
        reference = f"standing order {workflow.info().workflow_id}, payment {number}"
        withdrawn = await workflow.execute_activity_method(
            BankActivities.withdraw,
            # The key holds the order's first run ID: the same in every run of this order, new for a later one.
            MoneyMovement(order.payer, order.amount_cents, reference, idempotency_key(f"payment-{number}/withdraw")),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=BANK_RETRIES,
        )
        deposited = await workflow.execute_activity_method(
            BankActivities.deposit,
            MoneyMovement(order.payee, order.amount_cents, reference, idempotency_key(f"payment-{number}/deposit")),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=BANK_RETRIES,
        )
        self._payment = Payment(number, order.amount_cents, workflow.info().run_id,
                                withdrawn.transaction_id, deposited.transaction_id)
        order.paid, order.paid_cents = number, order.paid_cents + order.amount_cents
