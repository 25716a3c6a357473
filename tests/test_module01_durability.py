"""Module 01's failure moment, for real: kill the worker process mid-run and start another one."""

import asyncio
import os
import signal
import subprocess
import sys

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus

from solutions.module01_durable_execution import shared
from solutions.module01_durable_execution.run_workflow import start_payroll
from workshop.paths import ROOT
from workshop.testing import count_events, eventually, unique_id

MODULE = "solutions.module01_durable_execution"


def start(name: str, env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", f"{MODULE}.{name}", *args], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )


def kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)  # no clean shutdown: the process just dies
    process.wait()


@pytest.mark.long
async def test_payroll_survives_a_killed_worker(client, bank, services, monkeypatch):
    # A learner of its own, so the worker polls a task queue of its own, as in a classroom.
    learner = unique_id("durability")
    env = services.env(learner=learner)
    monkeypatch.setenv("WORKSHOP_LEARNER", learner)  # task_queue() reads it now, as the worker does
    queue = shared.task_queue()
    assert queue.startswith(f"{learner}-solution-")
    payroll = shared.monthly_payroll("november", pause_seconds=1)
    first_worker = start("worker", env)
    handle = await start_payroll(client, payroll, unique_id("payroll"), queue)

    async def two_paid_and_waiting():
        completed = await count_events(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
        timers = await count_events(handle, EventType.EVENT_TYPE_TIMER_STARTED)
        return completed == 2 and timers == 2

    await eventually(two_paid_and_waiting, 30, "two payments made and the next timer started")
    kill(first_worker)
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING

    second_worker = start("worker", env)
    try:
        result = await asyncio.wait_for(handle.result(), timeout=60)
    finally:
        second_worker.terminate()
        second_worker.wait()

    employees = [p.employee for p in payroll.payments]
    assert [c.employee for c in result.confirmations] == employees
    for payment in payroll.payments:
        deposits = [e for e in bank.ledger(payment.employee) if e["kind"] == "deposit"]
        assert [d["amount_cents"] for d in deposits] == [payment.amount_cents], f"{payment.employee} paid once"
    started = await count_events(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    assert started == len(employees), "no completed payment ran again"
    assert bank.stats()["replays"] == 0, "the bank never saw a payment twice"


def test_plain_script_starts_over_and_pays_twice(bank, services):
    env = services.env()
    script = start("plain_script", env, "--pause", "30")
    first_line = script.stdout.readline()
    assert first_line.startswith("paid alice")
    kill(script)  # a crash while it waits to pay bob

    completed = subprocess.run(
        [sys.executable, "-m", f"{MODULE}.plain_script", "--pause", "0"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert [e["kind"] for e in bank.ledger("alice")] == ["deposit", "deposit"], "alice was paid twice"
    assert [e["kind"] for e in bank.ledger("bob")] == ["deposit"]
