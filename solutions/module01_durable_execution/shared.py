"""What the payroll workflow, its activity, the worker and the runner agree on."""

from __future__ import annotations

from dataclasses import dataclass, field

from workshop.connection import task_queue, workflow_id

TASK_QUEUE = task_queue("module01-durable-execution")
PAYROLL_WORKFLOW_ID = workflow_id("payroll-module01")


@dataclass
class Payment:
    employee: str  # an account of the account API, e.g. "alice"
    amount_cents: int


@dataclass
class PayrollInput:
    payments: list[Payment]
    # The pause between two payments: long enough to kill the worker in the middle of the run.
    pause_seconds: float = 5.0


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


def november_payroll(pause_seconds: float = 5.0) -> PayrollInput:
    """The payroll the runner, the notebook and the tests start."""
    return PayrollInput(
        payments=[
            Payment("alice", 310_000),
            Payment("bob", 285_000),
            Payment("carol", 298_000),
            Payment("dave", 240_000),
        ],
        pause_seconds=pause_seconds,
    )
