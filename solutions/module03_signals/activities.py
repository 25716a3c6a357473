"""Activities: money moves at the bank, with an idempotency key on every request."""

from __future__ import annotations

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from workshop.connection import account_api_url

from .shared import MoneyMovement, Posting, Receipt


async def _post(account: str, kind: str, amount_cents: int, reference: str, key: str) -> Receipt:
    async with httpx.AsyncClient(base_url=account_api_url(), timeout=10) as http:
        response = await http.post(
            f"/accounts/{account}/{kind}",
            json={"amount_cents": amount_cents, "reference": reference},
            headers={"Idempotency-Key": key},
        )
    if response.status_code == 409:
        # Retrying cannot make the money appear: tell Temporal not to try again.
        raise ApplicationError(response.json()["message"], type="InsufficientFunds", non_retryable=True)
    response.raise_for_status()
    body = response.json()
    return Receipt(transaction_id=body["transaction_id"], balance_cents=body["balance_cents"])


@activity.defn
async def withdraw(movement: MoneyMovement) -> Receipt:
    activity.logger.info("Withdrawing %d cents from %s", movement.amount_cents, movement.account)
    return await _post(movement.account, "withdraw", movement.amount_cents, movement.reference,
                       movement.idempotency_key)


@activity.defn
async def deposit(movement: MoneyMovement) -> Receipt:
    activity.logger.info("Depositing %d cents into %s", movement.amount_cents, movement.account)
    return await _post(movement.account, "deposit", movement.amount_cents, movement.reference,
                       movement.idempotency_key)


@activity.defn
async def apply_account_event(posting: Posting) -> Receipt:
    event = posting.event
    info = activity.info()
    activity.logger.info("Applying event %s (%s) to %s", event.event_id, event.kind, posting.account_id)
    reference = f"event {event.event_id}" + (f": {event.note}" if event.note else "")
    # The event ID is unique, so a retried attempt is recognised by the bank and applied once.
    key = f"{info.workflow_id}/{event.event_id}"
    return await _post(posting.account_id, event.kind, event.amount_cents, reference, key)
