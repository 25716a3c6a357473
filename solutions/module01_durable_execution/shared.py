"""What the payroll workflow, its activity, the worker and the runner agree on."""

from __future__ import annotations

from dataclasses import dataclass, field

from workshop import connection


def task_queue() -> str:
    """This module's task queue, read when a worker or a runner starts (so WORKSHOP_LEARNER counts)."""
    return connection.task_queue(__package__)


def payroll_workflow_id(month: str) -> str:
    """One workflow ID per month's payroll: the ID is what makes each month's payroll a single thing."""
    return connection.workflow_id(__package__, f"payroll-{month}")


@dataclass
class Payment:
    employee: str  # an account of the account API, e.g. "alice"
    amount_cents: int


@dataclass
class PayrollInput:
    month: str
    payments: list[Payment]
    # The pause between two payments: long enough to kill the worker in the middle of the run.
    pause_seconds: float = 5.0


@dataclass
class SalaryDeposit:
    """The activity's input: one payment, with the idempotency key the workflow made for it."""

    payment: Payment
    key: str
    reference: str


@dataclass
class PaymentConfirmation:
    employee: str
    amount_cents: int
    transaction_id: int
    balance_cents: int


@dataclass
class PayrollResult:
    confirmations: list[PaymentConfirmation] = field(default_factory=list)

    @property
    def total_cents(self) -> int:
        return sum(c.amount_cents for c in self.confirmations)


def monthly_payroll(month: str = "november", pause_seconds: float = 5.0) -> PayrollInput:
    """The payroll the runner, the notebook and the tests start: the same four salaries every month."""
    return PayrollInput(
        month=month,
        payments=[
            Payment("alice", 310_000),
            Payment("bob", 285_000),
            Payment("carol", 298_000),
            Payment("dave", 240_000),
        ],
        pause_seconds=pause_seconds,
    )
