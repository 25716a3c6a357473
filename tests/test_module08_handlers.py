"""Module 08 end to end: the failure moment, as the README tells it.

A worker process runs the pristine exercise (Part B unsolved). A batch that settles while its update is in
flight: the caller's update fails with the server's `AcceptedUpdateCompletedWorkflow`, the worker's
terminal shows the SDK's warning, and an update sent afterwards gets "workflow execution already
completed". A batch cancelled after its handler placed a hold: the hold stays active, with nobody left to
release it. (The solution's eight cells are the check suite's, and the README's matrix.)
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from solutions.module08_message_handlers.shared import CANCELLATION, CONTINUE, SUCCESS, BatchInput, Transfer
from solutions.module08_message_handlers.workflow import TransferBatchWorkflow
from workshop import build, catalog
from workshop.targets import Target
from workshop.testing import eventually

pytestmark = pytest.mark.skipif(os.name != "posix", reason="stops the worker process with a POSIX signal")


@pytest.fixture
def pristine_worker(tmp_path, services):
    """A worker process running the pristine exercise, with its own task queue; yields (queue, log file)."""
    module = catalog.get("08")
    target = Target("pristine", build.write_package(tmp_path / "pristine_exercises", (module,)))
    learner = f"e2e{uuid.uuid4().hex[:6]}"
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", target.dotted("08", "worker")], cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
            env=services.env(learner=learner, modules_dir=target.root, **target.python_path()),
        )
    try:
        yield f"{learner}-{module.folder.replace('_', '-')}", log
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(timeout=30)


async def test_a_batch_that_exits_under_its_update_fails_it_and_the_worker_warns(client, bank, pristine_worker):
    queue, log = pristine_worker

    async def logged(text: str) -> bool:
        return text in log.read_text()

    await eventually(lambda: logged("Worker polling"), 30, "the worker started")

    async def start(ending: str) -> tuple:
        batch = BatchInput(f"B-{uuid.uuid4().hex[:8]}", ending)
        handle = await client.start_workflow(TransferBatchWorkflow.run, batch, id=f"e2e-{batch.batch_id}",
                                             task_queue=queue)
        update = await handle.start_update(TransferBatchWorkflow.add_transfer,
                                           Transfer("t1", "alice", "bob", 1_000, on_batch_exit=CONTINUE),
                                           wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        return batch, handle, update

    # The batch settles while t1 is still being added: the server fails the update that was in flight.
    batch, handle, update = await start(SUCCESS)
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await update.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "AcceptedUpdateCompletedWorkflow", cause
    assert cause.message == "Workflow Update failed because the Workflow completed before the Update completed."
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

    # Cancelled once its handler has placed the hold: the hold stays, and no code is left to release it.
    batch, handle, update = await start(CANCELLATION)
    reference = f"transfer t1 in batch {batch.batch_id}"

    async def hold_status() -> str | None:
        holds = bank.http.get("/accounts/alice/holds", params={"limit": 1000}).json()["holds"]
        return next((h["status"] for h in holds if h["reference"] == reference), None)

    deadline = time.monotonic() + 10
    while await hold_status() is None:  # look often: the payee check after the hold takes a fraction of a second
        assert time.monotonic() < deadline, "the handler did not place its hold within 10 s"
        await asyncio.sleep(0.01)
    await handle.cancel()
    with pytest.raises(WorkflowUpdateFailedError):
        await update.result()
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert await hold_status() == "active"
