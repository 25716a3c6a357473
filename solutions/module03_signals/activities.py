"""Activities: money moves at the bank, each request with the idempotency key its workflow made."""

from __future__ import annotations

from temporalio import activity

from workshop.bank import BankClient

from .shared import MoneyMovement, Posting, Receipt


class BankActivities:
    """The module's activities; they share the worker's one client of the bank (see workshop/bank.py)."""

    def __init__(self, bank: BankClient) -> None:
        self.bank = bank

    @activity.defn
    async def withdraw(self, movement: MoneyMovement) -> Receipt:
        activity.logger.info("Withdrawing %d cents from %s", movement.amount_cents, movement.account)
        receipt = await self.bank.withdraw(movement.account, movement.amount_cents,
                                           key=movement.idempotency_key, reference=movement.reference)
        return Receipt(receipt.transaction_id, receipt.balance_cents)

    @activity.defn
    async def deposit(self, movement: MoneyMovement) -> Receipt:
        activity.logger.info("Depositing %d cents into %s", movement.amount_cents, movement.account)
        receipt = await self.bank.deposit(movement.account, movement.amount_cents,
                                          key=movement.idempotency_key, reference=movement.reference)
        return Receipt(receipt.transaction_id, receipt.balance_cents)

    @activity.defn
    async def apply_account_event(self, posting: Posting) -> Receipt:
        event = posting.event
        activity.logger.info("Applying event %s (%s) to %s", event.event_id, event.kind, posting.account_id)
        reference = f"event {event.event_id}" + (f": {event.note}" if event.note else "")
        move = self.bank.deposit if event.kind == "deposit" else self.bank.withdraw
        receipt = await move(posting.account_id, event.amount_cents, key=posting.idempotency_key, reference=reference)
        return Receipt(receipt.transaction_id, receipt.balance_cents)
