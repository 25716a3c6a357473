"""Module 04 end to end: Jerry's two bugs on a real dev server and the real account API.

A worker subprocess runs a pristine copy of the exercise. The transfer it starts gets stuck on the
workflow bug (the task fails, the execution stays Running); after the workflow fix and a worker restart
the withdraw fails on every attempt; after the activity fix and another restart the *same* execution
completes, and the bank's ledger shows the money moved exactly once. Once with restarts by hand, once
with `python -m workshop worker 04 --watch` restarting on each edit.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from solutions.module04_bug_handling.shared import TransferResult, example_transfer
from workshop import build, catalog
from workshop.paths import SOLUTIONS
from workshop.services import Services
from workshop.targets import Target
from workshop.testing import Bank, count_events, eventually, last_task_failure

MODULE = catalog.get("04")
pytestmark = [
    pytest.mark.timeout(150),
    pytest.mark.skipif(os.name != "posix", reason="stops the worker's process group with a POSIX signal"),
]


class Exercise:
    """A pristine copy of the exercise in a temp dir, with its own learner prefix (so its own task queue)."""

    def __init__(self, tmp_path: Path, services: Services) -> None:
        self.target = Target("pristine", build.write_package(tmp_path / "pristine_exercises", (MODULE,)))
        self.learner = f"e2e{uuid.uuid4().hex[:6]}"
        self.task_queue = f"{self.learner}-module04-bug-handling"
        self.log = tmp_path / "worker.log"
        self.process: subprocess.Popen | None = None
        self.services = services

    def env(self) -> dict[str, str]:
        return self.services.env(learner=self.learner, modules_dir=self.target.root, **self.target.python_path())

    def start(self, *command: str) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                list(command), cwd=self.target.root.parent, env=self.env(), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # so that stop() can Ctrl-C the worker's whole process group
            )

    def start_worker(self) -> None:
        self.start(sys.executable, "-m", self.target.dotted("04", "worker"))

    def start_watching_worker(self) -> None:
        self.start(sys.executable, "-m", "workshop", "worker", "04", "--watch")

    def stop(self) -> None:
        """Ctrl-C, as a learner stops the worker in its terminal."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def fix(self, name: str) -> None:
        """Replace a file of the exercise with the solved one."""
        shutil.copyfile(SOLUTIONS / MODULE.folder / name, self.target.folder("04") / name)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self) -> str:
        return "Worker output:\n" + self.output()[-3000:]


@pytest.fixture
def exercise(tmp_path: Path, services: Services):
    exercise = Exercise(tmp_path, services)
    try:
        yield exercise
    finally:
        exercise.stop()


async def pending_withdraw(handle: WorkflowHandle):
    for pending in (await handle.describe()).raw_description.pending_activities:
        if pending.activity_type.name == "withdraw":
            return pending
    return None


async def run_the_story(client: Client, bank: Bank, exercise: Exercise, restart) -> None:
    transfer = example_transfer()
    before = {account: bank.balance(account) for account in (transfer.source, transfer.target)}
    workflow_id = f"transfer-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        "MoneyTransferWorkflow", transfer, id=workflow_id, task_queue=exercise.task_queue, result_type=TransferResult
    )

    # 1. Jerry's workflow bug: the workflow task fails, the execution stays Running.
    async def task_failed():
        return await count_events(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)

    await eventually(task_failed, 30, "a WorkflowTaskFailed event", exercise.tail)
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    assert "can only concatenate str" in (await last_task_failure(handle) or "")
    assert bank.ledger(transfer.source) == [], "no money may move while the workflow task fails"

    # 2. Fix the workflow, restart: the same execution moves on, to Jerry's activity bug.
    await restart("workflow.py")

    async def withdraw_retried():
        pending = await pending_withdraw(handle)
        return pending if pending and pending.attempt > 1 else None

    pending = await eventually(withdraw_retried, 30, "the withdraw pending with more than one attempt", exercise.tail)
    assert "localhost:5000" in pending.last_failure.message, pending.last_failure.message
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    assert bank.ledger(transfer.source) == [], "the failing withdraw must not take any money"

    # 3. Fix the activity, restart: the same execution completes.
    await restart("activities.py")
    result = await asyncio.wait_for(handle.result(), 40)
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED
    assert description.run_id == handle.result_run_id, "the execution that was stuck is the one that completed"

    # The bank: the balances moved by exactly the amount, one withdraw and one deposit.
    assert bank.balance(transfer.source) == before[transfer.source] - transfer.amount_cents
    assert bank.balance(transfer.target) == before[transfer.target] + transfer.amount_cents
    withdrawals = bank.ledger(transfer.source)
    deposits = bank.ledger(transfer.target)
    # Keys name the transfer's first run: the one execution that was stuck, then fixed.
    first_run = handle.result_run_id
    assert [(e["kind"], e["amount_cents"], e["idempotency_key"]) for e in withdrawals] == [
        ("withdraw", transfer.amount_cents, f"{workflow_id}/{first_run}/withdraw")
    ]
    assert [(e["kind"], e["amount_cents"], e["idempotency_key"]) for e in deposits] == [
        ("deposit", transfer.amount_cents, f"{workflow_id}/{first_run}/deposit")
    ]
    assert (result.withdraw_transaction_id, result.deposit_transaction_id) == (
        withdrawals[0]["transaction_id"], deposits[0]["transaction_id"]
    )


@pytest.mark.long
async def test_fix_both_bugs_restarting_the_worker_by_hand(client, bank, exercise):
    exercise.start_worker()

    async def restart(fixed_file: str) -> None:
        exercise.stop()
        exercise.fix(fixed_file)
        exercise.start_worker()

    await run_the_story(client, bank, exercise, restart)
    output = exercise.output()
    assert "TypeError: can only concatenate str" in output  # what the learner sees first
    # Readable: the traceback names Jerry's line, once per failed attempt, without the SDK's frames, and the
    # SDK core's long, coloured line about the same failure stays out of the learner's terminal.
    assert 'workflow.py", line' in output and "without 5 frames of the Temporal SDK" in output
    before_the_fix = output.split("Stopping the worker")[0]
    assert before_the_fix.count("Traceback") == before_the_fix.count("Failed activation on workflow"), output
    assert "\x1b[" not in output and max(len(line) for line in output.splitlines()) < 600
    assert "Could not reach the bank at http://localhost:5000" in exercise.output()


@pytest.mark.long
async def test_fix_both_bugs_under_worker_watch(client, bank, exercise):
    exercise.start_watching_worker()

    async def restart(fixed_file: str) -> None:
        restarts = exercise.output().count("restarting the worker")
        exercise.fix(fixed_file)  # the learner saves the file; --watch restarts the worker

        async def restarted():
            return exercise.output().count("restarting the worker") > restarts

        await eventually(restarted, 15, f"--watch restarting the worker after {fixed_file} changed", exercise.tail)

    await run_the_story(client, bank, exercise, restart)
    assert "workflow.py changed: restarting the worker." in exercise.output()
    assert "activities.py changed: restarting the worker." in exercise.output()
    assert exercise.process and exercise.process.poll() is None, "the watcher should still be running"
