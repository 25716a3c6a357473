"""Module 08 end to end: the failure moment, as the README tells it, on the pristine exercise (Part B unsolved).

A worker process runs the exercise. A batch that settles while its update is in flight: the caller's update
fails with the server's `AcceptedUpdateCompletedWorkflow`, the worker's terminal shows the SDK's warning, and
an update sent afterwards gets "workflow execution already completed". Then the README's second command,
`python -m workshop run 08 --ending cancellation` (with --embedded, so that the runner can hold the payee
checks' answers until each batch has taken its cancellation): the callers are told their update failed, and
the holds their handlers placed stay active, with nobody left to release them. (The solution's eight cells
are the check suite's, and the README's matrix.)
"""

import os
import signal
import subprocess
import sys
import uuid

import pytest
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from solutions.module08_message_handlers.shared import CONTINUE, SUCCESS, BatchInput, Transfer
from solutions.module08_message_handlers.workflow import TransferBatchWorkflow
from workshop import build, catalog
from workshop.targets import Target
from workshop.testing import eventually

pytestmark = pytest.mark.skipif(os.name != "posix", reason="stops the worker process with a POSIX signal")

UPDATE_FAILED = "Workflow Update failed because the Workflow completed before the Update completed."


@pytest.fixture
def pristine(tmp_path) -> Target:
    return Target("pristine", build.write_package(tmp_path / "pristine_exercises", (catalog.get("08"),)))


@pytest.fixture
def pristine_worker(tmp_path, services, pristine):
    """A worker process running the pristine exercise, with its own task queue; yields (queue, log file)."""
    learner = f"e2e{uuid.uuid4().hex[:6]}"
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", pristine.dotted("08", "worker")], cwd=tmp_path, stdout=out,
            stderr=subprocess.STDOUT, env=services.env(learner=learner, modules_dir=pristine.root, **pristine.python_path()),
        )
    try:
        yield f"{learner}-{catalog.get('08').folder.replace('_', '-')}", log
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(timeout=30)


async def test_a_batch_that_exits_under_its_update_fails_it_and_the_worker_warns(client, pristine_worker):
    queue, log = pristine_worker

    async def logged(text: str) -> bool:
        return text in log.read_text()

    await eventually(lambda: logged("Worker polling"), 30, "the worker started")

    # The batch settles while t1 is still being added: the server fails the update that was in flight.
    batch = BatchInput(f"B-{uuid.uuid4().hex[:8]}", SUCCESS)
    handle = await client.start_workflow(TransferBatchWorkflow.run, batch, id=f"e2e-{batch.batch_id}", task_queue=queue)
    update = await handle.start_update(TransferBatchWorkflow.add_transfer,
                                       Transfer("t1", "alice", "bob", 1_000, on_batch_exit=CONTINUE),
                                       wait_for_stage=WorkflowUpdateStage.ACCEPTED)
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await update.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "AcceptedUpdateCompletedWorkflow", cause
    assert cause.message == UPDATE_FAILED
    assert (await handle.result()).settled == []

    # An update sent after the workflow closed is refused by the server.
    with pytest.raises(RPCError) as refused:
        await handle.execute_update(TransferBatchWorkflow.add_transfer, Transfer("t2", "alice", "bob", 1_000))
    assert refused.value.status == RPCStatusCode.NOT_FOUND
    assert refused.value.message == "workflow execution already completed"

    # The worker's terminal shows the SDK's warning (on standard error).
    await eventually(lambda: logged("UnfinishedUpdateHandlersWarning"), 10,
                     "the worker warned about the unfinished update handler")
    assert ("UnfinishedUpdateHandlersWarning: [TMPRL1102] Workflow finished while update handlers are still "
            "running.") in log.read_text()


def test_a_batch_cancelled_under_its_update_leaves_the_hold_active(services, bank, pristine, tmp_path):
    env = services.env(learner=f"e2e{uuid.uuid4().hex[:6]}", modules_dir=pristine.root, **pristine.python_path())
    run = subprocess.run([sys.executable, "-m", "workshop", "run", "08", "--embedded", "--ending", "cancellation"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.splitlines() == [
        "The batch ends: cancellation",
        "  update action: continue",
        f"    add_transfer t1   failed: {UPDATE_FAILED}",
        "    batch             cancelled",
        "    hold of t1        active",
        "  update action: abort_with_compensation",
        f"    add_transfer t1   failed: {UPDATE_FAILED}",
        "    batch             cancelled",
        "    hold of t1        active",
    ], run.stdout + run.stderr[-2000:]
    assert run.stderr.count("UnfinishedUpdateHandlersWarning") == 2, run.stderr[-2000:]
