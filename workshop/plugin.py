"""The course's pytest plugin: targets, the judge of pristine exercises, servers and fixtures.

Loaded by the root conftest.py. A check suite (tests/checks/test_moduleNN.py) is written once and runs
against a *target*, the folder that holds the module folders:

- `pytest` (the course suite) runs every check twice: against `solutions/`, where it must pass, and
  against a pristine exercise built into a temporary folder, where it must fail with a message that
  names its Part (an import error, or a timeout without that name, fails the course suite);
- `python -m workshop check NN` runs one module's checks against the learner's folder, in-process,
  with a `CheckRun` plugin object that chooses the target and collects each check's outcome.

The session starts its own Temporal dev server and account API (services.Services) on first use and
exports their addresses, so module code, worker subprocesses and notebook kernels (nbval) reach them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from workshop import build
from workshop.paths import SOLUTIONS
from workshop.servers import find_binary
from workshop.services import Services
from workshop.targets import Target
from workshop.testing import Bank, failure_text

SERVICES = pytest.StashKey[Services]()
TARGETS = pytest.StashKey[dict[str, Target]]()
COURSE_TARGETS = ("solutions", "pristine")


@dataclass
class Outcome:
    """What one check did: its Part, passed / failed / skipped, and the message for the learner."""

    test: str
    part: str | None
    outcome: str
    message: str


class CheckRun:
    """Given to `pytest.main(plugins=[...])` by `workshop check`: runs the checks against one target and
    records every check's outcome."""

    def __init__(self, target: Target, services: Services | None = None) -> None:
        self.target = target
        self.services = services  # kept by the caller across runs (check --watch); else the session's own
        self.outcomes: list[Outcome] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or report.failed:
            self.outcomes.append(Outcome(report.nodeid, getattr(report, "workshop_part", None), report.outcome,
                                         getattr(report, "workshop_message", "") if report.failed else ""))


def _check_run(config: pytest.Config) -> CheckRun | None:
    for plugin in config.pluginmanager.get_plugins():
        if isinstance(plugin, CheckRun):
            return plugin
    return None


# --------------------------------------------------------------------------- configuration and targets


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "part(letter): the Part of the module that a check belongs to")
    config.addinivalue_line("markers", "long: takes ten seconds or more; the suite starts it first")
    run = _check_run(config)
    services = run.services if run and run.services else Services()
    services.export()  # from here on, nothing in this process reaches the learner's or a classroom's servers
    config.stash[SERVICES] = services
    config.stash[TARGETS] = {}


def pytest_unconfigure(config: pytest.Config) -> None:
    run = _check_run(config)
    if SERVICES in config.stash and not (run and run.services):
        config.stash[SERVICES].stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" in metafunc.fixturenames:
        run = _check_run(metafunc.config)
        kinds = [run.target.kind] if run else list(COURSE_TARGETS)
        metafunc.parametrize("target", kinds, indirect=True, scope="session")


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Target:
    targets = request.config.stash[TARGETS]
    kind: str = request.param
    if kind not in targets:
        run = _check_run(request.config)
        if run is not None:
            targets[kind] = run.target
        elif kind == "solutions":
            targets[kind] = Target("solutions", SOLUTIONS)
        else:
            targets[kind] = Target("pristine", build.write_package(tmp_path_factory.mktemp("pristine") / "pristine_exercises"))
        targets[kind].make_importable()
    return targets[kind]


# --------------------------------------------------------------------------- pristine exercises must fail


def _part_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("part")
    return marker.args[0] if marker else None


def _target_kind(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("target") if callspec else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    if _target_kind(item) != "pristine" or _check_run(item.config) is not None:
        return (yield)
    letter = _part_of(item)
    try:
        yield
    except BaseException as exc:  # judged below, then swallowed: failing is the point
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
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    report.workshop_part = _part_of(item)  # type: ignore[attr-defined]
    if call.excinfo is not None and report.failed:  # type: ignore[attr-defined]
        # The learner reads the messages first; pytest's own `assert` rewriting comes after them.
        report.workshop_message = failure_text(call.excinfo.value).split("\nassert ")[0].strip()  # type: ignore[attr-defined]
    return report


# --------------------------------------------------------------------------- servers and fixtures


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The suite runs in several processes with `--dist loadgroup`: checks and tests go wherever a worker is
    # free, but a notebook's cells run in order in one kernel, so they stay together (marked here, before
    # xdist reads the mark). Tests marked `long` go first, so that none of them is what the run waits for.
    for item in items:
        if type(item).__module__.startswith("nbval"):
            item.add_marker(pytest.mark.xdist_group(f"notebook-{item.path.stem}"))
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


def pytest_collection_finish(session: pytest.Session) -> None:
    # nbval items get no fixtures: their kernels must find the servers in the environment at launch.
    if any(type(item).__module__.startswith("nbval") for item in session.items):
        session.config.stash[SERVICES].ensure_started()


@pytest.fixture(scope="session")
def services(request: pytest.FixtureRequest) -> Services:
    """The session's private servers (started on first use)."""
    return request.config.stash[SERVICES]


@pytest.fixture(scope="session")
async def client(services: Services) -> Client:
    """A client of the session's dev server."""
    server = services.ensure_temporal()
    return await Client.connect(server.url, namespace=server.namespace)


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_binary("temporal-test-server")
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def bank(services: Services) -> Iterator[Bank]:
    """The session's account API, reset to its seed accounts for this test."""
    bank = Bank(services.ensure_api().url)
    bank.reset()
    try:
        yield bank
    finally:
        bank.close()

