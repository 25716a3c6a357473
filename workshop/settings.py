"""The workshop's settings: the only reader of its environment variables.

Settings are read when they are needed (`current()`), never at import, so a value exported after a
module was imported still counts, and a test or a subprocess that is given other settings gets them.
A subprocess gets its settings explicitly, through `child_env()`.

| variable              | what it sets                                                      | default            |
|-----------------------|-------------------------------------------------------------------|--------------------|
| WORKSHOP_LEARNER      | a learner's name: prefixes task queues and workflow IDs           | (none)             |
| WORKSHOP_MODULES_DIR  | the folder of modules that `worker`, `run` and `check` use        | exercises/         |
| WORKSHOP_STATE_DIR    | where `up` keeps its databases and `check` the learner's progress | .workshop/         |
| ACCOUNT_API_URL       | the account API (the bank) that activities call                   | http://127.0.0.1:8077 |
| WORKSHOP_ADMIN_TOKEN  | lets a non-loopback client use the bank's admin endpoints         | (none)             |
| WORKSHOP_LOG_LEVEL    | what workers and runners log (DEBUG shows the SDK's internals)     | WARNING            |
| WORKSHOP_CLASSROOM    | opt in: `check` reports to this class on the classroom server      | (none: no reports) |

Temporal's own settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS, profiles in
temporal.toml) are read by the SDK's `temporalio.envconfig`, through `temporal_connect_config()`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workshop.paths import ROOT

LOCALHOST = "127.0.0.1"
# 5000 and 7000 are taken by AirPlay on macOS, so the account API lives elsewhere.
DEFAULT_TEMPORAL_PORT = 7233
DEFAULT_UI_PORT = 8233
DEFAULT_API_PORT = 8077
DEFAULT_JUPYTER_PORT = 8888
DEFAULT_TEMPORAL_ADDRESS = f"localhost:{DEFAULT_TEMPORAL_PORT}"
DEFAULT_ACCOUNT_API_URL = f"http://{LOCALHOST}:{DEFAULT_API_PORT}"

LEARNER = "WORKSHOP_LEARNER"
MODULES_DIR = "WORKSHOP_MODULES_DIR"
STATE_DIR = "WORKSHOP_STATE_DIR"
ACCOUNT_API_URL = "ACCOUNT_API_URL"
ADMIN_TOKEN = "WORKSHOP_ADMIN_TOKEN"
LOG_LEVEL = "WORKSHOP_LOG_LEVEL"
CLASSROOM = "WORKSHOP_CLASSROOM"
# Every variable of the workshop's own; `child_env` replaces all of them, so nothing stale leaks through.
VARIABLES = (LEARNER, MODULES_DIR, STATE_DIR, ACCOUNT_API_URL, ADMIN_TOKEN, LOG_LEVEL, CLASSROOM)

LEARNER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")


class SettingsError(ValueError):
    """A setting that cannot be used; the message says which variable and what it accepts."""


def check_name(variable: str, name: str) -> str:
    """A name, stripped, or SettingsError if it cannot be part of task queues and workflow IDs."""
    stripped = name.strip()
    if stripped and not LEARNER_NAME.fullmatch(stripped):
        raise SettingsError(
            f"{variable}={name!r} is not usable as a prefix: use 1 to 40 letters, digits, '.', '_' or '-', "
            "starting with a letter or a digit."
        )
    return stripped


def check_learner(name: str) -> str:
    """A learner's name, stripped, or SettingsError if it cannot prefix task queues and workflow IDs."""
    return check_name(LEARNER, name)


@dataclass(frozen=True)
class Settings:
    learner: str = ""
    modules_dir: Path | None = None  # None: exercises/ (or solutions/ with --solution)
    state_dir: Path = ROOT / ".workshop"
    account_api_url: str = DEFAULT_ACCOUNT_API_URL
    admin_token: str | None = None
    log_level: str = "WARNING"
    classroom: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        modules_dir = env.get(MODULES_DIR, "").strip()
        state_dir = env.get(STATE_DIR, "").strip()
        return cls(
            learner=check_learner(env.get(LEARNER, "")),
            modules_dir=Path(modules_dir).resolve() if modules_dir else None,
            state_dir=Path(state_dir).resolve() if state_dir else ROOT / ".workshop",
            account_api_url=(env.get(ACCOUNT_API_URL, "").strip() or DEFAULT_ACCOUNT_API_URL).rstrip("/"),
            admin_token=env.get(ADMIN_TOKEN) or None,
            log_level=(env.get(LOG_LEVEL, "").strip() or "WARNING").upper(),
            classroom=check_name(CLASSROOM, env.get(CLASSROOM, "")),
        )

    def env(self) -> dict[str, str]:
        """These settings as the environment variables that carry them to a subprocess."""
        values = {
            LEARNER: self.learner,
            MODULES_DIR: str(self.modules_dir) if self.modules_dir else "",
            STATE_DIR: str(self.state_dir),
            ACCOUNT_API_URL: self.account_api_url,
            ADMIN_TOKEN: self.admin_token or "",
            LOG_LEVEL: self.log_level if self.log_level != "WARNING" else "",
            CLASSROOM: self.classroom,
        }
        return {name: value for name, value in values.items() if value}

    def learner_prefix(self) -> str:
        return f"{self.learner}-" if self.learner else ""


def current() -> Settings:
    """The settings of this process, read from its environment now."""
    return Settings.from_env(os.environ)


def state_dir() -> Path:
    """The state folder (created on first use): databases of `workshop up` and the learner's progress."""
    path = current().state_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a file where the folder should be, a folder that may not be written
        raise SettingsError(
            f"The workshop's state folder {path} cannot be used ({err.strerror or err}). Move away what is "
            f"there, or set {STATE_DIR} to another folder."
        ) from None
    return path


def child_env(settings: Settings | None = None, temporal: Mapping[str, str] | None = None,
              **extra: str) -> dict[str, str]:
    """The environment of a subprocess: this process's environment with the workshop's variables replaced
    by ``settings`` (default: the current ones), Temporal's by ``temporal`` when given, and ``extra`` on top."""
    env = {name: value for name, value in os.environ.items() if name not in VARIABLES}
    if temporal is not None:
        env = {name: value for name, value in env.items() if not name.startswith("TEMPORAL_")}
        env.update(temporal)
    env.update((settings or current()).env())
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def temporal_connect_config() -> dict[str, Any]:
    """`Client.connect` arguments from TEMPORAL_* variables or a temporal.toml profile; localhost:7233 by default."""
    from temporalio.envconfig import ClientConfig  # the SDK is imported only where Temporal is used

    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    config.setdefault("target_host", DEFAULT_TEMPORAL_ADDRESS)
    return config


def use_private_names(kind: str = "notebook") -> str:
    """Give this process a learner name of its own, so that every task queue and workflow ID it makes is
    its own: a notebook run against the learner's `workshop up` never touches the learner's executions.
    Returns the new name, e.g. "notebook-1a2b3c4d" (after the learner's own name in a classroom)."""
    import uuid

    name = f"{current().learner_prefix()}{kind}-{uuid.uuid4().hex[:8]}"
    os.environ[LEARNER] = check_learner(name)
    return name
