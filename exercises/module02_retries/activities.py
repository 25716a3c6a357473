"""Withdraw and deposit: each one call to the bank, safe to retry."""

from __future__ import annotations

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from workshop.connection import account_api_url

from .shared import INSUFFICIENT_FUNDS, INVALID_AMOUNT, UNKNOWN_ACCOUNT, BankRequest, Receipt


async def call_bank(kind: str, request: BankRequest) -> Receipt:
    """POST /accounts/<id>/<kind>, turning the bank's answers into what Temporal should do next."""
    # TODO Part A: Call the bank with an idempotency key and make business errors non-retryable.
    raise NotImplementedError('Part A is not done yet: Call the bank with an idempotency key and make business errors non-retryable. See README.md, Part A.')


@activity.defn
async def withdraw(request: BankRequest) -> Receipt:
    return await call_bank("withdraw", request)


@activity.defn
async def deposit(request: BankRequest) -> Receipt:
    return await call_bank("deposit", request)
