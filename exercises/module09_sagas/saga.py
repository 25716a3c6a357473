"""A saga's memory: the compensations registered so far, and how to run them when the saga fails.

Workflow code: the workflow keeps one Saga, `add`s a step's compensation (an activity method of
OrderActivities and its input), and calls `compensate()` when a step fails or the order is cancelled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from .shared import Undone


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
        # TODO Part B: Undo the completed steps in reverse order, retrying each until it is done
        workflow.logger.warning("Nothing was undone: %d compensation(s) registered.", len(self.compensations))
