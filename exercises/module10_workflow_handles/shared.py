"""What the standing order workflow, its activities, the worker, the client code and the runner agree on."""

from __future__ import annotations

from dataclasses import dataclass

from workshop import connection

MONTH_SECONDS = 30 * 24 * 3600.0


def task_queue() -> str:
    """This module's task queue, read when a worker or a runner starts (so WORKSHOP_LEARNER counts)."""
    return connection.task_queue(__package__)


def order_workflow_id(payer: str, payee: str) -> str:
    """One standing order per payer and payee: the ID names them, so opening it again finds it."""
    return connection.workflow_id(__package__, f"standing-order-{payer}-{payee}")


@dataclass
class StandingOrder:
    """The order, and the input of each of its runs: continue-as-new hands it on with the payments made."""

    payer: str
    payee: str
    amount_cents: int  # each payment; the change_amount signal changes it for the payments to come
    payments: int = 3  # in all; the order ends after the last one
    period_seconds: float = MONTH_SECONDS  # between two payments (pay_now pays at once)
    paid: int = 0  # payments made by the runs before this one
    paid_cents: int = 0


@dataclass
class OrderRef:
    """What the app keeps to find its order again: the workflow ID, and the run that began the order."""

    workflow_id: str
    first_run_id: str


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
class Payment:
    """One payment of the order, as the pay_now update answers it."""

    number: int  # 1 for the order's first payment, whichever run makes it
    amount_cents: int
    run_id: str  # the run that made it
    withdraw_transaction: int
    deposit_transaction: int


@dataclass
class OrderProgress:
    """What the progress query answers, from the run that the query reached."""

    paid: int
    payments: int
    amount_cents: int
    paid_cents: int
    run_id: str  # the run that answered


@dataclass
class OrderSummary:
    """The order's result, returned by its last run."""

    paid: int
    paid_cents: int
    last_run_id: str


@dataclass
class RunInfo:
    """One run of an order: its run ID and how it stands (RUNNING, CONTINUED_AS_NEW, COMPLETED, CANCELED, ...)."""

    run_id: str
    status: str
