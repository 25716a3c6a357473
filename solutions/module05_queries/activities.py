"""The transfer's activities: a withdrawal and a deposit at the bank, each with an idempotency key."""

from __future__ import annotations

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from workshop.connection import account_api_url

from .shared import MoneyMovement, Receipt


async def _post(kind: str, movement: MoneyMovement) -> Receipt:
    activity.logger.info("%s %d cents, account %s", kind, movement.amount_cents, movement.account)
    async with httpx.AsyncClient(base_url=account_api_url(), timeout=10) as http:
        response = await http.post(
            f"/accounts/{movement.account}/{kind}",
            json={"amount_cents": movement.amount_cents, "reference": movement.reference},
            headers={"Idempotency-Key": movement.idempotency_key},
        )
    if response.status_code == 409:
        raise ApplicationError(response.json()["message"], type="InsufficientFunds", non_retryable=True)
    response.raise_for_status()
    body = response.json()
    # The attempt number goes back to the workflow, so that its progress can tell how hard the step was.
    return Receipt(body["transaction_id"], body["balance_cents"], activity.info().attempt)


@activity.defn
async def withdraw(movement: MoneyMovement) -> Receipt:
    return await _post("withdraw", movement)


@activity.defn
async def deposit(movement: MoneyMovement) -> Receipt:
    return await _post("deposit", movement)
