"""What a learner's terminal shows while a worker or a runner works: readable failures, no internals.

When workflow code raises, the Python SDK logs the traceback of every failed workflow-task attempt.
Most of its frames are the SDK's own; the learner needs the frame in their code. The formatter here keeps
the learner's frames (and says how many of the SDK's it left out). The SDK's core (Rust) logs each failure
again, as one line of some 2,000 characters with colour codes: that line is forwarded into Python's
`logging` as the `temporalio.core` logger and shown only at debug level.

WORKSHOP_LOG_LEVEL=DEBUG (`python -m workshop worker NN --debug`) shows everything, untrimmed.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from types import TracebackType

import temporalio

from workshop import settings

SDK_FOLDER = str(Path(temporalio.__file__).resolve().parent)
CORE_LOGGER = "temporalio.core"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class LearnerFormatter(logging.Formatter):
    """A log line, and for a failure the traceback without the SDK's frames."""

    def formatException(self, ei: ExcInfo | tuple[None, None, None]) -> str:
        kind, error, tb = ei
        if kind is None or error is None:
            return ""
        frames = traceback.extract_tb(tb)
        mine = [frame for frame in frames if not frame.filename.startswith(SDK_FOLDER)]
        if not mine:
            return "".join(traceback.format_exception(kind, error, tb)).rstrip()
        hidden = len(frames) - len(mine)
        lines = [f"Traceback (most recent call last, without {hidden} frames of the Temporal SDK):\n"]
        lines += traceback.format_list(mine)
        lines += traceback.format_exception_only(kind, error)
        return "".join(lines).rstrip()


def configure(level: str | None = None) -> None:
    """Set up logging for a worker or runner process (once; a process that configured logging keeps its own)."""
    root = logging.getLogger()
    if root.handlers:
        return
    chosen = (level or settings.current().log_level).upper()
    debug = chosen == "DEBUG"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s") if debug else LearnerFormatter("%(message)s"))
    root.addHandler(handler)
    known = logging.getLevelName(chosen)  # a number for a level's name, else a string
    root.setLevel(known if isinstance(known, int) else logging.WARNING)
    # The core's own account of a failure repeats what the traceback said: kept for debugging.
    logging.getLogger(CORE_LOGGER).setLevel(logging.DEBUG if debug else logging.ERROR)
    _forward_core_logs()


def _forward_core_logs() -> None:
    from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    forwarding = LogForwardingConfig(logger=logging.getLogger(CORE_LOGGER))
    telemetry = TelemetryConfig(logging=LoggingConfig(filter=TelemetryFilter(core_level="WARN", other_level="WARN"),
                                                      forwarding=forwarding))
    Runtime.set_default(Runtime(telemetry=telemetry), error_if_already_set=False)
