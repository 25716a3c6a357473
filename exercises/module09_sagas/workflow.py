"""An order as a saga: reserve, charge, ship, confirm; when a step fails, undo the steps done, last first."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError
from temporalio.workflow import ActivityCancellationType

from .saga import Saga

with workflow.unsafe.imports_passed_through():
    from workshop.bank import idempotency_key

    from .activities import OrderActivities
    from .shared import (
        CancelShipmentRequest,
        ConfirmationRequest,
        Order,
        OrderReport,
        PaymentRequest,
        RefundRequest,
        ReleaseRequest,
        ReservationRequest,
        ShipmentRequest,
    )

Request = TypeVar("Request")
Result = TypeVar("Result")
# One attempt at the bank that takes longer than this has failed: it is retried.
ATTEMPT_TIMEOUT = timedelta(seconds=10)


@workflow.defn
class OrderWorkflow:
    def __init__(self) -> None:
        self._order_id = ""
        self._steps_done: list[str] = []
        self._saga = Saga()
        self._failure = ""

    @workflow.query
    def report(self) -> OrderReport:
        saga = self._saga
        return OrderReport(self._order_id, self._steps_done, [c.name for c in saga.compensations], saga.undone,
                           saga.not_undone, self._failure)

    @workflow.run
    async def run(self, order: Order) -> OrderReport:
        self._order_id = order.order_id
        saga = self._saga
        try:
            # Nothing is allocated yet: an order that cannot be filled (an item out of stock, an unknown
            # payer) is refused here, with nothing to undo.
            await self._step(OrderActivities.validate_order, order)
            # TODO Part A: Register each step's compensation before running the step
            await self._step(OrderActivities.reserve_inventory,
                             ReservationRequest(order.order_id, order.lines, idempotency_key("reserve")))
            await self._step(OrderActivities.charge_payment,
                             PaymentRequest(order.payer, order.amount_cents, idempotency_key("charge"),
                                            f"order {order.order_id}"))
            shipment = await self._step(OrderActivities.create_shipment,
                                        ShipmentRequest(order.order_id, order.carrier, order.address,
                                                        idempotency_key("ship")),
                                        budget=timedelta(seconds=order.ship_within_seconds))
            await self._step(OrderActivities.send_confirmation,
                             ConfirmationRequest(order.order_id, order.payer, order.amount_cents, shipment.carrier))
        except (ActivityError, asyncio.CancelledError) as failure:
            # A step failed for good, or the order was cancelled during a step (see _step). Only these: a
            # bug in this code (a TypeError, say) fails the workflow task instead, which waits for the fix
            # (module 04) with nothing undone by mistake.
            cancelled = workflow.cancellation_reason() is not None
            self._failure = "the order was cancelled" if cancelled else reason(failure)
            workflow.logger.warning("Order %s, compensating: %s", order.order_id, self._failure)
            await saga.compensate()
            if cancelled:
                raise asyncio.CancelledError(self._failure) from failure  # the execution ends Canceled
            undone = ", ".join(u.compensation for u in saga.undone) or "nothing"
            not_undone = f"; NOT undone: {', '.join(saga.not_undone)}" if saga.not_undone else ""
            raise ApplicationError(f"Order {order.order_id}: {self._failure} (undone: {undone}{not_undone})",
                                   type="OrderFailed") from failure
        return self.report()

    async def _step(self, activity: Callable[[Any, Request], Awaitable[Result]], request: Request,
                    budget: timedelta | None = None) -> Result:
        """Run one step of the order at the bank; `budget` bounds all its attempts together."""
        if workflow.cancellation_reason() is not None:
            # The order was cancelled while the step before was at the bank, and that step went through (its
            # await returned as if no cancellation had come): take no further step, undo the ones done.
            raise asyncio.CancelledError("the order was cancelled")
        # TODO Part C: Fail at once on final refusals, retry the rest within the step's budget
        retry_policy = RetryPolicy(maximum_attempts=1)
        schedule_to_close = None
        result = await workflow.execute_activity_method(
            activity, request, start_to_close_timeout=ATTEMPT_TIMEOUT, schedule_to_close_timeout=schedule_to_close,
            retry_policy=retry_policy,
            # On a cancellation, wait until the attempt at the bank has ended (these activities do not
            # heartbeat, so it runs to its end): a compensation that started sooner could look before the
            # attempt lands, find nothing, and leave it in place.
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        self._steps_done.append(activity.__name__)
        return result


def reason(failure: BaseException) -> str:
    """What went wrong, in one line: the failed step and the innermost message."""
    step = failure.activity_type if isinstance(failure, ActivityError) else "the workflow"
    while isinstance(failure, FailureError) and failure.cause is not None:
        failure = failure.cause
    kind = f"{failure.type}: " if isinstance(failure, ApplicationError) and failure.type else ""
    message = failure.message if isinstance(failure, FailureError) else str(failure)
    return f"{step} failed: {kind}{message}"
