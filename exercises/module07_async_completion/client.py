"""How the approver answers a waiting activity: through its task token, with any Temporal client.

approver.py turns these into commands; the checks call them directly.
"""

from __future__ import annotations

from temporalio.client import AsyncActivityHandle, Client

from .shared import TRANSFER_REJECTED, ApprovalDecision


def transfer_activity(client: Client, task_token: str) -> AsyncActivityHandle:
    """The handle of the activity that waits for an approval, from the task token the bank keeps (base64)."""
    # TODO Part B: Approve from the approver: complete the activity through its task token
    raise NotImplementedError('Part B is not done yet: Approve from the approver: complete the activity through its task token. See README.md, Part B.')


async def send_approval(handle: AsyncActivityHandle, decision: ApprovalDecision) -> None:
    """Complete the waiting activity: `decision` becomes its result, and the transfer goes ahead."""
    # TODO Part B: Approve from the approver: complete the activity through its task token
    raise NotImplementedError('Part B is not done yet: Approve from the approver: complete the activity through its task token. See README.md, Part B.')


async def send_rejection(handle: AsyncActivityHandle, decision: ApprovalDecision) -> None:
    """Fail the waiting activity with the approver's reason: the transfer ends, and no money moves."""
    # TODO Part C: Reject: fail the activity with a non-retryable error and end the transfer as rejected
    raise NotImplementedError('Part C is not done yet: Reject: fail the activity with a non-retryable error and end the transfer as rejected. See README.md, Part C.')
