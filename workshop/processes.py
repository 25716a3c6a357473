"""Running module code in a child process, the way a learner's terminal needs it.

A child runs in a process group of its own, so the terminal's Ctrl-C reaches only the toolkit, which
passes exactly one signal on (a worker that got Ctrl-C twice would skip its graceful shutdown). Whatever
stops the toolkit, Ctrl-C, SIGTERM (`kill <pid>`) or SIGHUP (a closed terminal), stops the child the
same way, and on Linux the child is also told to stop if the toolkit dies without a word (kill -9), so
no worker is left behind polling its task queue.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
PR_SET_PDEATHSIG = 1


def _in_own_group_and_die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    os.setpgrp()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass


class Child:
    """A child process in its own process group."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str], cwd: Path | None = None) -> None:
        posix = os.name == "posix"
        self.process = subprocess.Popen(
            list(command), env=dict(env), cwd=cwd,
            preexec_fn=_in_own_group_and_die_with_parent if posix else None,
            creationflags=0 if posix else subprocess.CREATE_NEW_PROCESS_GROUP,  # type: ignore[attr-defined]
        )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, signum: int) -> None:
        if not self.alive:
            return
        try:
            if os.name == "posix":
                os.killpg(self.process.pid, signum)
            else:  # pragma: no cover - Windows
                self.process.send_signal(signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
        except ProcessLookupError:
            pass

    def wait(self, timeout: float | None = None) -> int:
        return self.process.wait(timeout)

    def stop(self, signum: int = signal.SIGINT, grace_seconds: float = 15.0) -> int:
        """Ask the child to stop (a worker finishes its running tasks first); kill it if it does not."""
        self.send(signum)
        try:
            return self.wait(grace_seconds)
        except subprocess.TimeoutExpired:
            print(f"The process did not stop within {grace_seconds:.0f} s; killing it.", file=sys.stderr, flush=True)
            self.send(signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)
            return self.wait()


@contextmanager
def stop_signals(on_signal: Callable[[int], None]) -> Iterator[None]:
    """While inside, Ctrl-C, SIGTERM and SIGHUP call ``on_signal(signum)`` instead of stopping this process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        on_signal(signum)

    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def run_child(command: Sequence[str], env: Mapping[str, str], cwd: Path | None = None,
              interrupt: int = signal.SIGINT) -> int:
    """Run ``command`` until it exits; a stop signal sent to this process is passed on to it once
    (Ctrl-C as ``interrupt``: JupyterLab, for one, asks a question on SIGINT and stops quietly on
    SIGTERM). A third Ctrl-C kills a child that does not stop. Returns the child's exit code."""
    child: Child | None = None
    received: list[int] = []

    def pass_on(signum: int) -> None:
        received.append(signum)
        if child is None:
            return  # started below: it gets the signal then
        if len(received) >= 3 and hasattr(signal, "SIGKILL"):
            child.send(signal.SIGKILL)
        else:
            child.send(interrupt if signum == signal.SIGINT else signum)

    with stop_signals(pass_on):
        child = Child(command, env, cwd)
        for signum in list(received):
            child.send(interrupt if signum == signal.SIGINT else signum)
        return child.wait()
