"""The toolkit under bad input: each mistake a learner can make gets a clear message, a non-zero exit code
and no traceback. (More of them live where their command is tested: test_toolkit.py, test_learner_loop.py,
test_doctor.py; this file adds the ones those do not cover.)"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from workshop import build, catalog, servers
from workshop.paths import ROOT


def workshop(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workshop", *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def refused(done: subprocess.CompletedProcess[str], code: int, *said: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == code, output
    for words in said:
        assert words in output, f"{words!r} not in:\n{output}"
    assert "Traceback" not in output, output


@pytest.fixture
def env(tmp_path: Path, services) -> dict[str, str]:
    """A learner's environment with a state folder of its own; no server is started."""
    return services.env(WORKSHOP_STATE_DIR=str(tmp_path / "state"))


@pytest.fixture
def broken_module(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[Path, dict[str, str]]]:
    """Module 01's pristine exercise in a folder of its own, and the environment that points the toolkit at it."""
    root = build.write_package(tmp_path / "exercises", (catalog.get("01"),))
    yield root / "module01_durable_execution", {**env, "WORKSHOP_MODULES_DIR": str(root), "PYTHONPATH": str(tmp_path)}


# --------------------------------------------------------------------------- module numbers


@pytest.mark.parametrize("command", [["check", "99"], ["worker", "abc"], ["run", "7x"], ["hint", "-1"],
                                     ["reset", "00"], ["worker", "99", "--solution"], ["notebook", "--refresh", "99"]])
def test_a_module_that_does_not_exist_is_named_with_the_valid_ones(env, command):
    done = workshop(*command, env=env)
    valid = ", ".join(module.number for module in catalog.ready_modules())
    refused(done, 2, "There is no module", f"Valid module numbers: {valid}.")


# --------------------------------------------------------------------------- servers that are not there


def test_a_worker_without_a_temporal_server_says_how_to_get_one(env):
    port = servers.free_port()
    done = workshop("worker", "02", "--solution", env={**env, "TEMPORAL_ADDRESS": f"127.0.0.1:{port}"})
    refused(done, 2, f"No Temporal server is reachable at 127.0.0.1:{port}", "python -m workshop up")


def test_faults_without_a_bank_says_how_to_start_one(env):
    url = f"http://127.0.0.1:{servers.free_port()}"
    for command in (["faults"], ["faults", "--down"], ["faults", "--error-rate", "0.5"]):
        refused(workshop(*command, env={**env, "ACCOUNT_API_URL": url}), 2, f"not reachable at {url}",
                "python -m workshop up")


def test_faults_that_the_bank_refuses_are_explained(env, services):
    bank = services.ensure_api()
    done = workshop("faults", "--error-rate", "7", env={**env, "ACCOUNT_API_URL": bank.url})
    refused(done, 2, "The account API refused", "error_rate must be a number from 0 to 1")


# --------------------------------------------------------------------------- ports in use


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_up_names_a_taken_temporal_port_and_the_flag_that_moves_it(env, taken_port, tmp_path):
    done = workshop("up", "--port", str(taken_port), "--ui-port", str(servers.free_port()), "--api-port",
                    str(servers.free_port()), env=env)
    refused(done, 2, f"Port {taken_port} (Temporal gRPC) is already in use", "--port")
    assert not (tmp_path / "state" / "temporal.db").exists(), "nothing may start when a port is taken"


def test_notebook_names_a_taken_port(env, taken_port):
    refused(workshop("notebook", "--port", str(taken_port), env=env), 2,
            f"Port {taken_port} (JupyterLab) is already in use", "--port")


# --------------------------------------------------------------------------- a damaged state folder


def test_a_state_folder_that_is_a_file_is_named(env, tmp_path):
    state = tmp_path / "not-a-folder"
    state.write_text("a file where the state folder should be")
    for command in (["list"], ["hint", "01"], ["check", "01"]):
        refused(workshop(*command, env={**env, "WORKSHOP_STATE_DIR": str(state)}), 2,
                f"state folder {state} cannot be used", "WORKSHOP_STATE_DIR")


