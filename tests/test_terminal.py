"""The learner's terminal, for real: Ctrl-C typed at a pseudo-terminal, SIGTERM and SIGHUP sent to the
toolkit, kill -9. Every command that runs something stops calmly and leaves no process behind.

Ctrl-C at a terminal is not `kill -INT <pid>`: the terminal signals its whole foreground process group.
So these tests start the command on a pseudo-terminal and write the Ctrl-C character (\\x03) to it.
"""

from __future__ import annotations

import asyncio
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from workshop import servers
from workshop.paths import ROOT
from workshop.testing import eventually, unique_id

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and drives a Linux pty")
CTRL_C = b"\x03"


class Terminal:
    """A command running on a pseudo-terminal, as in a learner's terminal window."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path = ROOT) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: becomes the command, in the terminal's foreground process group
            os.chdir(cwd)
            os.execve(sys.executable, [sys.executable, *args], env)
        self.output = b""

    def read_until(self, text: str, seconds: float = 60) -> str:
        deadline = time.monotonic() + seconds
        while text.encode() not in self.output:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(remaining):
                raise AssertionError(f"{text!r} did not appear within {seconds:.0f} s; the terminal shows:\n"
                                     + self.text)
        return self.text

    def _read(self, seconds: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], min(seconds, 1.0))
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # the child closed the terminal
            return False
        self.output += chunk
        return bool(chunk)

    def press_ctrl_c(self) -> None:
        os.write(self.fd, CTRL_C)

    def wait(self, seconds: float = 30) -> int:
        """Read until the command exits; its exit code (128 + signal number if a signal ended it)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                while self._read(0.1):
                    pass
                return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
            self._read(0.2)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError("the command did not exit after Ctrl-C; the terminal shows:\n" + self.text)

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace").replace("\r\n", "\n")

    def close(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(self.fd)


def descendants(pid: int) -> list[int]:
    """Every process started under ``pid`` (Linux: /proc/<pid>/task/*/children)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *descendants(child)]
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def gone_within(pids: list[int], seconds: float = 15) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


@pytest.fixture
def terminal() -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for term in opened:
        term.close()


def open_terminal(opened: list[Terminal], args: list[str], env: dict[str, str]) -> Terminal:
    term = Terminal(args, env)
    opened.append(term)
    return term


def calm(text: str) -> None:
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, "Ctrl-C printed a traceback:\n" + text


@pytest.mark.parametrize("watch", [False, True], ids=["worker", "worker-watch"])
def test_ctrl_c_stops_a_worker_gracefully_and_calmly(client, services, terminal, watch):
    env = services.env(learner=unique_id("ctrlc"))
    term = open_terminal(terminal, ["-m", "workshop", "worker", "01", "--solution", *(["--watch"] if watch else [])], env)
    term.read_until("Worker polling task queue")
    worker_processes = descendants(term.pid)
    assert worker_processes, "the toolkit runs the worker in a child process"
    term.press_ctrl_c()
    code = term.wait()
    after = term.text.split("Worker polling task queue", 1)[1]
    calm(after)
    assert "Stopping the worker ... stopped." in after, "the worker shuts down gracefully:\n" + after
    assert code in (0, 130), f"exit code {code}"
    assert gone_within(worker_processes) == [], "no process is left behind"


def test_ctrl_c_stops_a_runner_waiting_for_its_workflow(client, services, terminal):
    env = services.env(learner=unique_id("ctrlc"))  # no worker polls this learner's queue: the runner waits
    term = open_terminal(terminal, ["-m", "workshop", "run", "01", "--solution", "--month", "ctrlc"], env)
    term.read_until("is running")
    runner = descendants(term.pid)
    term.press_ctrl_c()
    code = term.wait()
    calm(term.text)
    assert term.text.rstrip().endswith("Stopped."), term.text
    assert code == 130
    assert gone_within(runner) == []


async def test_ctrl_c_stops_a_runner_waiting_for_an_update(client, services, terminal):
    """The SDK turns a cancelled wait for an update into WorkflowUpdateRPCTimeoutOrCancelledError, not a
    KeyboardInterrupt: run_script must still stop calmly."""
    learner = unique_id("ctrlc")
    env = services.env(learner=learner)  # no worker: the batch starts, and its update waits for one
    term = open_terminal(terminal, ["-m", "workshop", "run", "08", "--solution", "--ending", "success",
                                    "--action", "continue"], env)

    async def batch_started() -> bool:
        return any([w async for w in client.list_workflows(f'WorkflowId STARTS_WITH "{learner}-"')])

    await eventually(batch_started, 30, "the runner started its batch")
    await asyncio.sleep(1)  # the runner sends its update right after the start
    runner = descendants(term.pid)
    term.press_ctrl_c()
    code = term.wait()
    calm(term.text)
    assert "error:" not in term.text and term.text.rstrip().endswith("Stopped."), term.text
    assert code == 130
    assert gone_within(runner) == []


def test_ctrl_c_stops_up_and_both_servers(terminal, tmp_path):
    ports = [servers.free_port() for _ in range(3)]
    env = {**os.environ, "WORKSHOP_STATE_DIR": str(tmp_path)}
    term = open_terminal(terminal, ["-m", "workshop", "up", "--port", str(ports[0]), "--ui-port", str(ports[1]),
                                    "--api-port", str(ports[2])], env)
    term.read_until("Ready.")
    started = descendants(term.pid)
    term.press_ctrl_c()
    assert term.wait() == 0
    calm(term.text)
    assert term.text.rstrip().endswith("Stopped the Temporal server and the account API."), term.text
    assert gone_within(started) == []
    assert not any(servers.port_in_use(port) for port in ports)


def test_ctrl_c_stops_jupyterlab_without_its_question(terminal, services):
    port = servers.free_port()
    # Extra options reach JupyterLab; as root (a container) the toolkit adds --allow-root itself.
    term = open_terminal(terminal, ["-m", "workshop", "notebook", "--port", str(port), "--no-browser",
                                    "--ServerApp.token=", "--LabApp.news_url="], services.env())
    term.read_until(f":{port}/lab", seconds=90)
    jupyter = descendants(term.pid)
    term.press_ctrl_c()
    assert term.wait() == 0
    assert "Shutdown this Jupyter server" not in term.text
    calm(term.text)
    assert gone_within(jupyter) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=["SIGTERM", "SIGHUP", "SIGKILL"])
def test_whatever_stops_the_toolkit_stops_its_worker(client, services, signum):
    env = services.env(learner=unique_id("orphan"))
    wrapper = subprocess.Popen([sys.executable, "-m", "workshop", "worker", "01", "--solution"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wrapper.stdout is not None
        first = wrapper.stdout.readline()
        assert first.startswith("Worker polling task queue"), first
        worker = descendants(wrapper.pid)
        assert worker
        wrapper.send_signal(signum)
        wrapper.wait(timeout=30)
        # SIGTERM and SIGHUP are passed on; a toolkit killed with -9 cannot pass anything on, but its child
        # was told by the kernel (PR_SET_PDEATHSIG) to stop when its parent dies.
        assert gone_within(worker) == [], f"after {signal.Signals(signum).name} the worker still runs, orphaned"
    finally:
        if wrapper.poll() is None:
            wrapper.kill()
