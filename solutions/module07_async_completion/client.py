"""How the approver answers a waiting activity: through its task token, with any Temporal client.

approver.py turns these into commands; the checks call them directly.
"""

from __future__ import annotations

import base64

from temporalio.client import AsyncActivityHandle, Client
from temporalio.exceptions import ApplicationError

from .shared import TRANSFER_REJECTED, ApprovalDecision


def transfer_activity(client: Client, task_token: str) -> AsyncActivityHandle:
    """The handle of the activity that waits for an approval, from the task token the bank keeps (base64)."""
    # >>> Part B: Approve from the approver: complete the activity through its task token
    return client.get_async_activity_handle(task_token=base64.b64decode(task_token))
    # <<< Part B


async def send_approval(handle: AsyncActivityHandle, decision: ApprovalDecision) -> None:
    """Complete the waiting activity: `decision` becomes its result, and the transfer goes ahead."""
    # >>> Part B: Approve from the approver: complete the activity through its task token
    await handle.complete(decision)
    # <<< Part B


async def send_rejection(handle: AsyncActivityHandle, decision: ApprovalDecision) -> None:
    """Fail the waiting activity with the approver's reason: the transfer ends, and no money moves."""
    # >>> Part C: Reject: fail the activity with a non-retryable error and end the transfer as rejected
    # Final: no retry policy may ask again. The approver's name travels as the error's detail.
    await handle.fail(ApplicationError(decision.comment or "rejected", decision.approver,
                                       type=TRANSFER_REJECTED, non_retryable=True))
    # <<< Part C
