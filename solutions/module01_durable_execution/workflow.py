"""The payroll workflow: pay each employee, pausing between payments."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workshop.bank import idempotency_key

    from .activities import PayrollActivities
    from .shared import PayrollInput, PayrollResult, SalaryDeposit


@workflow.defn
class PayrollWorkflow:
    @workflow.run
    async def run(self, payroll: PayrollInput) -> PayrollResult:
        result = PayrollResult()
        # >>> Part A: Pay each employee in turn, with a durable timer between payments.
        info = workflow.info()
        # On the bank's ledger: which payroll and which execution of it paid this salary.
        reference = f"salary {payroll.month} ({info.workflow_id}, run {info.run_id[:8]})"
        for number, payment in enumerate(payroll.payments, start=1):
            if number > 1:
                # A timer kept by the Temporal server: it fires even if this worker is gone meanwhile.
                await workflow.sleep(timedelta(seconds=payroll.pause_seconds))
            confirmation = await workflow.execute_activity_method(
                PayrollActivities.pay_salary,
                SalaryDeposit(payment, idempotency_key(f"salary/{payment.employee}"), reference),
                start_to_close_timeout=timedelta(seconds=15),
            )
            workflow.logger.info("Paid %s (%d of %d)", payment.employee, number, len(payroll.payments))
            result.confirmations.append(confirmation)
        # <<< Part A
        return result
