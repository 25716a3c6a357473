"""What the learner sees in a real browser (headless Chromium, Debian's package, driven by Playwright):
the Temporal Web UI that `workshop up` serves, the bank's dashboard, and JupyterLab from `workshop notebook`.

Each test saves a screenshot under test-artifacts/screenshots/ (ignored by git). Without Chromium
(`apt-get install chromium`; .ci/run installs it) the tests are skipped, saying so.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from workshop import build, catalog, servers
from workshop.paths import NOTEBOOKS, ROOT
from workshop.targets import Target
from workshop.testing import count_events, eventually

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
# Chromium's own background traffic (updates, sync, QUIC probes) is refused by a closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

try:
    from playwright.async_api import Browser, Page, async_playwright
except ImportError:  # pragma: no cover - requirements.txt installs it
    async_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here: apt-get install chromium (.ci/run does)"),
    pytest.mark.skipif(async_playwright is None, reason="playwright is not installed: pip install -r requirements.txt"),
]


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@dataclass
class Up:
    temporal: str
    ui: str
    bank: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """`python -m workshop up` on ports of its own, as a learner runs it."""
    ports = [servers.free_port() for _ in range(3)]
    state = tmp_path_factory.mktemp("up") / ".workshop"
    env = {**servers.local_env(), "WORKSHOP_STATE_DIR": str(state)}
    process = subprocess.Popen([sys.executable, "-m", "workshop", "up", "--port", str(ports[0]), "--ui-port",
                                str(ports[1]), "--api-port", str(ports[2])], cwd=ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("Ready."):
            break
    else:
        raise AssertionError(f"up did not start (exit {process.wait()})")
    learner_env = {**env, "TEMPORAL_ADDRESS": f"127.0.0.1:{ports[0]}", "ACCOUNT_API_URL": f"http://127.0.0.1:{ports[2]}"}
    try:
        yield Up(f"127.0.0.1:{ports[0]}", f"http://localhost:{ports[1]}", f"http://127.0.0.1:{ports[2]}", learner_env)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def history_url(up: Up, workflow_id: str, run_id: str) -> str:
    return f"{up.ui}/namespaces/default/workflows/{workflow_id}/{run_id}/history"


async def test_the_web_ui_shows_a_completed_transfer(browser: Browser, up: Up) -> None:
    ran = subprocess.run([sys.executable, "-m", "workshop", "run", "02", "--solution", "--embedded"], cwd=ROOT,
                         env=up.env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    found = re.search(r"\(workflow ([\w-]+)\)", ran.stdout)
    assert found, ran.stdout
    client = await Client.connect(up.temporal)
    handle = client.get_workflow_handle(found.group(1))
    run_id = (await handle.describe()).run_id
    page = await browser.new_page()
    try:
        await page.goto(history_url(up, handle.id, run_id))
        await page.get_by_text("Completed", exact=False).first.wait_for(timeout=30_000)
        await page.get_by_text("ActivityTaskCompleted", exact=False).or_(
            page.get_by_text("Activity Task Completed", exact=False)).first.wait_for(timeout=30_000)
        await screenshot(page, "web-ui-completed-transfer")
        assert "COMPLETED" in (await page.inner_text("body")).upper()
    finally:
        await page.close()


async def test_the_web_ui_shows_jerrys_stuck_transfer(browser: Browser, up: Up, tmp_path: Path) -> None:
    """Module 04: Jerry's workflow bug keeps the transfer Running with a Workflow Task Failed event."""
    from temporalio.worker import Worker

    jerry = Target("jerry", build.write_package(tmp_path / "jerry_exercises", (catalog.get("04"),)))
    shared = jerry.load("04", "shared")
    client = await Client.connect(up.temporal)
    queue = f"browser-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[jerry.load("04", "workflow").MoneyTransferWorkflow]):
        handle = await client.start_workflow("MoneyTransferWorkflow", shared.example_transfer(), id=queue, task_queue=queue)
        await eventually(lambda: count_events(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED), 20,
                         "the transfer's workflow task failed")
    page = await browser.new_page()
    try:
        await page.goto(history_url(up, handle.id, handle.result_run_id or ""))
        await page.get_by_text("Workflow Task Failed", exact=False).first.wait_for(timeout=30_000)
        await screenshot(page, "web-ui-stuck-transfer")
        body = await page.inner_text("body")
        assert "RUNNING" in body.upper() and "can only concatenate str" in body
    finally:
        await page.close()
        await handle.terminate("browser test done")


@pytest.mark.long
async def test_jupyterlab_opens_a_module_notebook(browser: Browser, services: Any) -> None:
    port = servers.free_port()
    process = subprocess.Popen([sys.executable, "-m", "workshop", "notebook", "--port", str(port), "--no-browser",
                                "--ServerApp.token=", "--ServerApp.password=", "--LabApp.news_url="],
                               cwd=ROOT, env=services.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        async def serving() -> bool:
            try:
                return httpx.get(f"http://localhost:{port}/lab", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(serving, 90, "JupyterLab answered")
        notebook = catalog.get("01").notebook
        assert notebook and (NOTEBOOKS / notebook).exists()
        page = await browser.new_page()
        try:
            await page.goto(f"http://localhost:{port}/lab/tree/{notebook}")
            # The notebook's first markdown cell, rendered in the notebook panel (the table of contents has it too).
            await page.locator(".jp-Notebook .jp-RenderedMarkdown", has_text="Module 01").first.wait_for(timeout=60_000)
            await screenshot(page, "jupyterlab-notebook-01")
        finally:
            await page.close()
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


async def wait_for_text(page: Page, selector: str, expected: str, seconds: float = 15) -> str:
    deadline = asyncio.get_running_loop().time() + seconds
    text = ""
    while asyncio.get_running_loop().time() < deadline:
        text = await page.inner_text(selector)
        if expected in text:
            return text
        await asyncio.sleep(0.3)
    raise AssertionError(f"{selector} never showed {expected!r}; it shows:\n{text}")


async def test_the_classroom_page_shows_the_room(browser: Browser, services: Any, client: Client) -> None:
    from workshop.classroom import Report, send_report
    from workshop.testing import unique_id

    name, port = unique_id("room"), servers.free_port()
    instructor = subprocess.Popen([sys.executable, "-m", "workshop", "class", "--name", name, "--port", str(port)],
                                  cwd=ROOT, env=services.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, start_new_session=True)
    try:
        assert instructor.stdout is not None and instructor.stdout.readline().startswith(f"Classroom {name}")
        page = await browser.new_page()
        try:
            await page.goto(f"http://127.0.0.1:{port}/")
            await page.locator("#summary", has_text="0 learners").wait_for(timeout=15_000)
            await send_report(client, name, Report("ada", "01", ["A", "B"], ["A"], "Part B: a second start began a new run"))
            await send_report(client, name, Report("bo", "01", ["A", "B"], ["A", "B"]))
            # The page refreshes by itself: no reload.
            learners = await wait_for_text(page, "#learners", "ada")
            assert "A." in learners and "AB" in learners
            assert "Part B: a second start" in await wait_for_text(page, "#stuck", "ada")
            await screenshot(page, "classroom-page")
        finally:
            await page.close()
    finally:
        os.killpg(instructor.pid, signal.SIGINT)
        instructor.wait(timeout=30)
