"""The transfer's activities: calls to the account API (the bank)."""

from __future__ import annotations

from temporalio import activity

from workshop.bank import BankClient

from .shared import BankOperation, BankReceipt


class BankActivities:
    """The transfer's activities; they share the worker's one client of the bank (see workshop/bank.py)."""

    def __init__(self, bank: BankClient) -> None:
        self.bank = bank

    @activity.defn
    async def check_account(self, account: str) -> str:
        """The owner of an account; fails for good (UnknownAccount) if the bank does not know it."""
        return await self.bank.owner(account)

    @activity.defn
    async def withdraw(self, operation: BankOperation) -> BankReceipt:
        # >>> Fixed bug: the withdraw called the bank on Jerry's laptop instead of using the worker's bank client.
        bank = self.bank
        # --- exercise version:
        # bank = BankClient("http://localhost:5000")  # the bank's address (works on my machine -- Jerry)
        # <<< Fixed bug
        return await _move(bank, "withdraw", operation)

    @activity.defn
    async def deposit(self, operation: BankOperation) -> BankReceipt:
        return await _move(self.bank, "deposit", operation)


async def _move(bank: BankClient, kind: str, operation: BankOperation) -> BankReceipt:
    activity.logger.info("%s %d cents, account %s (attempt %d)", kind, operation.amount_cents,
                         operation.account, activity.info().attempt)
    move = bank.withdraw if kind == "withdraw" else bank.deposit
    receipt = await move(operation.account, operation.amount_cents, key=operation.key,
                         reference=operation.description)
    return BankReceipt(transaction_id=receipt.transaction_id, balance_cents=receipt.balance_cents)
