"""What the batch workflow, its activities, the client functions and the runner agree on."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.workflow import ActivityCancellationType

from workshop import connection


def task_queue() -> str:
    """This module's task queue, read when a worker or a runner starts (so WORKSHOP_LEARNER counts)."""
    return connection.task_queue(__package__)


def batch_workflow_id() -> str:
    """The ID of the runner's batch: fixed, so that `run 06 cancel` and `run 06 terminate` find it."""
    return connection.workflow_id(__package__, "batch-module06")


@dataclass
class Transfer:
    source: str
    target: str
    amount_cents: int


@dataclass
class TransferBatch:
    """The workflow's input: transfers settled one after another, in one long activity."""

    transfers: list[Transfer]
    reference: str = "transfer batch"
    seconds_per_transfer: float = 1.0  # how long the clearing network takes for one transfer
    # How the workflow treats the settling activity when the batch is cancelled (Part E).
    cancellation_type: ActivityCancellationType = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
    # False: a cancelled batch ends Canceled. True: it handles the cancellation and completes with a report.
    complete_when_cancelled: bool = False


@dataclass
class HeldTransfer:
    """One transfer of the batch, and the hold that keeps its money at the source until it is settled."""

    transfer: Transfer
    key: str  # made by the workflow with idempotency_key(f"transfer-{n}"); each bank call adds its verb
    reference: str
    hold_id: str = ""


@dataclass
class Settlement:
    """The settling activity's input."""

    transfers: list[HeldTransfer]
    seconds_per_transfer: float


@dataclass
class Settled:
    """The settling activity's result: how many transfers are settled; in which attempt, resumed after how many."""

    transfers: int
    attempt: int
    resumed_after: int  # transfers a heartbeat of an earlier attempt reported as settled (0: none)


@dataclass
class Cleanup:
    """What the cleanup found at the bank: holds it released, and holds already captured (settled transfers)."""

    released: int
    settled: int


@dataclass
class BatchReport:
    """The workflow's result."""

    transfers: int
    settled: int  # what the cleanup found at the bank
    released: int
    cancelled: bool = False  # True: the batch was cancelled, and handled it (complete_when_cancelled)
