"""The payroll workflow: pay each employee, pausing between payments."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from .activities import pay_salary
    from .shared import PayrollInput, PayrollResult


@workflow.defn
class PayrollWorkflow:
    @workflow.run
    async def run(self, payroll: PayrollInput) -> PayrollResult:
        result = PayrollResult()
        # >>> Part A: Pay each employee in turn, with a durable timer between payments.
        for number, payment in enumerate(payroll.payments, start=1):
            if number > 1:
                # A timer kept by the Temporal server: it fires even if this worker is gone meanwhile.
                await workflow.sleep(timedelta(seconds=payroll.pause_seconds))
            confirmation = await workflow.execute_activity(
                pay_salary, payment, start_to_close_timeout=timedelta(seconds=15)
            )
            workflow.logger.info("Paid %s (%d of %d)", payment.employee, number, len(payroll.payments))
            result.confirmations.append(confirmation)
        # <<< Part A
        return result
