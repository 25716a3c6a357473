"""What the transfer workflow, its activities, the worker and the scripts agree on."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from workshop.connection import task_queue, workflow_id

TASK_QUEUE = task_queue("module04-bug-handling")

# Transfers from this amount on get a note on the bank's ledger (and, in Jerry's version, a bug).
LARGE_TRANSFER_CENTS = 10_000

# The ID of the Part C change. A worker that meets a history without this marker knows the
# execution started before the change, and skips the new step while it replays.
CHECK_TARGET_PATCH = "check-target-account"


@dataclass
class TransferInput:
    source: str  # accounts of the account API, e.g. "alice"
    target: str
    amount_cents: int
    reference: str  # shown on both ledger entries, e.g. "invoice 2041"
    # 0 keeps Temporal's default: retry the bank calls until they succeed. Part D limits it.
    max_attempts: int = 0


@dataclass
class BankOperation:
    """One call to the bank: a withdraw or a deposit."""

    account: str
    amount_cents: int
    description: str


@dataclass
class BankReceipt:
    transaction_id: int
    balance_cents: int


@dataclass
class TransferResult:
    reference: str
    amount_cents: int
    withdraw_transaction_id: int
    deposit_transaction_id: int


def transfer_workflow_id() -> str:
    """A fresh workflow ID per transfer; the workflow ID is also what makes the bank calls idempotent."""
    return workflow_id(f"transfer-{uuid.uuid4().hex[:8]}")


def example_transfer(max_attempts: int = 0) -> TransferInput:
    """The transfer the runner, the notebook and the tests start: large enough to meet Jerry's bug."""
    return TransferInput("alice", "bob", 25_000, "invoice 2041", max_attempts=max_attempts)
