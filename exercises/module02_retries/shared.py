"""What the transfer workflow, its activities, the worker and the runner agree on."""

from __future__ import annotations

from dataclasses import dataclass

from workshop.connection import task_queue

TASK_QUEUE = task_queue("module02-retries")

# Error types that no retry can fix. The activities raise them; the workflow's retry policy names them.
INSUFFICIENT_FUNDS = "InsufficientFunds"
UNKNOWN_ACCOUNT = "UnknownAccount"
INVALID_AMOUNT = "InvalidAmount"


@dataclass
class TransferInput:
    source: str
    target: str
    amount_cents: int
    reference: str = "transfer"


@dataclass
class BankRequest:
    """One call to the bank: which account, how much, and the transfer step it belongs to."""

    account: str
    amount_cents: int
    step: str  # "withdraw", "deposit" or "refund": part of the idempotency key
    reference: str = ""


@dataclass
class Receipt:
    account: str
    amount_cents: int
    transaction_id: int
    balance_cents: int
    replayed: bool = False


@dataclass
class TransferResult:
    withdrawal: Receipt
    deposit: Receipt
