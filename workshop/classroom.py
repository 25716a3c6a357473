"""The classroom: learners' `workshop check` results, gathered by a Temporal workflow, shown to the instructor.

Temporal itself is the store and the transport, in the course's own patterns: one long-lived workflow per
class (`classroom-<name>`) receives each report as a signal, started by the first one (signal-with-start,
module 03), answers a query with the current table (module 05), and continues as new before its history
grows large. Nothing else for learners to reach: it works on an instructor's dev server and on Temporal
Cloud alike.

Reporting is opt-in: a learner on the classroom server exports WORKSHOP_CLASSROOM=<class name> (and
WORKSHOP_LEARNER). `workshop check` then hands the report to a detached process and returns at once, so
an unreachable classroom never slows a check.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TypedDict

from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from workshop import settings

# A run's history stays well below Temporal's limits: hand over to a new run after this many reports
# (or sooner, when the server suggests it).
REPORTS_PER_RUN = 500


@dataclass
class Report:
    """What one `workshop check` says about one learner and one module."""

    learner: str
    module: str
    parts: list[str]  # every Part letter of the module, in order
    passed: list[str]  # the Parts that passed
    first_failure: str = ""  # the first failing Part's first message line


@dataclass
class ModuleRecord:
    passed: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    open_part: str = ""  # the first Part not passed ("" when the module is done)
    message: str = ""
    checked_at: str = ""
    open_since: str = ""  # when open_part became the first open Part: how long the learner has been on it


@dataclass
class ClassroomState:
    name: str
    learners: dict[str, dict[str, ModuleRecord]] = field(default_factory=dict)
    reports: int = 0  # over every run of the class
    reports_per_run: int = REPORTS_PER_RUN


def classroom_workflow_id(name: str) -> str:
    return f"classroom-{name}"


def classroom_task_queue(name: str) -> str:
    return f"workshop-classroom-{name}"


@workflow.defn
class ClassroomWorkflow:
    @workflow.init
    def __init__(self, state: ClassroomState) -> None:
        self._state = state
        self._reports_this_run = 0

    @workflow.signal
    def report(self, report: Report) -> None:
        try:
            settings.check_learner(report.learner)
        except settings.SettingsError:
            workflow.logger.warning("Ignoring a report from an unusable learner name %r", report.learner)
            return
        now = workflow.now().isoformat(timespec="seconds")
        modules = self._state.learners.setdefault(report.learner, {})
        before = modules.get(report.module, ModuleRecord())
        open_part = next((letter for letter in report.parts if letter not in report.passed), "")
        modules[report.module] = ModuleRecord(
            passed=list(report.passed), parts=list(report.parts), open_part=open_part, message=report.first_failure,
            checked_at=now, open_since=before.open_since if open_part and open_part == before.open_part else now,
        )
        self._state.reports += 1
        self._reports_this_run += 1

    @workflow.query
    def table(self) -> ClassroomState:
        return self._state

    @workflow.run
    async def run(self, state: ClassroomState) -> None:
        await workflow.wait_condition(lambda: self._reports_this_run >= self._state.reports_per_run
                                      or workflow.info().is_continue_as_new_suggested())
        # Signals that arrived with the last task are handled; then the next run starts with the table.
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._state)


# --------------------------------------------------------------------------- learners' side


async def send_report(client: Client, classroom: str, report: Report) -> WorkflowHandle:
    """Signal-with-start: the first report of a class starts its workflow, later ones reach it."""
    return await client.start_workflow(
        ClassroomWorkflow.run, ClassroomState(classroom), id=classroom_workflow_id(classroom),
        task_queue=classroom_task_queue(classroom), start_signal="report", start_signal_args=[report],
    )


def report_in_background(report: Report) -> bool:
    """Hand the report to a detached process (`check` does not wait); False when reporting is off."""
    chosen = settings.current()
    if not chosen.classroom or not chosen.learner:
        return False
    subprocess.Popen([sys.executable, "-m", "workshop.classroom", chosen.classroom, json.dumps(asdict(report))],
                     env=settings.child_env(chosen), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)
    return True


async def _deliver(classroom: str, report: Report, seconds: float = 20) -> None:
    client = await asyncio.wait_for(Client.connect(**settings.temporal_connect_config()), seconds)
    await asyncio.wait_for(send_report(client, classroom, report), seconds)


# --------------------------------------------------------------------------- the instructor's side


def instructor_worker(client: Client, classroom: str) -> Worker:
    return Worker(client, task_queue=classroom_task_queue(classroom), workflows=[ClassroomWorkflow])


async def current_table(client: Client, classroom: str) -> ClassroomState:
    return await client.get_workflow_handle_for(ClassroomWorkflow.run, classroom_workflow_id(classroom)).query(
        ClassroomWorkflow.table)


def _age(since: str, now: datetime) -> timedelta:
    try:
        return now - datetime.fromisoformat(since)
    except ValueError:
        return timedelta(0)


class Row(TypedDict):
    learner: str
    cells: dict[str, str]  # module -> a letter per passed Part, a dot per open one ("" before any check)


class Stuck(TypedDict):
    learner: str
    part: str  # "03-B"
    minutes: float  # on that Part, since it became the learner's first open Part
    message: str


class RoomView(TypedDict):
    name: str
    reports: int
    modules: list[str]
    rows: list[Row]
    stuck: list[Stuck]
    counts: dict[str, dict[str, int]]  # "03-B" -> {"passed": n, "open": m}


def summary(state: ClassroomState, modules: list[str], now: datetime | None = None) -> RoomView:
    """The table for people: rows per learner, counts per Part across the room, who is stuck longest."""
    now = now or datetime.now(timezone.utc)
    rows: list[Row] = []
    stuck: list[Stuck] = []
    counts: dict[str, dict[str, int]] = {}
    for learner in sorted(state.learners):
        cells = {}
        for number in modules:
            record = state.learners[learner].get(number)
            if record is None:
                cells[number] = ""
                continue
            cells[number] = "".join(letter if letter in record.passed else "." for letter in record.parts)
            for letter in record.parts:
                tally = counts.setdefault(f"{number}-{letter}", {"passed": 0, "open": 0})
                tally["passed" if letter in record.passed else "open"] += 1
            if record.open_part:
                stuck.append({"learner": learner, "part": f"{number}-{record.open_part}",
                              "minutes": round(_age(record.open_since, now).total_seconds() / 60, 1),
                              "message": record.message})
        rows.append({"learner": learner, "cells": cells})
    stuck.sort(key=lambda entry: -entry["minutes"])
    return {"name": state.name, "reports": state.reports, "modules": modules, "rows": rows, "stuck": stuck,
            "counts": counts}


def format_table(view: RoomView) -> str:
    modules = view["modules"]
    lines = [f"Classroom {view['name']}: {len(view['rows'])} learners, {view['reports']} reports"]
    lines.append(f"  {'learner':<20}" + "".join(f"{number:<8}" for number in modules))
    for row in view["rows"]:
        lines.append(f"  {row['learner']:<20}" + "".join(f"{row['cells'][number] or '-':<8}" for number in modules))
    stuck = view["stuck"][:5]
    if stuck:
        lines.append("Stuck longest on the same Part:")
        lines += [f"  {entry['learner']:<20} Part {entry['part']:<6} {entry['minutes']:>6} min  {entry['message'][:70]}"
                  for entry in stuck]
    return "\n".join(lines)


if __name__ == "__main__":  # the detached reporter: python -m workshop.classroom <class> <report as JSON>
    try:
        asyncio.run(_deliver(sys.argv[1], Report(**json.loads(sys.argv[2]))))
    except Exception:  # an unreachable classroom must not bother the learner: the next check reports again
        sys.exit(1)
