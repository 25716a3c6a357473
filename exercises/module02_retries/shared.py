"""What the transfer workflow, its activities, the worker and the runner agree on."""

from __future__ import annotations

from dataclasses import dataclass

from workshop import connection


def task_queue() -> str:
    """This module's task queue, read when a worker or a runner starts (so WORKSHOP_LEARNER counts)."""
    return connection.task_queue(__package__)


@dataclass
class TransferInput:
    source: str
    target: str
    amount_cents: int
    reference: str = "transfer"


@dataclass
class BankRequest:
    """One call to the bank: which account, how much, and the idempotency key of the transfer's step."""

    account: str
    amount_cents: int
    key: str  # made by the workflow with workshop.bank.idempotency_key(step): the same for every attempt
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
