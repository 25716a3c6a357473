"""The payroll workflow: pay each employee, pausing between payments."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():

    from .activities import PayrollActivities
    from .shared import PayrollInput, PayrollResult, SalaryDeposit


@workflow.defn
class PayrollWorkflow:
    @workflow.run
    async def run(self, payroll: PayrollInput) -> PayrollResult:
        result = PayrollResult()
        # TODO Part A: Pay each employee in turn, with a durable timer between payments.
        raise NotImplementedError('Part A is not done yet: Pay each employee in turn, with a durable timer between payments. See README.md, Part A.')
        return result
