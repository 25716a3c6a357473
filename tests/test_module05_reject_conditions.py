"""What module 05's README says about the two query reject conditions, checked against the dev server.

NOT_OPEN rejects every closed workflow; NOT_COMPLETED_CLEANLY rejects a closed workflow unless it
completed. Both answer while the workflow runs.
"""

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowQueryRejectedError
from temporalio.common import QueryRejectCondition

from solutions.module05_queries.shared import TransferRequest
from solutions.module05_queries.workflow import TransferWorkflow
from workshop.testing import unique_id

pytestmark = pytest.mark.asyncio


async def rejected_status(handle, condition: QueryRejectCondition) -> WorkflowExecutionStatus | None:
    """The status the server gives when it rejects the query, or None when the handler answered."""
    try:
        await handle.query(TransferWorkflow.progress, reject_condition=condition)
    except WorkflowQueryRejectedError as err:
        return err.status
    return None


async def test_reject_conditions_answer_running_and_completed_and_reject_as_the_readme_says(client, bank):
    from solutions.module05_queries.worker import build_worker  # after the session set the bank's address

    worker = build_worker(client)
    queue = worker.task_queue
    async with worker:
        running = await client.start_workflow(TransferWorkflow.run, TransferRequest("alice", "bob", 100),
                                              id=unique_id("transfer"), task_queue=queue)
        for condition in (QueryRejectCondition.NOT_OPEN, QueryRejectCondition.NOT_COMPLETED_CLEANLY):
            assert await rejected_status(running, condition) is None, f"{condition.name} rejected a running transfer"

        await running.signal(TransferWorkflow.confirm)
        await running.result()
        assert await rejected_status(running, QueryRejectCondition.NOT_COMPLETED_CLEANLY) is None
        assert await rejected_status(running, QueryRejectCondition.NOT_OPEN) == WorkflowExecutionStatus.COMPLETED

        terminated = await client.start_workflow(TransferWorkflow.run, TransferRequest("alice", "bob", 100),
                                                 id=unique_id("transfer"), task_queue=queue)
        await terminated.query(TransferWorkflow.progress)  # its first task has run
        await terminated.terminate("checking reject conditions")
        for condition in (QueryRejectCondition.NOT_OPEN, QueryRejectCondition.NOT_COMPLETED_CLEANLY):
            assert await rejected_status(terminated, condition) == WorkflowExecutionStatus.TERMINATED
