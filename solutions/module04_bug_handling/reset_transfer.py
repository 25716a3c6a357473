"""Resets a failed transfer to just before the step that failed, so that fixed code runs that step again.

    python -m exercises.module04_bug_handling.reset_transfer <workflow-id>

It does what `temporal workflow reset --workflow-id <id> --event-id <event> --reason ...` does, and
finds the event for you: the WorkflowTaskCompleted event that scheduled the failed activity.
"""

from __future__ import annotations

import argparse
import uuid

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client

from workshop.connection import connect, run_script


async def reset_transfer(client: Client, workflow_id: str) -> str:
    """Reset the latest run of ``workflow_id`` to before its failed activity; returns the new run's ID."""
    # >>> Part D: Reset a failed transfer to just before the step that failed.
    run_id = (await client.get_workflow_handle(workflow_id).describe()).run_id
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    events = {event.event_id: event async for event in handle.fetch_history_events()}
    failed = [
        event for event in events.values()
        if event.event_type in (EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED, EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT)
    ]
    if not failed:
        raise ValueError(f"{workflow_id} has no failed activity to go back to.")
    last = failed[-1]
    attributes = last.activity_task_failed_event_attributes if last.HasField(
        "activity_task_failed_event_attributes") else last.activity_task_timed_out_event_attributes
    scheduled = events[attributes.scheduled_event_id]
    # The workflow task that scheduled the failed activity: everything before it is kept (earlier steps
    # are not run again), everything from it on is replaced by what the fixed workers do now.
    reset_point = scheduled.activity_task_scheduled_event_attributes.workflow_task_completed_event_id
    response = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            reason=f"rerun {scheduled.activity_task_scheduled_event_attributes.activity_type.name} after the fix",
            workflow_task_finish_event_id=reset_point,
            request_id=str(uuid.uuid4()),
        )
    )
    return response.run_id
    # <<< Part D


async def main(workflow_id: str) -> None:
    client = await connect()
    new_run_id = await reset_transfer(client, workflow_id)
    print(f"Reset {workflow_id}: the new run is {new_run_id}. A worker with the fixed code runs it from there.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workflow_id", help="the failed transfer's workflow ID, e.g. transfer-1a2b3c4d")
    run_script(main(parser.parse_args().workflow_id))
