"""Replays the recorded histories against this folder's workflow: does the new code still fit them?

    python -m exercises.module04_bug_handling.replay_history

Each file in histories/ is the event history of a transfer run by older code. A change that alters the
workflow's commands for those executions shows up here as a nondeterminism error (Part C).
"""

from __future__ import annotations

import re
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.worker import Replayer

from workshop.connection import run_script

from .workflow import MoneyTransferWorkflow

HISTORIES = Path(__file__).with_name("histories")


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))


async def replay(path: Path) -> None:
    """Raises (e.g. temporalio.workflow.NondeterminismError) if the workflow does not fit the history."""
    history = load(path)
    # Errors only: the replayer would log a failure as a warning too, before we print it once, readably.
    quiet = Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=TelemetryFilter("ERROR", "ERROR"))))
    await Replayer(workflows=[MoneyTransferWorkflow], runtime=quiet).replay_workflow(history)


def reason(err: Exception) -> str:
    """The readable part of a replay failure (the SDK wraps it in the worker's failure record)."""
    found = re.search(r'message: "(.*?)", source', str(err))
    return found.group(1) if found else str(err)


async def main() -> int:
    failures = 0
    for path in sorted(HISTORIES.glob("*.json")):
        try:
            await replay(path)
        except Exception as err:
            failures += 1
            print(f"{path.name}: does not replay. {type(err).__name__}: {reason(err)}")
        else:
            print(f"{path.name}: replays cleanly.")
    return 1 if failures else 0


if __name__ == "__main__":
    run_script(main())
