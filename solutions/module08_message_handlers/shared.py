"""What the transfer batch workflow, its activities, the worker and the runner agree on."""

from __future__ import annotations

from dataclasses import dataclass, field

from workshop import connection


def task_queue() -> str:
    """This module's task queue, read when a worker or a runner starts (so WORKSHOP_LEARNER counts)."""
    return connection.task_queue(__package__)


def batch_workflow_id(batch_id: str) -> str:
    """The workflow ID of a batch: one execution per batch, whatever runs it takes."""
    return connection.workflow_id(__package__, f"batch-{batch_id}")


# How a batch's run ends, once its transfers have arrived (the runner tries each one).
SUCCESS = "success"  # the batch closes and settles its transfers: the workflow completes
FAILURE = "failure"  # the clearing house rejects the batch: the workflow fails
CANCELLATION = "cancellation"  # the batch stays open until an operator cancels it
CONTINUE_AS_NEW = "continue_as_new"  # the batch rolls over into a fresh run, which settles it
EXIT_TYPES = (SUCCESS, FAILURE, CANCELLATION, CONTINUE_AS_NEW)

# What an add_transfer update does when the run exits under it before the transfer is added
# (the batch fails, is cancelled or continues as new; a batch that settles always lets it finish).
CONTINUE = "continue"  # finish adding the transfer: the run waits for it
ABORT_WITH_COMPENSATION = "abort_with_compensation"  # release the reserved money and fail the update
UPDATE_ACTIONS = (CONTINUE, ABORT_WITH_COMPENSATION)

# The receiving bank takes a moment to confirm a payee (simulated in the check_payee activity).
PAYEE_CHECK_SECONDS = 0.2


@dataclass
class Transfer:
    """What a caller asks a batch to add: the argument of the add_transfer update."""

    transfer_id: str  # unique within the batch
    source: str
    target: str
    amount_cents: int
    on_batch_exit: str = CONTINUE  # one of UPDATE_ACTIONS


@dataclass
class TransferAdded:
    """The result of add_transfer: the money is reserved and the payee confirmed."""

    transfer_id: str
    hold_id: str
    payee: str  # the owner of the target account, as the receiving bank names them


@dataclass
class BatchedTransfer:
    """A transfer in the batch, with the hold that reserves its money until the batch settles."""

    transfer: Transfer
    hold_id: str


@dataclass
class BatchInput:
    batch_id: str
    ending: str = SUCCESS  # one of EXIT_TYPES
    size: int = 1  # the batch closes once this many transfers have arrived in the run
    # Transfers added by earlier runs of the batch, handed over by continue-as-new.
    carried_over: list[BatchedTransfer] = field(default_factory=list)


@dataclass
class BatchResult:
    batch_id: str
    settled: list[str]  # the transfer IDs, in the order they were settled


@dataclass
class HoldRequest:
    account: str
    amount_cents: int
    reference: str
    key: str  # made by the workflow with workshop.bank.idempotency_key(step)


@dataclass
class HoldChange:
    """Release or capture one hold."""

    hold_id: str
    key: str


@dataclass
class MoneyMovement:
    account: str
    amount_cents: int
    reference: str
    key: str


@dataclass
class Receipt:
    transaction_id: int
    balance_cents: int
