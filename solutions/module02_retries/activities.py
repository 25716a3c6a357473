"""Withdraw and deposit: each one call to the bank, safe to retry.

The activities are methods of a class that holds the worker's one bank client (workshop/bank.py):
one connection pool for every call, made once when the worker starts.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from workshop.bank import FINAL_ERRORS, BankClient

from .shared import BankRequest, Receipt


class BankActivities:
    def __init__(self, bank: BankClient) -> None:
        self.bank = bank

    @activity.defn
    async def withdraw(self, request: BankRequest) -> Receipt:
        return await self._move("withdraw", request)

    @activity.defn
    async def deposit(self, request: BankRequest) -> Receipt:
        return await self._move("deposit", request)

    async def _move(self, kind: str, request: BankRequest) -> Receipt:
        """POST /accounts/<id>/<kind>, turning the bank's answers into what Temporal should do next."""
        # >>> Part A: Send the step's idempotency key and make the bank's final answers non-retryable.
        response = await self.bank.send(
            "POST",
            f"/accounts/{request.account}/{kind}",
            json={"amount_cents": request.amount_cents, "reference": request.reference},
            key=request.key,  # the same on every attempt: a retry after a lost answer is not applied twice
        )
        if response.is_error and response.json().get("error") in FINAL_ERRORS:
            # The bank gives this answer however often it is asked (no money, no such account, a bad
            # amount): fail the activity for good instead of retrying it forever.
            body = response.json()
            raise ApplicationError(body["message"], type=FINAL_ERRORS[body["error"]], non_retryable=True)
        # Anything else that is not a success (503, 504, ...) raises an ordinary error: Temporal retries it.
        response.raise_for_status()
        body = response.json()
        activity.logger.info("%s %s: transaction %s", kind, request.account, body["transaction_id"])
        return Receipt(request.account, request.amount_cents, body["transaction_id"], body["balance_cents"],
                       body["replayed"])
        # <<< Part A
