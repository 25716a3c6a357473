"""The one way every worker, runner, notebook and test connects to Temporal and the account API.

Settings come from the environment (or a `temporal.toml` profile), never from literals in module code:
TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY and the TLS settings point the same code at a
shared classroom server or at Temporal Cloud. WORKSHOP_LEARNER keeps learners on a shared server apart.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from typing import Any, Coroutine

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.worker import Worker

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_ACCOUNT_API = "http://127.0.0.1:8077"


class TemporalUnreachable(ConnectionError):
    """No Temporal server answered at the configured address."""


def client_config() -> dict:
    config = dict(ClientConfig.load_client_connect_config())
    config.setdefault("target_host", DEFAULT_ADDRESS)
    return config


async def connect() -> Client:
    """Connect to the configured Temporal server, or explain how to get one."""
    config = client_config()
    try:
        return await Client.connect(**config)
    except RuntimeError as err:
        raise TemporalUnreachable(
            f"No Temporal server is reachable at {config['target_host']}.\n"
            "Start one with `python -m workshop up` (in another terminal), "
            "or set TEMPORAL_ADDRESS to the address of your classroom server."
        ) from err


def learner_prefix() -> str:
    """A learner's name as a prefix, so learners sharing one server don't share task queues."""
    learner = os.environ.get("WORKSHOP_LEARNER", "").strip()
    if not learner:
        return ""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", learner):
        raise ValueError(
            f"WORKSHOP_LEARNER={learner!r} is not usable as a prefix: "
            "use up to 40 letters, digits, '.', '_' or '-'."
        )
    return learner + "-"


def task_queue(name: str) -> str:
    """The task queue of a module, e.g. task_queue("module01-durable-execution")."""
    return learner_prefix() + name


def workflow_id(name: str) -> str:
    """A fixed workflow ID, prefixed per learner in classroom mode."""
    return learner_prefix() + name


def account_api_url() -> str:
    return os.environ.get("ACCOUNT_API_URL", DEFAULT_ACCOUNT_API).rstrip("/")


def run_script(main: Coroutine[Any, Any, Any]) -> None:
    """`asyncio.run` for the modules' workers and runners: a missing server or Ctrl-C ends the script
    with a short message instead of a stack trace."""
    try:
        result = asyncio.run(main)
        code = result if isinstance(result, int) else 0
    except TemporalUnreachable as err:
        print(f"error: {err}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    # Leave without interpreter finalization: the SDK's native threads can still be winding down, and
    # tearing Python down under them sometimes aborts a process that has already finished its work.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


async def serve(worker: Worker) -> None:
    """Run a worker until Ctrl-C or SIGTERM, then shut it down gracefully.

    A KeyboardInterrupt in the middle of the SDK's startup or shutdown can hang or abort the process,
    so the signals only set an event, and `async with worker` does the shutdown.
    """
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, interrupted.set)
        except (NotImplementedError, RuntimeError):  # Windows: Ctrl-C stays a KeyboardInterrupt
            pass
    async with worker:
        print(f"Worker polling task queue {worker.task_queue!r}. Ctrl-C stops it.", flush=True)
        await interrupted.wait()
    print("Worker stopped.", flush=True)
