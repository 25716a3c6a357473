"""What a client does with the module's workflows: start them, and send them signals.

The runner (run_workflow.py) turns these into commands; the checks call them directly.
"""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from .shared import (
    AccountEvent,
    AccountState,
    Approval,
    ReviewRequest,
    TransferRequest,
    account_workflow_id,
)
from .workflow import AccountEntityWorkflow, FraudReviewWorkflow, TransferApprovalWorkflow


async def start_transfer(client: Client, request: TransferRequest, workflow_id: str, task_queue: str) -> WorkflowHandle:
    """Start the transfer that waits for a decision, or attach to it while it waits."""
    return await client.start_workflow(
        TransferApprovalWorkflow.run, request, id=workflow_id, task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def send_decision(client: Client, workflow_id: str, approval: Approval) -> None:
    """Deliver an approval (or a rejection) to the transfer waiting under `workflow_id`."""
    # TODO Part B: Send the decision from a client with a typed handle.signal
    raise NotImplementedError('Part B is not done yet: Send the decision from a client with a typed handle.signal. See README.md, Part B.')


async def start_review(client: Client, review: ReviewRequest, task_queue: str) -> WorkflowHandle:
    return await client.start_workflow(
        FraudReviewWorkflow.run, review, id=f"review-{review.transfer_workflow_id}", task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def post_account_event(client: Client, account_id: str, event: AccountEvent, task_queue: str) -> WorkflowHandle:
    """Send `event` to the account's entity workflow, starting the entity if it is not running yet."""
    # TODO Part D: Signal-with-start: the first event creates the entity workflow, later ones reach it
    raise NotImplementedError('Part D is not done yet: Signal-with-start: the first event creates the entity workflow, later ones reach it. See README.md, Part D.')
