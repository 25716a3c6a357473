"""A saga's memory: the compensations registered so far, and how to run them when the saga fails.

Workflow code: the workflow keeps one Saga, `add`s a step's compensation (an activity method of
OrderActivities and its input), and calls `compensate()` when a step fails or the order is cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from .shared import Undone
    from workshop.bank import NON_RETRYABLE_ERROR_TYPES  # isort: skip (last, so the exercise's build can drop it cleanly)


@dataclass
class Compensation:
    activity: Callable[[Any, Any], Awaitable[Undone]]  # a compensation method of OrderActivities
    request: Any  # its input, made when the compensation was registered (keys included)

    @property
    def name(self) -> str:
        return self.activity.__name__


class Saga:
    def __init__(self) -> None:
        self.compensations: list[Compensation] = []
        self.undone: list[Undone] = []
        self.not_undone: list[str] = []

    def add(self, activity: Callable[[Any, Any], Awaitable[Undone]], request: Any) -> None:
        """Register the compensation of a step."""
        self.compensations.append(Compensation(activity, request))

    async def compensate(self) -> None:
        """Run the registered compensations, the latest first."""
        # >>> Part B: Undo the completed steps in reverse order, retrying each until it is done
        # A compensation has no time budget and no attempt limit: money taken must go back, however long
        # the bank is down. Only an answer no retry can change ends one for good.
        undo_retries = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                                   maximum_interval=timedelta(seconds=10),
                                   non_retryable_error_types=NON_RETRYABLE_ERROR_TYPES)

        async def undo(compensation: Compensation) -> Undone:
            running = workflow.start_activity_method(compensation.activity, compensation.request,
                                                     start_to_close_timeout=timedelta(seconds=10),
                                                     retry_policy=undo_retries)
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                # The order was cancelled while this compensation ran; the shield kept the cancellation from
                # reaching the activity. Wait for it: the undo goes on.
                return await running

        for compensation in reversed(self.compensations):  # undo the last step first
            try:
                self.undone.append(await undo(compensation))
            except ActivityError as failure:
                # Stopping here would leave every earlier step in place as well: note it (the order's failure
                # names it, for a person to settle) and go on.
                workflow.logger.error("Compensation %s failed for good: %s", compensation.name, failure.cause)
                self.not_undone.append(compensation.name)
        # --- exercise version:
        # workflow.logger.warning("Nothing was undone: %d compensation(s) registered.", len(self.compensations))
        # <<< Part B
