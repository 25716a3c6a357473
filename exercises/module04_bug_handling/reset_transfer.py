"""Resets a failed transfer to just before the step that failed, so that fixed code runs that step again.

    python -m exercises.module04_bug_handling.reset_transfer <workflow-id>

It does what `temporal workflow reset --workflow-id <id> --event-id <event> --reason ...` does, and
finds the event for you: the WorkflowTaskCompleted event that scheduled the failed activity.
"""

from __future__ import annotations

import argparse

from temporalio.client import Client

from workshop.connection import connect, run_script


async def reset_transfer(client: Client, workflow_id: str) -> str:
    """Reset the latest run of ``workflow_id`` to before its failed activity; returns the new run's ID."""
    # TODO Part D: Reset a failed transfer to just before the step that failed.
    raise NotImplementedError('Part D is not done yet: Reset a failed transfer to just before the step that failed. See README.md, Part D.')


async def main(workflow_id: str) -> None:
    client = await connect()
    new_run_id = await reset_transfer(client, workflow_id)
    print(f"Reset {workflow_id}: the new run is {new_run_id}. A worker with the fixed code runs it from there.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workflow_id", help="the failed transfer's workflow ID, e.g. transfer-1a2b3c4d")
    run_script(main(parser.parse_args().workflow_id))
