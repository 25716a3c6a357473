"""The batch's activities: holds on money, a payee check, and the settlement, each one call to the bank."""

from __future__ import annotations

import asyncio

from temporalio import activity

from workshop.bank import BankClient

from .shared import PAYEE_CHECK_SECONDS, HoldChange, HoldRequest, MoneyMovement, Receipt, Transfer


class BankActivities:
    """The module's activities; they share the worker's one client of the bank (see workshop/bank.py)."""

    def __init__(self, bank: BankClient) -> None:
        self.bank = bank

    @activity.defn
    async def place_hold(self, request: HoldRequest) -> str:
        """Reserve money on an account: it stays there, but cannot be spent twice. Returns the hold's ID."""
        hold = await self.bank.call("POST", f"/accounts/{request.account}/holds", key=request.key,
                                    json={"amount_cents": request.amount_cents, "reference": request.reference})
        activity.logger.info("Held %d cents on %s (%s)", request.amount_cents, request.account, hold["hold_id"])
        return str(hold["hold_id"])

    @activity.defn
    async def release_hold(self, change: HoldChange) -> None:
        """Give the reserved money back to the account's owner (releasing it twice changes nothing)."""
        await self.bank.call("POST", f"/holds/{change.hold_id}/release", key=change.key)
        activity.logger.info("Released %s", change.hold_id)

    @activity.defn
    async def check_payee(self, transfer: Transfer) -> str:
        """The receiving bank confirms the payee of a transfer: the owner's name, or UnknownAccount."""
        await asyncio.sleep(PAYEE_CHECK_SECONDS)  # the receiving bank is not in a hurry
        return await self.bank.owner(transfer.target)

    @activity.defn
    async def capture_hold(self, change: HoldChange) -> Receipt:
        """Take the reserved money off the account: a withdrawal in its ledger."""
        hold = await self.bank.call("POST", f"/holds/{change.hold_id}/capture", key=change.key)
        return Receipt(hold["transaction_id"], hold["balance_cents"])

    @activity.defn
    async def deposit(self, movement: MoneyMovement) -> Receipt:
        receipt = await self.bank.deposit(movement.account, movement.amount_cents, key=movement.key,
                                          reference=movement.reference)
        return Receipt(receipt.transaction_id, receipt.balance_cents)
