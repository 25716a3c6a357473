"""What a client does with the module's transfer: start it, and read its progress with queries.

The runner (run_workflow.py) turns these into commands; the checks call them directly.
"""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.common import QueryRejectCondition, WorkflowIDConflictPolicy

from .shared import TransferProgress, TransferRequest
from .workflow import TransferWorkflow


async def start_transfer(client: Client, request: TransferRequest, workflow_id: str, task_queue: str) -> WorkflowHandle:
    """Start the transfer, or attach to it while it runs."""
    return await client.start_workflow(
        TransferWorkflow.run, request, id=workflow_id, task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def progress_of(client: Client, workflow_id: str) -> TransferProgress:
    """The progress of the transfer under `workflow_id`, running or closed."""
    # >>> Part B: Query a transfer by its workflow ID, also after it completed
    # A handle by ID is enough: a closed workflow is answered by replaying its history on a worker.
    handle = client.get_workflow_handle_for(TransferWorkflow.run, workflow_id)
    return await handle.query(TransferWorkflow.progress)
    # <<< Part B


async def progress_if_open(client: Client, workflow_id: str) -> TransferProgress:
    """The progress of a running transfer; raises WorkflowQueryRejectedError once it has closed."""
    handle = client.get_workflow_handle_for(TransferWorkflow.run, workflow_id)
    # >>> Part D: Have the server reject the query once the transfer has closed
    return await handle.query(TransferWorkflow.progress, reject_condition=QueryRejectCondition.NOT_OPEN)
    # --- exercise version:
    # return await handle.query(TransferWorkflow.progress)
    # <<< Part D
