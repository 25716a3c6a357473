"""The order's steps and their compensations: each a call (or a few) to the bank's shop.

The activities are methods of a class that holds the worker's one bank client (workshop/bank.py). Every
request that changes something carries the idempotency key the workflow made for its step, so an
attempt whose answer was lost can be retried: the bank answers the retry with the first result.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from temporalio import activity
from temporalio.exceptions import ApplicationError

from workshop.bank import OUT_OF_STOCK, UNKNOWN_ITEM, BankClient, final_error
from workshop.money import format_cents

from .shared import (
    CARRIER_UNAVAILABLE,
    CancelShipmentRequest,
    Confirmation,
    ConfirmationRequest,
    Order,
    Payment,
    PaymentRequest,
    RefundRequest,
    ReleaseRequest,
    Reservation,
    ReservationRequest,
    Shipment,
    ShipmentRequest,
    Undone,
)


def undone(note: str) -> Undone:
    """A compensation's report: its name, what it did, and the attempt that did it."""
    info = activity.info()
    return Undone(info.activity_type, note, info.attempt)


class OrderActivities:
    def __init__(self, bank: BankClient) -> None:
        self.bank = bank

    # --- before anything is allocated

    @activity.defn
    async def validate_order(self, order: Order) -> None:
        """Refuse an order that cannot be filled (non-retryable: asking again does not restock)."""
        stock = {item["sku"]: item for item in (await self.bank.call("GET", "/inventory"))["items"]}
        for line in order.lines:
            if line.sku not in stock:
                raise ApplicationError(f"There is no item {line.sku!r}. Items: {', '.join(stock)}.",
                                       type=UNKNOWN_ITEM, non_retryable=True)
            if line.quantity > stock[line.sku]["in_stock"]:
                raise ApplicationError(f"Not enough {stock[line.sku]['name']!r} ({line.sku}): the order asks for "
                                       f"{line.quantity}, {stock[line.sku]['in_stock']} in stock.",
                                       type=OUT_OF_STOCK, non_retryable=True)
        await self.bank.owner(order.payer)  # UnknownAccount (non-retryable) if the bank has no such account

    # --- the steps

    @activity.defn
    async def reserve_inventory(self, request: ReservationRequest) -> Reservation:
        """All the order's lines or none: a line that is short raises OutOfStock, and nothing is reserved."""
        body = await self.bank.call(
            "POST", "/inventory/reservations", key=request.key,
            json={"order_id": request.order_id,
                  "items": [{"sku": line.sku, "quantity": line.quantity} for line in request.lines]},
        )
        return Reservation(body["reservation_id"])

    @activity.defn
    async def charge_payment(self, request: PaymentRequest) -> Payment:
        """A withdraw from the payer; too little money is InsufficientFunds, final."""
        receipt = await self.bank.withdraw(request.account, request.amount_cents, key=request.key,
                                           reference=request.reference)
        return Payment(receipt.transaction_id, receipt.balance_cents)

    @activity.defn
    async def create_shipment(self, request: ShipmentRequest) -> Shipment:
        response = await self.bank.send(
            "POST", "/shipments", key=request.key,
            json={"order_id": request.order_id, "carrier": request.carrier, "address": request.address},
        )
        if response.status_code == 503 and response.json().get("error") == "carrier_unavailable":
            # A refusal with a type of its own, but not a final one: the carrier may take shipments again
            # later, so Temporal retries it (until the step's time budget runs out).
            raise ApplicationError(response.json()["message"], type=CARRIER_UNAVAILABLE)
        error = final_error(response)  # an unknown carrier, say: no retry changes that
        if error is not None:
            raise error
        response.raise_for_status()
        body = response.json()
        return Shipment(body["shipment_id"], body["carrier"])

    @activity.defn
    async def send_confirmation(self, request: ConfirmationRequest) -> Confirmation:
        """The last step: nothing comes after it that could fail, so it needs no compensation."""
        text = (f"Order {request.order_id}: {format_cents(request.amount_cents)} paid by {request.payer}, "
                f"on its way with {request.carrier}.")
        activity.logger.info("Confirmation sent: %s", text)
        return Confirmation(text)

    # --- what the compensations look up: they run without the steps' answers

    async def reservations_of(self, order_id: str) -> list[dict[str, Any]]:
        """The order's reservations, active or already released."""
        return (await self.bank.call("GET", f"/inventory/reservations?order_id={quote(order_id, safe='')}"))["reservations"]

    async def charge_of(self, account: str, key: str) -> dict[str, Any] | None:
        """The ledger entry that the charge with this key wrote, or None (among the account's newest 1,000
        entries: plenty here; a real payment service answers "what became of key K?" itself)."""
        entries = (await self.bank.call("GET", f"/accounts/{account}/ledger?limit=1000"))["entries"]
        return next((entry for entry in entries if entry["idempotency_key"] == key), None)

    async def shipments_of(self, order_id: str) -> list[dict[str, Any]]:
        """The order's shipments, created or already cancelled (the newest 1,000 are plenty here)."""
        shipments = (await self.bank.call("GET", "/shipments?limit=1000"))["shipments"]
        return [shipment for shipment in shipments if shipment["order_id"] == order_id]

    # --- the compensations: each may run more than once, and when its step did nothing

    @activity.defn
    async def release_inventory(self, request: ReleaseRequest) -> Undone:
        # TODO Part D: Make the compensations idempotent, and content with nothing to undo
        raise NotImplementedError('Part D is not done yet: Make the compensations idempotent, and content with nothing to undo. See README.md, Part D.')

    @activity.defn
    async def refund_payment(self, request: RefundRequest) -> Undone:
        # TODO Part D: Make the compensations idempotent, and content with nothing to undo
        raise NotImplementedError('Part D is not done yet: Make the compensations idempotent, and content with nothing to undo. See README.md, Part D.')

    @activity.defn
    async def cancel_shipment(self, request: CancelShipmentRequest) -> Undone:
        # TODO Part D: Make the compensations idempotent, and content with nothing to undo
        raise NotImplementedError('Part D is not done yet: Make the compensations idempotent, and content with nothing to undo. See README.md, Part D.')
