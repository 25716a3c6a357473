"""The learner's loop with the toolkit: check, hint, list, check --watch, run --help; which names solution
runs use; notebooks opened however the learner opens them; the suite itself with classroom settings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workshop import build, catalog, connection
from workshop.paths import NOTEBOOKS, ROOT, SOLUTIONS
from workshop.testing import unique_id

from .test_terminal import Terminal


def workshop(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workshop", *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def pristine(tmp_path: Path, services) -> tuple[Path, dict[str, str]]:
    """A learner's untouched exercises/ (module 01) and the environment that points the toolkit at it."""
    root = build.write_package(tmp_path / "exercises", (catalog.get("01"),))
    env = services.env(modules_dir=root, PYTHONPATH=str(tmp_path), WORKSHOP_STATE_DIR=str(tmp_path / "state"))
    return root, env


def test_hints_come_one_at_a_time_and_check_shows_the_next_unseen_one(pristine):
    _, env = pristine
    part = catalog.get("01").parts[0]
    first = workshop("hint", "01", env=env)
    assert f"Hint 1 of {len(part.hints)} for Part A" in first.stdout and part.hints[0] in first.stdout
    second = workshop("hint", env=env)  # no number: the module the learner is on
    assert f"Hint 2 of {len(part.hints)} for Part A" in second.stdout, second.stdout + second.stderr
    checked = workshop("check", env=env)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "Checking module 01" in checked.stdout
    assert f"Hint 3 of {len(part.hints)} for Part A" in checked.stdout, "check shows the next hint not yet seen"
    again = workshop("check", "01", env=env)
    assert f"You have seen all {len(part.hints)} hints for Part A" in again.stdout


def test_list_says_not_started_until_a_part_passes_or_a_file_changes(pristine):
    root, env = pristine
    workshop("check", "01", env=env)
    listed = workshop("list", env=env).stdout
    line = next(line for line in listed.splitlines() if line.strip().startswith("01"))
    assert "not started" in line and "you are here" in line, listed
    shutil.copyfile(SOLUTIONS / "module01_durable_execution" / "workflow.py", root / "module01_durable_execution" / "workflow.py")
    workshop("check", "01", env=env)
    line = next(line for line in workshop("list", env=env).stdout.splitlines() if line.strip().startswith("01"))
    assert "in progress" in line, line


def test_a_broken_progress_file_is_set_aside_with_a_warning(pristine):
    _, env = pristine
    state = Path(env["WORKSHOP_STATE_DIR"])
    state.mkdir(parents=True, exist_ok=True)
    (state / "progress.json").write_text("{not json")
    listed = workshop("list", env=env)
    assert listed.returncode == 0 and "could not be read" in listed.stderr and "Traceback" not in listed.stderr
    assert (state / "progress.json.broken").read_text() == "{not json"


def test_check_names_the_file_and_line_of_a_syntax_error(pristine):
    root, env = pristine
    workflow = root / "module01_durable_execution" / "workflow.py"
    workflow.write_text(workflow.read_text().replace("class PayrollWorkflow:", "class PayrollWorkflow"))
    checked = workshop("check", "01", env=env)
    assert checked.returncode == 1
    assert "module01_durable_execution/workflow.py, line" in checked.stderr and "Traceback" not in checked.stderr


def test_check_watch_checks_again_on_save_and_names_the_next_part(pristine):
    root, env = pristine
    term = Terminal(["-m", "workshop", "check", "01", "--watch"], env)
    try:
        term.read_until("Watching", seconds=90)
        assert "Part A  not yet" in term.text
        shutil.copyfile(SOLUTIONS / "module01_durable_execution" / "workflow.py",
                        root / "module01_durable_execution" / "workflow.py")
        term.read_until("Part A  passed", seconds=90)
        term.read_until("for Part B", seconds=30)  # the next Part's hint
        term.press_ctrl_c()
        assert term.wait() == 0
        assert "Stopped watching." in term.text and "Traceback" not in term.text
    finally:
        term.close()


def test_run_help_shows_the_runner_s_own_options(services):
    shown = workshop("run", "01", "--help", env=services.env())
    assert shown.returncode == 0, shown.stderr
    for option in ("--solution", "--embedded", "--month", "--pause"):
        assert option in shown.stdout, f"{option} missing from:\n{shown.stdout}"


def test_solution_and_exercise_runs_never_share_a_task_queue_or_workflow_id(monkeypatch):
    for learner in ("", "alice"):
        monkeypatch.setenv("WORKSHOP_LEARNER", learner)
        exercise = connection.task_queue("exercises.module04_bug_handling")
        solution = connection.task_queue("solutions.module04_bug_handling")
        assert exercise != solution and solution.startswith(f"{learner}-solution-" if learner else "solution-")
        assert connection.workflow_id("exercises.x", "payroll-may") != connection.workflow_id("solutions.x", "payroll-may")


def test_a_notebook_runs_however_the_learner_opens_it(tmp_path, services):
    """nbconvert from another folder, no toolkit involved: the installed project provides `solutions`."""
    notebook = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                           "source": ["from solutions.module02_retries.workflow import MoneyTransferWorkflow\n",
                                      "print(MoneyTransferWorkflow.__name__)"]}],
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
                "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "elsewhere.ipynb"
    path.write_text(json.dumps(notebook))
    jupyter = Path(sys.executable).with_name("jupyter")
    done = subprocess.run([str(jupyter), "nbconvert", "--to", "notebook", "--execute", "--stdout", str(path)],
                          cwd=tmp_path, env=services.env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "MoneyTransferWorkflow" in done.stdout
    assert NOTEBOOKS.exists()


@pytest.mark.long
def test_the_suite_holds_with_classroom_settings_exported(tmp_path):
    """A classroom learner exports their name and the classroom's address (and perhaps an API key and a
    profile). The course's tests start servers of their own and must not be thrown by any of it."""
    profile = tmp_path / "temporal.toml"
    profile.write_text('[profile.default]\naddress = "classroom.example:7233"\napi_key = "not-for-local"\n')
    env = {**os.environ, "WORKSHOP_LEARNER": "alice", "TEMPORAL_ADDRESS": "127.0.0.1:1",
           "TEMPORAL_NAMESPACE": "classroom", "TEMPORAL_API_KEY": "secret-key", "TEMPORAL_CONFIG_FILE": str(profile),
           "ACCOUNT_API_URL": "http://127.0.0.1:1"}
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-p", "no:nbval",
         "-p", "no:xdist", "tests/test_module01_durability.py", "tests/checks/test_module01.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    assert "secret-key" not in completed.stdout + completed.stderr


def test_learner_names_that_cannot_prefix_a_task_queue_are_refused(services):
    env = services.env()
    env["WORKSHOP_LEARNER"] = "alice smith/../"
    ran = workshop("run", "02", "--solution", env=env)
    assert ran.returncode == 2
    assert "WORKSHOP_LEARNER='alice smith/../' is not usable" in ran.stderr and "Traceback" not in ran.stderr
    assert unique_id("x")
