"""The payroll's one activity: a salary deposit into an employee's account at the bank."""

from __future__ import annotations

from temporalio import activity

from workshop.bank import BankClient

from .shared import PaymentConfirmation, SalaryDeposit


class PayrollActivities:
    """The activities share the worker's one client of the bank (see workshop/bank.py)."""

    def __init__(self, bank: BankClient) -> None:
        self.bank = bank

    @activity.defn
    async def pay_salary(self, deposit: SalaryDeposit) -> PaymentConfirmation:
        payment = deposit.payment
        activity.logger.info("Paying %s %d cents", payment.employee, payment.amount_cents)
        # The key comes from the workflow: if Temporal retries this activity after a lost answer, the bank
        # recognises the request and does not pay twice.
        receipt = await self.bank.deposit(payment.employee, payment.amount_cents, key=deposit.key,
                                          reference=deposit.reference)
        return PaymentConfirmation(payment.employee, payment.amount_cents, receipt.transaction_id,
                                   receipt.balance_cents)
