"""How every activity in the course calls the bank (the account API): one pattern, explained in module 02.

Three rules, each kept in one place:

1. **One client per worker.** A worker makes one `BankClient` and hands it to its activity class
   (`Worker(..., activities=[activities.withdraw, ...])`). The client keeps one `httpx.AsyncClient`
   with its connection pool; making one per call costs milliseconds of CPU each time (TLS setup) and
   a new connection per request.
2. **Errors mapped by the bank's error code.** An answer the bank will give again however often it is
   asked (`insufficient_funds`, `unknown_account`, ...) becomes an `ApplicationError` with a type from
   this file and ``non_retryable=True``: Temporal stops retrying at once. Everything else that fails
   (a 503, a lost answer, a refused connection) raises an ordinary exception, which Temporal retries.
3. **One idempotency key per business step, named in workflow code.** `idempotency_key(step)` is the
   workflow ID, the run ID of the execution's *first* run and the step. Temporal records the key in the
   activity's input, so every retry of the step sends the same key; a reset or a continue-as-new keeps
   the first run's ID, so a reset run does not pay twice (module 04); and a later execution that reuses
   the workflow ID gets new keys, so the bank does not mistake it for the earlier one (module 01).

Module 02, Part A has you write rules 2 and 3 by hand; every other module uses this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workshop import settings

# The error types of answers that no retry can change. Activities raise them; retry policies may name them.
INSUFFICIENT_FUNDS = "InsufficientFunds"
UNKNOWN_ACCOUNT = "UnknownAccount"
INVALID_AMOUNT = "InvalidAmount"
UNKNOWN_HOLD = "UnknownHold"
HOLD_NOT_ACTIVE = "HoldNotActive"
UNKNOWN_APPROVAL = "UnknownApproval"
ALREADY_DECIDED = "AlreadyDecided"
OUT_OF_STOCK = "OutOfStock"
UNKNOWN_ITEM = "UnknownItem"
UNKNOWN_CARRIER = "UnknownCarrier"
MALFORMED_REQUEST = "MalformedRequest"

# The bank's error code -> the error type an activity raises, non-retryable.
FINAL_ERRORS: dict[str, str] = {
    "insufficient_funds": INSUFFICIENT_FUNDS,
    "unknown_account": UNKNOWN_ACCOUNT,
    "invalid_amount": INVALID_AMOUNT,
    "unknown_hold": UNKNOWN_HOLD,
    "hold_not_active": HOLD_NOT_ACTIVE,
    "unknown_approval": UNKNOWN_APPROVAL,
    "already_decided": ALREADY_DECIDED,
    "out_of_stock": OUT_OF_STOCK,
    "unknown_item": UNKNOWN_ITEM,
    "unknown_carrier": UNKNOWN_CARRIER,
    # A request the bank cannot read is a bug in the caller: retrying sends the same bytes again.
    "malformed_body": MALFORMED_REQUEST,
    "idempotency_key_reused": MALFORMED_REQUEST,
    "missing_idempotency_key": MALFORMED_REQUEST,
    "malformed_idempotency_key": MALFORMED_REQUEST,
}
# For a RetryPolicy's non_retryable_error_types: final whatever activity raises them.
NON_RETRYABLE_ERROR_TYPES = sorted(set(FINAL_ERRORS.values()))


def idempotency_key(step: str) -> str:
    """The key of one business step of the running workflow; call it in workflow code (see rule 3)."""
    info = workflow.info()
    return f"{info.workflow_id}/{info.first_execution_run_id}/{step}"


def final_error(response: httpx.Response) -> ApplicationError | None:
    """The non-retryable error for a final answer of the bank, or None for anything else."""
    if not response.is_error:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("error") if isinstance(body, dict) else None
    if code not in FINAL_ERRORS:
        return None
    return ApplicationError(str(body.get("message") or code), type=FINAL_ERRORS[code], non_retryable=True)


@dataclass
class BankReceipt:
    """The bank's answer to a withdraw or a deposit."""

    transaction_id: int
    balance_cents: int
    account: str = ""
    amount_cents: int = 0
    replayed: bool = False  # True: an earlier attempt was applied; this is its answer again


class BankClient:
    """The bank as the activities of one worker see it. Use one per worker, close it when done."""

    def __init__(self, base_url: str | None = None, timeout: float = 10.0) -> None:
        self.base_url = (base_url or settings.current().account_api_url).rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    async def __aenter__(self) -> BankClient:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, method: str, path: str, *, json: Any = None, key: str | None = None) -> httpx.Response:
        """One request, answered as the bank answered it; a bank that cannot be reached raises ConnectionError."""
        headers = {"Idempotency-Key": key} if key else {}
        try:
            return await self._http.request(method, path, json=json, headers=headers)
        except httpx.TransportError as err:
            # httpx does not say where it tried to connect, and whoever reads the failure in the Web UI
            # needs to know. `from None` keeps httpx's long traceback out of the failure Temporal stores.
            raise ConnectionError(f"Could not reach the bank at {self.base_url}: {err!r}") from None

    async def call(self, method: str, path: str, *, json: Any = None, key: str | None = None) -> Any:
        """One request; returns the JSON answer, or raises what Temporal should do about the failure."""
        response = await self.send(method, path, json=json, key=key)
        error = final_error(response)
        if error is not None:
            raise error
        response.raise_for_status()  # anything else (503, 504, a stranger answering) is retried
        return response.json()

    async def withdraw(self, account: str, amount_cents: int, *, key: str, reference: str = "") -> BankReceipt:
        return await self._move("withdraw", account, amount_cents, key, reference)

    async def deposit(self, account: str, amount_cents: int, *, key: str, reference: str = "") -> BankReceipt:
        return await self._move("deposit", account, amount_cents, key, reference)

    async def owner(self, account: str) -> str:
        """The owner of an account; UnknownAccount (non-retryable) if the bank does not know it."""
        return str((await self.call("GET", f"/accounts/{account}"))["owner"])

    async def _move(self, kind: str, account: str, amount_cents: int, key: str, reference: str) -> BankReceipt:
        body = await self.call("POST", f"/accounts/{account}/{kind}",
                               json={"amount_cents": amount_cents, "reference": reference}, key=key)
        return BankReceipt(transaction_id=body["transaction_id"], balance_cents=body["balance_cents"],
                           account=account, amount_cents=amount_cents, replayed=body.get("replayed", False))
