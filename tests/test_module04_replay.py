"""Module 04, Part C: the committed history, recorded before the account check was added, against the
new workflow. Unguarded, the new step is a nondeterminism error; guarded with workflow.patched, the
history replays cleanly.
"""

from __future__ import annotations

import json
import shutil

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from solutions.module04_bug_handling import replay_history
from solutions.module04_bug_handling.workflow import MoneyTransferWorkflow
from workshop.paths import SOLUTIONS
from workshop.targets import Target

FOLDER = SOLUTIONS / "module04_bug_handling"
HISTORY_FILE = FOLDER / "histories" / "transfer_before_change.json"
GUARD = "if workflow.patched(CHECK_TARGET_PATCH):"


def recorded_history() -> WorkflowHistory:
    return WorkflowHistory.from_json("transfer-before-change", HISTORY_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def unguarded_workflow(tmp_path_factory: pytest.TempPathFactory) -> type:
    """The solution's workflow with the same new step, minus its workflow.patched guard."""
    package = tmp_path_factory.mktemp("unguarded") / "unguarded_change"
    shutil.copytree(FOLDER, package / FOLDER.name, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "__init__.py").write_text("")
    source = (package / FOLDER.name / "workflow.py").read_text(encoding="utf-8")
    assert source.count(GUARD) == 1, "the solution should guard exactly one step with workflow.patched"
    (package / FOLDER.name / "workflow.py").write_text(source.replace(GUARD, "if True:  # unguarded"))
    return Target("unguarded", package).load("04", "workflow").MoneyTransferWorkflow


def test_the_history_was_recorded_before_the_change() -> None:
    events = json.loads(HISTORY_FILE.read_text(encoding="utf-8"))["events"]
    kinds = [event["eventType"] for event in events]
    activities = [
        event["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for event in events if event["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"
    ]
    assert activities == ["withdraw", "deposit"]
    assert "EVENT_TYPE_MARKER_RECORDED" not in kinds
    assert kinds[-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"


async def test_the_unguarded_change_is_a_nondeterminism_error(unguarded_workflow: type) -> None:
    with pytest.raises(NondeterminismError, match=r"withdraw|check_account"):
        await Replayer(workflows=[unguarded_workflow]).replay_workflow(recorded_history())


async def test_the_change_guarded_with_patched_replays_cleanly() -> None:
    result = await Replayer(workflows=[MoneyTransferWorkflow]).replay_workflow(recorded_history())
    assert result.replay_failure is None


async def test_the_replay_script_reports_each_history(capsys: pytest.CaptureFixture[str]) -> None:
    assert await replay_history.main() == 0
    assert capsys.readouterr().out == "transfer_before_change.json: replays cleanly.\n"
