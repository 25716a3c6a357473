"""The transfer's activities: calls to the account API (the bank)."""

from __future__ import annotations

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from workshop.connection import account_api_url

from .shared import BankOperation, BankReceipt

# The bank's answers that no retry can change, and the error type each becomes.
NON_RETRYABLE = {
    "insufficient_funds": "InsufficientFunds",
    "unknown_account": "UnknownAccount",
    "invalid_amount": "InvalidAmount",
}


def _business_error(response: httpx.Response) -> ApplicationError | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error_type = NON_RETRYABLE.get(body.get("error")) if isinstance(body, dict) else None
    if error_type is None:
        return None
    return ApplicationError(body.get("message", body["error"]), type=error_type, non_retryable=True)


async def _move_money(bank_url: str, kind: str, operation: BankOperation) -> BankReceipt:
    info = activity.info()
    # The workflow ID names the transfer, the kind names the step. Every retry sends the same key, and
    # so does a reset run of the same transfer (Part D): the bank applies the request at most once.
    # (Not the run ID: a reset starts a new run, and its withdraw must not take the money again.)
    key = f"{info.workflow_id}/{kind}"
    activity.logger.info("%s %d cents, account %s (attempt %d)", kind, operation.amount_cents,
                         operation.account, info.attempt)
    try:
        async with httpx.AsyncClient(base_url=bank_url, timeout=10) as bank:
            response = await bank.post(
                f"/accounts/{operation.account}/{kind}",
                json={"amount_cents": operation.amount_cents, "reference": operation.description},
                headers={"Idempotency-Key": key},
            )
    except httpx.TransportError as err:
        # httpx does not say where it tried to connect, and whoever reads this failure in the Web UI needs
        # to know. (`from None` keeps httpx's long traceback out of the failure Temporal stores.)
        raise ConnectionError(f"Could not reach the account API at {bank_url}: {err!r}") from None
    business_error = _business_error(response)
    if business_error:
        raise business_error
    response.raise_for_status()  # anything else (5xx, a stranger answering) is retried
    body = response.json()
    return BankReceipt(transaction_id=body["transaction_id"], balance_cents=body["balance_cents"])


@activity.defn
async def check_account(account: str) -> str:
    """The owner of an account; fails for good if the bank does not know it."""
    async with httpx.AsyncClient(base_url=account_api_url(), timeout=10) as bank:
        response = await bank.get(f"/accounts/{account}")
    business_error = _business_error(response)
    if business_error:
        raise business_error
    response.raise_for_status()
    return response.json()["owner"]


@activity.defn
async def withdraw(operation: BankOperation) -> BankReceipt:
    bank_url = "http://localhost:5000"  # the bank's address (works on my machine -- Jerry)
    return await _move_money(bank_url, "withdraw", operation)


@activity.defn
async def deposit(operation: BankOperation) -> BankReceipt:
    return await _move_money(account_api_url(), "deposit", operation)
