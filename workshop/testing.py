"""Helpers for the check suites and the course's tests: workers, histories, polling, the bank.

The fixtures (`target`, `client`, `time_skipping_env`, `bank`, `services`) come from workshop.plugin.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker


def failure_text(exc: BaseException) -> str:
    """Every message in an exception's chain (Temporal wraps causes: workflow → activity → application)."""
    seen, parts = set(), []
    todo: list[BaseException | None] = [exc]
    while todo:
        err = todo.pop(0)
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        parts.append(f"{type(err).__name__}: {err}")
        todo += [getattr(err, "cause", None), err.__cause__]
        if not err.__suppress_context__:
            todo.append(err.__context__)
    return "\n".join(parts)


class Bank:
    """A small client of the account API for checks and tests."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10)

    def close(self) -> None:
        self.http.close()

    def reset(self) -> None:
        self.http.post("/admin/reset").raise_for_status()

    def balance(self, account: str) -> int:
        response = self.http.get(f"/accounts/{account}")
        response.raise_for_status()
        return response.json()["balance_cents"]

    def ledger(self, account: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/accounts/{account}/ledger", params={"limit": 1000})
        response.raise_for_status()
        return response.json()["entries"]

    def stats(self) -> dict[str, int]:
        return self.http.get("/admin/stats").json()

    def faults(self, **settings: Any) -> dict[str, Any]:
        response = self.http.put("/admin/faults", json=settings)
        response.raise_for_status()
        return response.json()


def unique_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def running_worker(
    client: Client,
    workflows: Sequence[type] = (),
    activities: Sequence[Any] = (),
    task_queue: str | None = None,
    fail_workflow_on: Sequence[type[BaseException]] = (NotImplementedError,),
    **options: Any,
) -> AsyncIterator[str]:
    """A worker on a fresh task queue for the duration of a check; yields the task queue.

    An unsolved Part raises NotImplementedError; failing the workflow on it (instead of retrying the
    workflow task forever) lets the check report it at once.
    """
    queue = task_queue or unique_id("check")
    worker = Worker(
        client,
        task_queue=queue,
        workflows=list(workflows),
        activities=list(activities),
        workflow_failure_exception_types=list(fail_workflow_on),
        **options,
    )
    async with worker:
        yield queue


async def history_events(handle: WorkflowHandle) -> list[HistoryEvent]:
    return [event async for event in handle.fetch_history_events()]


async def count_events(handle: WorkflowHandle, event_type: int) -> int:
    return sum(1 for event in await history_events(handle) if event.event_type == event_type)


async def last_task_failure(handle: WorkflowHandle) -> str | None:
    """The message of the latest failed workflow task, if any."""
    message = None
    for event in await history_events(handle):
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            message = event.workflow_task_failed_event_attributes.failure.message
    return message


def root_cause(err: BaseException) -> str:
    """The innermost message of a Temporal failure chain (e.g. the workflow's own exception)."""
    return failure_text(err).splitlines()[-1].removeprefix("ApplicationError: ")


async def eventually(condition: Callable[[], Awaitable[Any]], seconds: float, what: str,
                     details: Callable[[], str] | None = None) -> Any:
    """Poll the async ``condition`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = await condition()
        if value:
            return value
        await asyncio.sleep(0.2)
    extra = f"\n{details()}" if details else ""
    raise AssertionError(f"Not within {seconds:.0f} s: {what}.{extra}")


async def until_first_task_completed(handle: WorkflowHandle, seconds: float = 10) -> None:
    await eventually(lambda: count_events(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED), seconds,
                     "the workflow's first task completed (is the worker stuck?)")


async def result_within(handle: WorkflowHandle, seconds: float, part: str, waiting_for: str) -> Any:
    """The workflow's result, or an assertion that says what the Part still lacks."""
    try:
        return await asyncio.wait_for(handle.result(), timeout=seconds)
    except asyncio.TimeoutError:
        task_failure = await last_task_failure(handle)
        detail = f" Its last workflow task failed: {task_failure}" if task_failure else ""
        raise AssertionError(
            f"Part {part}: the workflow did not finish within {seconds:.0f} s while {waiting_for}.{detail}"
        ) from None
