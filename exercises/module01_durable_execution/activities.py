"""The payroll's one activity: a salary deposit into an employee's account at the bank."""

from __future__ import annotations

import httpx
from temporalio import activity

from workshop.connection import account_api_url

from .shared import Payment, PaymentConfirmation


@activity.defn
async def pay_salary(payment: Payment) -> PaymentConfirmation:
    info = activity.info()
    # The key names this run and this employee: if Temporal retries the activity after a lost answer,
    # the bank recognises the request and does not pay twice.
    key = f"{info.workflow_id}/{info.workflow_run_id}/{payment.employee}"
    activity.logger.info("Paying %s %d cents", payment.employee, payment.amount_cents)
    async with httpx.AsyncClient(base_url=account_api_url(), timeout=10) as http:
        response = await http.post(
            f"/accounts/{payment.employee}/deposit",
            json={"amount_cents": payment.amount_cents, "reference": f"salary ({info.workflow_id})"},
            headers={"Idempotency-Key": key},
        )
    response.raise_for_status()
    body = response.json()
    return PaymentConfirmation(
        employee=payment.employee,
        amount_cents=payment.amount_cents,
        transaction_id=body["transaction_id"],
        balance_cents=body["balance_cents"],
    )
