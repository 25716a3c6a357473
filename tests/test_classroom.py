"""The classroom: learners' checks reported to a workflow, the instructor's table, and what survives."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workshop import build, catalog, servers
from workshop.classroom import (
    ClassroomState,
    ClassroomWorkflow,
    ModuleRecord,
    Report,
    classroom_task_queue,
    classroom_workflow_id,
    current_table,
    format_table,
    instructor_worker,
    send_report,
    summary,
)
from workshop.paths import ROOT
from workshop.testing import eventually, unique_id

FIGURES = ROOT / "test-artifacts" / "classroom-figures.txt"


def report(learner: str, module: str, passed: str, parts: str = "AB", message: str = "") -> Report:
    return Report(learner, module, list(parts), list(passed), message)


async def reports_in(client: Client, name: str) -> int:
    try:
        return (await current_table(client, name)).reports
    except RPCError as err:  # not started yet
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        return 0


async def test_thirty_learners_report_at_once_and_the_table_is_right(client):
    name = unique_id("room")
    learners = [f"learner{n:02d}" for n in range(30)]
    async with instructor_worker(client, name):
        started = time.perf_counter()
        await asyncio.gather(*(send_report(client, name, report(who, "01", "A", message="Part B: not yet"))
                               for who in learners))
        await asyncio.gather(*(send_report(client, name, report(who, "02", "AB" if n % 3 == 0 else "", "ABC",
                                                               "Part A: a retry withdrew again"))
                               for n, who in enumerate(learners)))
        await eventually(lambda: _at_least(client, name, 60), 30, "all 60 reports in the table")
        delivered = time.perf_counter() - started
        queried = time.perf_counter()
        state = await current_table(client, name)
        query_seconds = time.perf_counter() - queried
    assert sorted(state.learners) == learners
    assert all(state.learners[who]["01"].passed == ["A"] and state.learners[who]["01"].open_part == "B" for who in learners)
    view = summary(state, ["01", "02"])
    assert view["counts"]["01-A"] == {"passed": 30, "open": 0}
    assert view["counts"]["02-A"] == {"passed": 10, "open": 20}
    assert [row["cells"]["02"] for row in view["rows"]][:3] == ["AB.", "...", "..."]
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(f"30 learners, 60 reports (signal-with-start) in {delivered:.2f} s: {60 / delivered:.0f} reports/s; "
                       f"one table query: {query_seconds * 1000:.0f} ms\n")


async def _at_least(client: Client, name: str, count: int) -> bool:
    return await reports_in(client, name) >= count


async def test_the_class_continues_as_new_and_keeps_its_table(client):
    name = unique_id("room")
    async with instructor_worker(client, name):
        handle = await client.start_workflow(ClassroomWorkflow.run, ClassroomState(name, reports_per_run=5),
                                             id=classroom_workflow_id(name), task_queue=classroom_task_queue(name))
        for number in range(12):
            await send_report(client, name, report(f"learner{number}", "01", "A"))
        await eventually(lambda: _at_least(client, name, 12), 30, "12 reports over several runs")
        description = await client.get_workflow_handle(handle.id).describe()
        learners = (await current_table(client, name)).learners
    assert description.run_id != handle.result_run_id, "the workflow continued as new"
    assert len(learners) == 12


def test_who_is_stuck_longest_comes_first():
    now = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
    state = ClassroomState("room", learners={
        "ann": {"03": ModuleRecord(["A"], ["A", "B"], "B", "Part B: no signal", "", (now - timedelta(minutes=4)).isoformat())},
        "bob": {"03": ModuleRecord([], ["A", "B"], "A", "Part A: timers", "", (now - timedelta(minutes=19)).isoformat())},
        "cem": {"03": ModuleRecord(["A", "B"], ["A", "B"], "", "", "", now.isoformat())},
    })
    view = summary(state, ["03"], now)
    assert [entry["learner"] for entry in view["stuck"]] == ["bob", "ann"]
    assert view["stuck"][0]["minutes"] == 19.0
    text = format_table(view)
    assert "bob" in text.splitlines()[-2] and "Part 03-A" in text


def class_process(name: str, port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-m", "workshop", "class", "--name", name, "--port", str(port)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith(f"Classroom {name}:"), line + process.stdout.read()
    return process


@pytest.mark.long
async def test_the_instructors_worker_dies_mid_class_and_nothing_is_lost(client, services):
    name, port = unique_id("room"), servers.free_port()
    env = services.env()
    instructor = class_process(name, port, env)
    try:
        for number in range(10):
            await send_report(client, name, report(f"early{number}", "01", "A"))
        os.killpg(instructor.pid, signal.SIGKILL)  # the instructor's laptop crashes
        instructor.wait()
        for number in range(10):  # reports keep arriving: the server keeps them as signals in the history
            await send_report(client, name, report(f"late{number}", "01", "AB"))
        instructor = class_process(name, port, env)

        async def table_of_twenty():
            view = httpx.get(f"http://127.0.0.1:{port}/table.json", timeout=10).json()
            return view if view["reports"] == 20 else None

        view = await eventually(table_of_twenty, 30, "the page shows all 20 reports")
        assert len(view["rows"]) == 20
        once = subprocess.run([sys.executable, "-m", "workshop", "class", "--name", name, "--once"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
        assert once.returncode == 0 and "20 learners, 20 reports" in once.stdout, once.stdout + once.stderr
    finally:
        os.killpg(instructor.pid, signal.SIGINT)
        instructor.wait(timeout=30)


@pytest.fixture
def pristine_exercises(tmp_path: Path) -> Path:
    return build.write_package(tmp_path / "exercises", (catalog.get("01"),))


def check_01(env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "workshop", "check", "01"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    return done, time.perf_counter() - started


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the reporter process in /proc")
async def test_check_reports_to_the_class_when_asked_and_never_waits_for_it(client, services, pristine_exercises):
    name = unique_id("room")
    base = services.env(modules_dir=pristine_exercises, PYTHONPATH=str(pristine_exercises.parent),
                        WORKSHOP_STATE_DIR=str(pristine_exercises.parent / "state"))
    # On the classroom server, opted in: the report arrives, and the instructor sees the learner's Parts.
    async with instructor_worker(client, name):
        done, _ = check_01({**base, "WORKSHOP_LEARNER": "alice", "WORKSHOP_CLASSROOM": name})
        assert done.returncode == 1, done.stdout + done.stderr
        await eventually(lambda: _at_least(client, name, 1), 30, "alice's report in the table")
        record = (await current_table(client, name)).learners["alice"]["01"]
    assert record.parts == ["A", "B"] and record.passed == [] and record.message.startswith("Part A:")

    # A classroom that does not answer: check returns while its report is still trying to get through.
    # The "server" accepts connections and never says a word, so the reporter waits (up to its 20 s limit)
    # however fast or slow this machine is; an unrouted address may instead fail at once.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        unreachable = {**base, "WORKSHOP_LEARNER": "alice", "WORKSHOP_CLASSROOM": name,
                       "TEMPORAL_ADDRESS": f"127.0.0.1:{silent.getsockname()[1]}"}
        done, seconds = check_01(unreachable)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        reporters = [cmdline for cmdline in _command_lines() if "workshop.classroom" in cmdline and name in cmdline]
        assert reporters, f"check waited for its report ({seconds:.1f} s): the reporter is no longer running"


def _command_lines() -> list[str]:
    lines = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            lines.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return lines


def test_unusable_names_are_refused_with_a_clear_message(services, pristine_exercises):
    base = services.env(modules_dir=pristine_exercises, PYTHONPATH=str(pristine_exercises.parent))
    for variable, value in (("WORKSHOP_LEARNER", "alice smith"), ("WORKSHOP_CLASSROOM", "room/42")):
        done, _ = check_01({**base, "WORKSHOP_LEARNER": "alice", "WORKSHOP_CLASSROOM": "room", variable: value})
        assert done.returncode == 2
        assert f"{variable}={value!r} is not usable" in done.stderr and "Traceback" not in done.stderr
