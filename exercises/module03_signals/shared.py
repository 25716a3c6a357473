"""What the signal workflows, their activities, the worker and the runner agree on."""

from __future__ import annotations

from dataclasses import dataclass, field

from workshop import connection


def task_queue() -> str:
    """This module's task queue, read when a worker or a runner starts (so WORKSHOP_LEARNER counts)."""
    return connection.task_queue(__package__)


def transfer_workflow_id() -> str:
    """The ID of the module's transfer: fixed, so `run 03 approve` finds the transfer that waits."""
    return connection.workflow_id(__package__, "transfer-module03")

# The fraud review approves transfers up to this amount on its own; bigger ones need a person.
AUTO_APPROVAL_LIMIT_CENTS = 50_000


@dataclass
class TransferRequest:
    from_account: str
    to_account: str
    amount_cents: int
    # How long the transfer waits for a decision before it gives up (nothing is moved then).
    approval_timeout_seconds: float = 3600.0


@dataclass
class Approval:
    """The decision that the `decide` signal carries into a waiting transfer."""

    approver: str
    approved: bool
    comment: str = ""


@dataclass
class TransferOutcome:
    status: str  # "completed", "rejected" or "expired"
    approver: str = ""
    comment: str = ""
    withdraw_transaction: int | None = None
    deposit_transaction: int | None = None


@dataclass
class ReviewRequest:
    """Asks the fraud review workflow to decide the transfer running under `transfer_workflow_id`."""

    transfer_workflow_id: str
    amount_cents: int
    reviewer: str = "fraud-review"


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


@dataclass
class AccountEvent:
    """One event for an account entity. `event_id` is unique: the bank sees it as the idempotency key."""

    event_id: str
    kind: str  # "deposit" or "withdraw"
    amount_cents: int
    note: str = ""


@dataclass
class LegacyPosting:
    """What the old branch system sends, as a signal named after the kind ("deposit" / "withdraw")."""

    event_id: str
    amount_cents: int


@dataclass
class AccountState:
    """The input of an account entity's run; continue-as-new hands it to the next run."""

    account_id: str
    processed: int = 0  # events processed by all runs so far
    balance_cents: int | None = None  # the balance the bank reported after the last event
    declined: list[str] = field(default_factory=list)  # event IDs the bank refused (insufficient funds)
    pending: list[AccountEvent] = field(default_factory=list)  # received, not yet processed
    # A run processes at most this many events, then continues as new (or sooner, when Temporal suggests it).
    events_per_run: int = 500


@dataclass
class Posting:
    """An activity's input: apply one event to one account at the bank."""

    account_id: str
    event: AccountEvent
    idempotency_key: str  # the event's: a retried or replayed event is applied once


def account_workflow_id(account_id: str) -> str:
    """One entity workflow per account: the ID is derived from the account, never random."""
    return connection.workflow_id(__package__, f"account-{account_id}")
