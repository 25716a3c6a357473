"""What the order workflow, its saga, its activities, the worker and the runner agree on."""

from __future__ import annotations

from dataclasses import dataclass, field

from workshop import connection


def task_queue() -> str:
    """This module's task queue, read when a worker or a runner starts (so WORKSHOP_LEARNER counts)."""
    return connection.task_queue(__package__)


def order_workflow_id(order_id: str) -> str:
    """The workflow ID of an order: one execution per order ID."""
    return connection.workflow_id(__package__, f"order-{order_id}")


# The error type of a carrier that is not taking shipments right now: worth retrying, so not in
# workshop.bank's final errors.
CARRIER_UNAVAILABLE = "CarrierUnavailable"


@dataclass
class OrderLine:
    sku: str
    quantity: int


@dataclass
class Order:
    order_id: str  # unique per order: the bank files the reservation and the shipment under it
    lines: list[OrderLine]
    payer: str  # the account the payment is taken from
    amount_cents: int
    carrier: str = "parcelpost"
    address: str = "1 Main St, Springfield"
    ship_within_seconds: int = 120  # how long the shipment step may keep retrying, all attempts together


# --- the steps' inputs and answers; every key is made by the workflow with idempotency_key(step)


@dataclass
class ReservationRequest:
    order_id: str
    lines: list[OrderLine]
    key: str


@dataclass
class Reservation:
    reservation_id: str


@dataclass
class PaymentRequest:
    """A charge: a withdraw from the payer."""

    account: str
    amount_cents: int
    key: str
    reference: str


@dataclass
class Payment:
    transaction_id: int
    balance_cents: int


@dataclass
class ShipmentRequest:
    order_id: str
    carrier: str
    address: str
    key: str


@dataclass
class Shipment:
    shipment_id: str
    carrier: str


@dataclass
class ConfirmationRequest:
    order_id: str
    payer: str
    amount_cents: int
    carrier: str


@dataclass
class Confirmation:
    text: str


# --- the compensations' inputs and answers


# Each compensation is registered before its step, when the step's answer (a reservation's ID, a
# shipment's ID) does not exist yet: it finds what to undo by the order's ID or by the step's key.


@dataclass
class ReleaseRequest:
    order_id: str
    key: str


@dataclass
class RefundRequest:
    account: str
    amount_cents: int
    charge_key: str  # the charge's idempotency key: the ledger says whether that charge happened
    key: str  # the refund's own key
    reference: str


@dataclass
class CancelShipmentRequest:
    order_id: str
    key: str


@dataclass
class Undone:
    """What a compensation reports: which one it was, what it did, and on which attempt it succeeded."""

    compensation: str
    note: str
    attempt: int = 1


@dataclass
class OrderReport:
    """The order's saga so far: the `report` query's answer and the workflow's result."""

    order_id: str
    steps_done: list[str] = field(default_factory=list)
    compensations: list[str] = field(default_factory=list)  # registered, in the order of their steps
    undone: list[Undone] = field(default_factory=list)  # compensations that ran, in the order they ran
    not_undone: list[str] = field(default_factory=list)  # compensations that failed for good
    failure: str = ""  # why the order failed, if it did
