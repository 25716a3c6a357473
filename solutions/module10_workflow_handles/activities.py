"""The order's activities: a withdrawal and a deposit at the bank, each with the key its workflow made."""

from __future__ import annotations

from temporalio import activity

from workshop.bank import BankClient

from .shared import MoneyMovement, Receipt


class BankActivities:
    """The order's activities; they share the worker's one client of the bank (see workshop/bank.py)."""

    def __init__(self, bank: BankClient) -> None:
        self.bank = bank

    @activity.defn
    async def withdraw(self, movement: MoneyMovement) -> Receipt:
        receipt = await self.bank.withdraw(movement.account, movement.amount_cents, key=movement.idempotency_key,
                                           reference=movement.reference)
        return Receipt(receipt.transaction_id, receipt.balance_cents)

    @activity.defn
    async def deposit(self, movement: MoneyMovement) -> Receipt:
        receipt = await self.bank.deposit(movement.account, movement.amount_cents, key=movement.idempotency_key,
                                          reference=movement.reference)
        return Receipt(receipt.transaction_id, receipt.balance_cents)
