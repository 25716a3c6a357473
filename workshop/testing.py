"""The course's pytest plugin: servers, targets, and helpers for the check suites.

Loaded by the root conftest.py. A check suite (tests/checks/test_moduleNN.py) is written once and runs
against a *target*, the folder that holds the module folders:

- `pytest` (the course suite) runs every check twice: against `solutions/`, where it must pass, and
  against a pristine exercise built into a temporary folder, where it must fail with a message that
  names its Part (an import error or a timeout without that name fails the course suite);
- `python -m workshop check NN` runs one module's checks against the learner's `exercises/`.

The session starts its own Temporal dev server and account API (in temporary folders) and exports
TEMPORAL_ADDRESS and ACCOUNT_API_URL, so module code, worker subprocesses and notebook kernels (nbval)
all reach them through workshop.connection.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any, AsyncIterator, Awaitable, Callable, Sequence

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from workshop import build, catalog
from workshop.paths import SOLUTIONS, module_env
from workshop.servers import Service, find_binary, start_account_api, start_dev_server

TARGET_KINDS = ("solutions", "pristine")


# --------------------------------------------------------------------------- targets


@dataclass
class Target:
    """A folder of module folders that is importable as a package (solutions, exercises, a pristine build)."""

    kind: str
    root: Path

    @property
    def package(self) -> str:
        return self.root.name

    def folder(self, number: str) -> Path:
        return self.root / catalog.get(number).folder

    def dotted(self, number: str, name: str) -> str:
        """The import name of a file of a module, for `python -m` and import_module."""
        return f"{self.package}.{catalog.get(number).folder}.{name}"

    def load(self, number: str, name: str) -> ModuleType:
        return import_module(self.dotted(number, name))

    def env(self) -> dict[str, str]:
        """Environment for a subprocess that imports this target (a worker, a runner)."""
        return module_env(self.root)

    def __str__(self) -> str:
        return self.kind


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("workshop")
    group.addoption("--target", help="run the check suites against this folder of modules (e.g. exercises)")
    group.addoption("--check-report", help="write each check's outcome, by Part, to this JSON file")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "part(letter): the Part of the module that a check belongs to")
    config._workshop_results = []  # type: ignore[attr-defined]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" in metafunc.fixturenames:
        kinds = ["custom"] if metafunc.config.getoption("--target") else list(TARGET_KINDS)
        metafunc.parametrize("target", kinds, indirect=True, scope="session")


_targets: dict[str, Target] = {}


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Target:
    kind = request.param
    if kind not in _targets:
        if kind == "custom":
            root = Path(request.config.getoption("--target")).resolve()
            _targets[kind] = Target(root.name, root)
        elif kind == "solutions":
            _targets[kind] = Target("solutions", SOLUTIONS)
        else:
            root = build.write_package(tmp_path_factory.mktemp("pristine") / "pristine_exercises")
            _targets[kind] = Target("pristine", root)
        if str(_targets[kind].root.parent) not in sys.path:
            sys.path.insert(0, str(_targets[kind].root.parent))
    return _targets[kind]


# --------------------------------------------------------------------------- pristine exercises must fail


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


def _part_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("part")
    return marker.args[0] if marker else None


def _target_kind(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("target") if callspec else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    if _target_kind(item) != "pristine":
        return (yield)
    letter = _part_of(item)
    try:
        yield
    except BaseException as exc:  # noqa: BLE001 - judged below, then swallowed: failing is the point
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        text = failure_text(exc)
        if f"Part {letter}" not in text:
            raise AssertionError(
                f"On the pristine exercise this Part {letter} check failed for another reason than "
                f"Part {letter}:\n{text}"
            ) from exc
        return None
    raise AssertionError(f"The Part {letter} check passed on the pristine exercise: it cannot tell unsolved from solved.")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    report.workshop_part = _part_of(item)
    if call.excinfo is not None and report.failed:
        # The learner reads the messages first; pytest's own `assert` rewriting comes after them.
        report.workshop_message = failure_text(call.excinfo.value).split("\nassert ")[0].strip()
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _config is None or not (report.when == "call" or report.failed):
        return
    _config._workshop_results.append(  # type: ignore[attr-defined]
        {
            "test": report.nodeid,
            "part": getattr(report, "workshop_part", None),
            "outcome": report.outcome,
            "message": getattr(report, "workshop_message", "") if report.failed else "",
        }
    )


_config: pytest.Config | None = None


def pytest_sessionstart(session: pytest.Session) -> None:
    global _config
    _config = session.config


# --------------------------------------------------------------------------- servers


class Services:
    """One dev server and one account API for the whole test session, each started on first use."""

    def __init__(self) -> None:
        self.temporal: Service | None = None
        self.api: Service | None = None
        self._dir: tempfile.TemporaryDirectory | None = None

    @property
    def state(self) -> Path:
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="workshop-test-")
            os.environ["WORKSHOP_STATE_DIR"] = self._dir.name
            os.environ.pop("WORKSHOP_LEARNER", None)
            # Notebook kernels and worker subprocesses import the workshop and the modules from here.
            os.environ["PYTHONPATH"] = module_env(SOLUTIONS)["PYTHONPATH"]
        return Path(self._dir.name)

    def ensure_temporal(self) -> Service:
        if self.temporal is None:
            self.temporal = start_dev_server(headless=True, log_path=self.state / "temporal.log")
            os.environ["TEMPORAL_ADDRESS"] = self.temporal.url
            os.environ["TEMPORAL_NAMESPACE"] = "default"
            os.environ.pop("TEMPORAL_API_KEY", None)
        return self.temporal

    def ensure_api(self) -> Service:
        if self.api is None:
            self.api = start_account_api(db_file=self.state / "accounts.db", log_path=self.state / "account_api.log")
            os.environ["ACCOUNT_API_URL"] = self.api.url
        return self.api

    def ensure_started(self) -> "Services":
        self.ensure_temporal()
        self.ensure_api()
        return self

    def stop(self) -> None:
        for service in (self.api, self.temporal):
            if service:
                service.stop()
        if self._dir:
            self._dir.cleanup()


_services = Services()


def pytest_collection_finish(session: pytest.Session) -> None:
    # nbval items get no fixtures: their kernels must find the servers in the environment at launch.
    if any(type(item).__module__.startswith("nbval") for item in session.items):
        _services.ensure_started()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _services.stop()
    path = session.config.getoption("--check-report", default=None)
    if path:
        Path(path).write_text(json.dumps(session.config._workshop_results, indent=2))


@pytest.fixture(scope="session")
async def client() -> Client:
    """A client of the session's dev server."""
    return await Client.connect(_services.ensure_temporal().url)


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_binary("temporal-test-server")
    )
    try:
        yield env
    finally:
        await env.shutdown()


class Bank:
    """A small client of the account API for checks and tests."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10)

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


@pytest.fixture
def bank() -> Bank:
    """The session's account API, reset to its seed accounts for this test."""
    bank = Bank(_services.ensure_api().url)
    bank.reset()
    try:
        yield bank
    finally:
        bank.http.close()


# --------------------------------------------------------------------------- helpers for check suites


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


async def history_events(handle: WorkflowHandle) -> list:
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


__all__ = [
    "Bank",
    "Services",
    "Target",
    "count_events",
    "eventually",
    "failure_text",
    "history_events",
    "last_task_failure",
    "result_within",
    "root_cause",
    "running_worker",
    "unique_id",
    "until_first_task_completed",
]
