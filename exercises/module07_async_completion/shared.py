"""What the transfer workflow, its activities, the worker, the runner and the approver agree on."""

from __future__ import annotations

from dataclasses import dataclass

from workshop import connection


def task_queue() -> str:
    """This module's task queue, read when a worker or a runner starts (so WORKSHOP_LEARNER counts)."""
    return connection.task_queue(__package__)


def transfer_workflow_id() -> str:
    """The ID of the module's transfer: fixed, so that the runner and the approver find the same one."""
    return connection.workflow_id(__package__, "transfer-module07")


# The error type of an approver's "no": the workflow tells a rejection from every other failure by it.
TRANSFER_REJECTED = "TransferRejected"


@dataclass
class TransferRequest:
    from_account: str
    to_account: str
    amount_cents: int
    note: str = ""
    # The approver answers, or shows it is still at work (a heartbeat), at least this often. A longer silence
    # times the attempt out; after the last attempt, the transfer expires (Part D).
    approver_heartbeat_timeout_seconds: float = 300.0


@dataclass
class ApprovalRequest:
    """What the approval activity asks the bank to put in front of a person."""

    transfer_id: str
    from_account: str
    to_account: str
    amount_cents: int
    note: str
    idempotency_key: str  # made by the workflow with workshop.bank.idempotency_key(step)


@dataclass
class ApprovalDecision:
    """The approval activity's result. The approver sends it, not the worker that started the activity."""

    approver: str
    comment: str = ""


@dataclass
class ApprovalExpiry:
    """Asks the bank to close a transfer's pending approval request that nobody answered in time."""

    transfer_id: str
    reason: str
    idempotency_key: str  # the step's key; each request it closes gets a key of its own made from it


@dataclass
class MoneyMovement:
    account: str
    amount_cents: int
    reference: str
    idempotency_key: str


@dataclass
class Receipt:
    transaction_id: int
    balance_cents: int


@dataclass
class TransferOutcome:
    status: str  # "completed", "rejected" or "expired"
    approver: str = ""
    comment: str = ""
    withdraw_transaction: int | None = None
    deposit_transaction: int | None = None
