"""What the transfer workflow, its activities, the worker and the runner agree on."""

from __future__ import annotations

from dataclasses import dataclass, field

from workshop import connection


def task_queue() -> str:
    """This module's task queue, read when a worker or a runner starts (so WORKSHOP_LEARNER counts)."""
    return connection.task_queue(__package__)


def transfer_workflow_id() -> str:
    """The ID of the module's transfer: fixed, so every command of the runner finds it."""
    return connection.workflow_id(__package__, "transfer-module05")

# The steps a transfer goes through, as the progress query names them.
AWAITING_CONFIRMATION = "awaiting confirmation"
WITHDRAWING = "withdrawing"
DEPOSITING = "depositing"
COMPLETED = "completed"


@dataclass
class TransferRequest:
    from_account: str
    to_account: str
    amount_cents: int


@dataclass
class MoneyMovement:
    account: str
    amount_cents: int
    reference: str
    idempotency_key: str  # made by the workflow with workshop.bank.idempotency_key(step)


@dataclass
class Receipt:
    transaction_id: int
    balance_cents: int
    attempt: int  # which attempt of the activity got this answer from the bank


@dataclass
class TransferProgress:
    """What the progress query answers: a snapshot, safe to hand out."""

    step: str
    balances_seen: dict[str, int] = field(default_factory=dict)  # account -> balance the bank reported
    attempts: dict[str, int] = field(default_factory=dict)  # "withdraw" / "deposit" -> attempts it took


@dataclass
class TransferResult:
    withdraw_transaction: int
    deposit_transaction: int
