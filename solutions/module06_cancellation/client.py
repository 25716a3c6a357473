"""What a client does with a batch: start it, cancel it, or terminate it.

The runner (run_workflow.py) turns these into commands; the checks call them directly.
"""

from __future__ import annotations

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle

from .shared import BatchReport, TransferBatch
from .workflow import TransferBatchWorkflow


async def start_batch(client: Client, batch: TransferBatch, workflow_id: str,
                      task_queue: str) -> WorkflowHandle[TransferBatchWorkflow, BatchReport]:
    return await client.start_workflow(TransferBatchWorkflow.run, batch, id=workflow_id, task_queue=task_queue)


async def cancel_batch(client: Client, workflow_id: str, reason: str) -> WorkflowExecutionStatus | None:
    """Ask the batch to stop, wait until it has stopped, and return how it ended."""
    # >>> Part B: Cancel the batch from a client and wait until it has ended
    handle = client.get_workflow_handle_for(TransferBatchWorkflow.run, workflow_id)
    await handle.cancel(reason=reason)  # returns as soon as the server has recorded the request
    try:
        await handle.result()  # the workflow decides when it stops, and whether it ends Canceled or Completed
    except WorkflowFailureError:
        pass  # it let the cancellation through (or failed): its status says which
    return (await handle.describe()).status
    # <<< Part B


async def terminate_batch(client: Client, workflow_id: str, reason: str) -> WorkflowExecutionStatus | None:
    """End the batch at once, without running any more of its code; return its status."""
    # >>> Part D: Terminate a batch from a client: no cleanup runs
    handle = client.get_workflow_handle(workflow_id)
    await handle.terminate(reason=reason)  # the server closes the execution: no workflow task runs again
    return (await handle.describe()).status
    # <<< Part D
