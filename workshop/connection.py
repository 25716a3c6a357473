"""The one way every worker, runner, notebook and test connects to Temporal and names its task queues.

Settings come from the environment (or a `temporal.toml` profile), read when they are used, never
from literals in module code and never at import: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
TEMPORAL_API_KEY and the TLS settings point the same code at a shared classroom server or at Temporal
Cloud. WORKSHOP_LEARNER keeps learners on a shared server apart (see workshop/settings.py).

Exercise and solution code never share a task queue or a workflow ID: names made for code under
`solutions/` start with "solution-", so a solution worker never takes an exercise's workflow and the
other way round.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from workshop import logs, settings

SOLUTION_PACKAGE = "solutions"


class TemporalUnreachable(ConnectionError):
    """No Temporal server answered at the configured address."""


async def connect() -> Client:
    """Connect to the configured Temporal server, or explain how to get one."""
    config = settings.temporal_connect_config()
    try:
        return await Client.connect(**config)
    except RuntimeError as err:
        raise TemporalUnreachable(
            f"No Temporal server is reachable at {config['target_host']}.\n"
            "Start one with `python -m workshop up` (in another terminal), "
            "or set TEMPORAL_ADDRESS to the address of your classroom server."
        ) from err


def _prefix(package: str | None) -> str:
    variant = "solution-" if (package or "").split(".")[0] == SOLUTION_PACKAGE else ""
    return settings.current().learner_prefix() + variant


def module_name(package: str | None) -> str:
    """"module02-retries" for the package "exercises.module02_retries"."""
    return (package or "").rsplit(".", 1)[-1].replace("_", "-")


def task_queue(package: str | None) -> str:
    """The task queue of the module whose package is ``package`` (pass ``__package__``).

    "module02-retries" for exercises/, "solution-module02-retries" for solutions/, each prefixed with
    the learner's name when WORKSHOP_LEARNER is set.
    """
    return _prefix(package) + module_name(package)


def workflow_id(package: str | None, name: str) -> str:
    """A workflow ID made by the module in ``package``: ``name``, told apart per learner and per variant."""
    return _prefix(package) + name


def account_api_url() -> str:
    """The account API (the bank) that activities call: ACCOUNT_API_URL, by default http://127.0.0.1:8077."""
    return settings.current().account_api_url


async def _stopped_by_ctrl_c(main: Coroutine[Any, Any, Any], interrupted: list[bool]) -> Any:
    """Run ``main``; Ctrl-C cancels it and is remembered. A second Ctrl-C interrupts at once."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()

    def on_ctrl_c() -> None:
        interrupted.append(True)
        loop.remove_signal_handler(signal.SIGINT)  # the next Ctrl-C raises KeyboardInterrupt as usual
        if task is not None:
            task.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, on_ctrl_c)
    except (AttributeError, NotImplementedError, RuntimeError):  # Windows: Ctrl-C stays a KeyboardInterrupt
        pass
    return await main


def run_script(main: Coroutine[Any, Any, Any]) -> None:
    """`asyncio.run` for the modules' workers and runners: a missing server, a setting that cannot be
    used or Ctrl-C ends the script with a short message instead of a stack trace.

    Ctrl-C cancels the script's task. Whatever the cancellation turns into on its way out (the SDK turns a
    cancelled wait for an update into WorkflowUpdateRPCTimeoutOrCancelledError, for example), the script
    then says "Stopped." and exits with 130, as a shell expects of a command stopped by Ctrl-C."""
    logs.configure()
    interrupted: list[bool] = []
    try:
        result = asyncio.run(_stopped_by_ctrl_c(main, interrupted))
        code = result if isinstance(result, int) else 0
    except (TemporalUnreachable, settings.SettingsError) as err:
        print(f"error: {err}", file=sys.stderr)
        code = 2
    except BaseException as err:
        if not (interrupted or isinstance(err, KeyboardInterrupt)):
            raise
        print("Stopped.", file=sys.stderr)
        code = 130
    # Leave without interpreter finalization: the SDK's native threads can still be winding down, and
    # tearing Python down under them sometimes aborts a process that has already finished its work.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


async def serve(worker: Worker) -> None:
    """Run a worker until Ctrl-C, SIGTERM or SIGHUP, then shut it down gracefully.

    A KeyboardInterrupt in the middle of the SDK's startup or shutdown can hang or abort the process,
    so the signals only set an event, and `async with worker` does the shutdown.
    """
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        try:
            loop.add_signal_handler(getattr(signal, name), interrupted.set)
        except (AttributeError, NotImplementedError, RuntimeError):  # Windows: Ctrl-C stays a KeyboardInterrupt
            pass
    async with worker:
        print(f"Worker polling task queue {worker.task_queue!r}. Ctrl-C stops it.", flush=True)
        await interrupted.wait()
        print("\nStopping the worker ...", end="", flush=True)
    print(" stopped.", flush=True)
