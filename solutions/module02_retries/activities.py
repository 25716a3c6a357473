"""Withdraw and deposit: each one call to the bank, safe to retry."""

from __future__ import annotations

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from workshop.connection import account_api_url

from .shared import INSUFFICIENT_FUNDS, INVALID_AMOUNT, UNKNOWN_ACCOUNT, BankRequest, Receipt


async def call_bank(kind: str, request: BankRequest) -> Receipt:
    """POST /accounts/<id>/<kind>, turning the bank's answers into what Temporal should do next."""
    # >>> Part A: Call the bank with an idempotency key and make business errors non-retryable.
    info = activity.info()
    # Every attempt of this step sends the same key, so a retry after a lost answer is not applied twice.
    key = f"{info.workflow_id}/{info.workflow_run_id}/{request.step}"
    async with httpx.AsyncClient(base_url=account_api_url(), timeout=10) as http:
        response = await http.post(
            f"/accounts/{request.account}/{kind}",
            json={"amount_cents": request.amount_cents, "reference": request.reference},
            headers={"Idempotency-Key": key},
        )
    if response.status_code == 409:
        # Retrying will not put money in the account: fail this activity for good.
        raise ApplicationError(response.json()["message"], type=INSUFFICIENT_FUNDS, non_retryable=True)
    if response.status_code == 404:
        raise ApplicationError(response.json()["message"], type=UNKNOWN_ACCOUNT)
    if response.status_code == 422:
        raise ApplicationError(response.json()["message"], type=INVALID_AMOUNT)
    # Anything else that is not a success (503, 504, ...) raises here and Temporal retries it.
    response.raise_for_status()
    body = response.json()
    activity.logger.info("%s %s: transaction %s", kind, request.account, body["transaction_id"])
    return Receipt(
        account=request.account,
        amount_cents=request.amount_cents,
        transaction_id=body["transaction_id"],
        balance_cents=body["balance_cents"],
        replayed=body["replayed"],
    )
    # <<< Part A


@activity.defn
async def withdraw(request: BankRequest) -> Receipt:
    return await call_bank("withdraw", request)


@activity.defn
async def deposit(request: BankRequest) -> Receipt:
    return await call_bank("deposit", request)