@pytest.mark.parametrize("content", ['["a", "list"]', '{"format": 1, "modules": {"01": {"passed": "A"}}}',
                                     '{"format": 1, "modules": {"01": {"hints_shown": {"A": true}}}}',
                                     '{"format": 1, "current": 1}', "\udcff\udcfe"])
def test_a_progress_file_of_the_wrong_shape_is_set_aside_and_hint_carries_on(env, content):
    state = Path(env["WORKSHOP_STATE_DIR"])
    state.mkdir(parents=True)
    (state / "progress.json").write_bytes(content.encode("utf-8", "surrogateescape"))
    done = workshop("hint", "01", env=env)
    assert done.returncode == 0 and "Hint 1 of" in done.stdout, done.stdout + done.stderr
    assert "could not be read" in done.stderr and "Traceback" not in done.stderr
    assert json.loads((state / "progress.json").read_text())["current"] == "01", "a fresh progress file is saved"


def test_a_damaged_bank_database_gets_a_clear_message_at_up(env):
    state = Path(env["WORKSHOP_STATE_DIR"])
    state.mkdir(parents=True)
    (state / "accounts.db").write_bytes(b"\x00garbage, not SQLite" * 300)
    temporal_port = servers.free_port()
    done = workshop("up", "--port", str(temporal_port), "--ui-port", str(servers.free_port()), "--api-port",
                    str(servers.free_port()), env=env)
    refused(done, 2, "accounts.db cannot be used as the bank's database", "move it away and run `up` again")
    assert not servers.port_in_use(temporal_port), "the Temporal server that had started was stopped"


@pytest.mark.parametrize("record", ["", "not json", "[]", '{"pid": "x"}', json.dumps({"pid": 1, "temporal": 5}),
                                    json.dumps({"pid": "PID", "temporal": "127.0.0.1:1", "namespace": "n",
                                                "bank": "http://127.0.0.1:1", "ports": ["a"]})])
def test_a_damaged_up_record_lends_nothing(tmp_path, record):
    # "PID" becomes this process's ID (a live `up`, as far as the record goes), here and not in the test's
    # ID, which every xdist worker must collect alike.
    (tmp_path / servers.UP_FILE).write_text(record.replace('"PID"', str(os.getpid())))
    assert servers.servers_of_up(tmp_path) is None
    assert servers.ports_of_up(tmp_path) == set()


# --------------------------------------------------------------------------- exercise files that do not load


def test_a_syntax_error_is_named_with_its_line_at_worker_and_run(broken_module):
    folder, env = broken_module
    workflow = folder / "workflow.py"
    workflow.write_text(workflow.read_text().replace("class PayrollWorkflow:", "class PayrollWorkflow"))
    for command in (["worker", "01"], ["run", "01"]):
        refused(workshop(*command, env=env), 1, "module01_durable_execution/workflow.py, line", "SyntaxError",
                "class PayrollWorkflow")


def test_an_import_error_is_named_with_its_line_at_check(broken_module):
    folder, env = broken_module
    workflow = folder / "workflow.py"
    workflow.write_text(workflow.read_text().replace("from temporalio import workflow\n",
                                                     "from temporalio import workflow\nimport no_such_module\n"))
    refused(workshop("check", "01", env=env), 1, "Your code cannot be loaded",
            "module01_durable_execution/workflow.py, line", "No module named 'no_such_module'")


def test_an_exercise_folder_that_does_not_exist_is_named(env, tmp_path):
    missing = tmp_path / "nowhere"
    for command in (["check", "01"], ["worker", "01"], ["list"]):
        refused(workshop(*command, env={**env, "WORKSHOP_MODULES_DIR": str(missing)}), 2,
                f"WORKSHOP_MODULES_DIR={missing} is not a folder of modules")
