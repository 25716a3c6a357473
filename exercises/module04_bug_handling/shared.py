"""What the transfer workflow, its activities, the worker and the scripts agree on."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from workshop import connection


def task_queue() -> str:
    """This module's task queue, read when a worker or a runner starts (so WORKSHOP_LEARNER counts)."""
    return connection.task_queue(__package__)


# Transfers from this amount on get a note on the bank's ledger (and, in Jerry's version, a bug).
LARGE_TRANSFER_CENTS = 10_000

# How long the server waits for a worker to complete a workflow task before offering it again.
WORKFLOW_TASK_TIMEOUT = timedelta(seconds=2)

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
    # Made by the workflow with workshop.bank.idempotency_key(step). It keeps the first run's ID, so a
    # reset run of the same transfer (Part D) sends the same key, and the bank applies the step once.
    key: str = ""


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
    """A fresh workflow ID per transfer."""
    return connection.workflow_id(__package__, f"transfer-{uuid.uuid4().hex[:8]}")


def example_transfer(max_attempts: int = 0) -> TransferInput:
    """The transfer the runner, the notebook and the tests start: large enough to meet Jerry's bug."""
    return TransferInput("alice", "bob", 25_000, "invoice 2041", max_attempts=max_attempts)
