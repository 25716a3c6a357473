"""What a client does with a batch: start it, cancel it, or terminate it.

The runner (run_workflow.py) turns these into commands; the checks call them directly.
"""

from __future__ import annotations

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from .shared import BatchReport, TransferBatch
from .workflow import TransferBatchWorkflow


async def start_batch(client: Client, batch: TransferBatch, workflow_id: str,
                      task_queue: str) -> WorkflowHandle[TransferBatchWorkflow, BatchReport]:
    return await client.start_workflow(TransferBatchWorkflow.run, batch, id=workflow_id, task_queue=task_queue)


async def cancel_batch(client: Client, workflow_id: str, reason: str) -> WorkflowExecutionStatus | None:
    """Ask the batch to stop, wait until it has stopped, and return how it ended."""
    # TODO Part B: Cancel the batch from a client and wait until it has ended
    raise NotImplementedError('Part B is not done yet: Cancel the batch from a client and wait until it has ended. See README.md, Part B.')


async def terminate_batch(client: Client, workflow_id: str, reason: str) -> WorkflowExecutionStatus | None:
    """End the batch at once, without running any more of its code; return its status."""
    # TODO Part D: Terminate a batch from a client: no cleanup runs
    raise NotImplementedError('Part D is not done yet: Terminate a batch from a client: no cleanup runs. See README.md, Part D.')
