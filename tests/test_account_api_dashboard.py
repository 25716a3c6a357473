"""The bank's dashboard in a real browser (Debian's headless Chromium, driven by Playwright): it shows the
bank's state, refreshes by itself, switches fault modes, and shows free text as text.

Without Chromium (`apt-get install chromium`; .ci/run installs it) the tests are skipped, saying so.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from workshop.paths import ROOT
from workshop.servers import Service, start_account_api

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"

try:
    from playwright.async_api import Browser, Page, async_playwright
except ImportError:  # pragma: no cover - requirements.txt installs it
    async_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here: apt-get install chromium (.ci/run does)"),
    pytest.mark.skipif(async_playwright is None, reason="playwright is not installed: pip install -r requirements.txt"),
]


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("dashboard")
    service = start_account_api(db_file=folder / "accounts.db", log_path=folder / "account_api.log")
    yield service
    service.stop()


@pytest.fixture
def api(bank: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=bank.url, timeout=10) as client:
        client.post("/admin/reset").raise_for_status()
        yield client


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    opened = await browser.new_page()
    try:
        yield opened
    finally:
        await opened.close()


async def shows(page: Page, selector: str, expected: str, seconds: float = 10) -> str:
    """The text of ``selector`` once it contains ``expected`` (the page refreshes every 1.5 s)."""
    deadline = asyncio.get_running_loop().time() + seconds
    text = ""
    while asyncio.get_running_loop().time() < deadline:
        text = await page.inner_text(selector)
        if expected in text:
            return text
        await asyncio.sleep(0.2)
    raise AssertionError(f"{selector} never showed {expected!r}; it shows:\n{text}")


def localhost_url(bank: Service) -> str:
    return bank.url.replace("127.0.0.1", "localhost")


async def test_the_dashboard_shows_balances_and_refreshes_by_itself(page: Page, bank: Service, api: httpx.Client):
    await page.goto(bank.url + "/")
    accounts = await shows(page, "#accounts", "Acme Payroll")
    assert "$1,000.00" in accounts  # alice's 100000 cents
    assert "No faults injected." in await page.inner_text("#faults")

    api.post("/accounts/carol/deposit", json={"amount_cents": 1_234, "reference": "<img src=x onerror=alert(1)>"},
             headers={"Idempotency-Key": "dashboard-deposit"}).raise_for_status()

    ledger = await shows(page, "#ledger", "dashboard-deposit")
    assert "$12.34" in ledger and "<img src=x onerror=alert(1)>" in ledger  # shown as text, not markup
    assert await page.locator("#ledger img").count() == 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "bank-dashboard.png"), full_page=True)


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost"])
async def test_the_fault_controls_switch_each_fault_on_and_off(page: Page, bank: Service, api: httpx.Client, address):
    await page.goto((bank.url if address == "127.0.0.1" else localhost_url(bank)) + "/")
    await shows(page, "#faults", "No faults injected.")

    await page.fill("#value-error-rate", "30")
    await page.check("#control-error-rate")
    await shows(page, "#faults", "error rate 30%")
    await page.check("#control-lost-responses")
    await page.fill("#value-delay", "250")
    await page.check("#control-delay")
    await page.check("#control-down")
    # Each control sends its own change; on a busy machine they may land in any order, so wait for all three.
    for shown in ("DOWN", "lost responses 50%", "delay 250 ms"):
        await shows(page, "#faults", shown)
    assert api.get("/admin/faults").json() == {"error_rate": 0.3, "lost_response_rate": 0.5, "delay_ms": 250,
                                               "down": True, "seed": None}

    await page.uncheck("#control-down")
    await shows(page, "#faults", "delay 250 ms")
    assert api.get("/admin/faults").json()["down"] is False

    await page.click("#control-clear")
    await shows(page, "#faults", "No faults injected.")
    assert api.get("/admin/faults").json()["error_rate"] == 0
    assert not await page.is_checked("#control-error-rate")
    assert await page.inner_text("#control-status") == ""


async def test_the_dashboard_shows_holds_approvals_inventory_and_shipments(page: Page, bank: Service,
                                                                          api: httpx.Client):
    def create(path: str, body: dict, key: str) -> dict:
        response = api.post(path, json=body, headers={"Idempotency-Key": key})
        assert response.status_code == 201, response.text
        return response.json()

    create("/accounts/bob/holds", {"amount_cents": 12_500, "reference": "order O-42"}, "dash-hold")
    approval = create("/approvals", {"transfer_id": "T-42", "from_account": "company", "to_account": "dave",
                                     "amount_cents": 900_000, "note": "new laptop"}, "dash-approval")
    create("/inventory/reservations", {"order_id": "O-42", "items": [{"sku": "gadget", "quantity": 3}]}, "dash-res")
    create("/shipments", {"order_id": "O-42", "carrier": "parcelpost", "address": "12 Elm St"}, "dash-ship")

    await page.goto(bank.url + "/")

    assert "$125.00" in await shows(page, "#holds", "order O-42")
    assert "$375.00" in await shows(page, "#accounts", "$125.00")  # bob: 500 - 125 held
    assert "new laptop" in await shows(page, "#approvals", "T-42")
    assert "17" in await shows(page, "#inventory", "Gadget")  # 20 - 3 reserved
    assert "3 × gadget" in await shows(page, "#reservations", "O-42")
    assert "12 Elm St" in await shows(page, "#shipments", "parcelpost")
    assert "no" in await shows(page, "#carriers", "tortoise")

    await page.locator("#approvals button", has_text="Approve").click()

    deadline = asyncio.get_running_loop().time() + 10
    while "T-42" in await page.inner_text("#approvals"):  # the page refreshes after the decision
        assert asyncio.get_running_loop().time() < deadline, "the approved transfer stayed in #approvals"
        await asyncio.sleep(0.2)
    decided = api.get(f"/approvals/{approval['approval_id']}").json()
    assert (decided["status"], decided["decided_by"]) == ("approved", "bank dashboard")
    assert await page.inner_text("#control-status") == ""


# --- Hostile pages ----------------------------------------------------------------------------------

ATTACK = """<!doctype html><html><body><script>
const bank = "%(bank)s";
async function attack() {
  const settled = await Promise.allSettled([
    fetch(bank + "/admin/reset", {method: "POST", mode: "no-cors"}),
    fetch(bank + "/admin/reset", {method: "POST"}),  // a "simple" CORS request: sent without a preflight
    fetch(bank + "/admin/faults", {method: "PUT", mode: "no-cors", body: '{"down": true}'}),
    fetch(bank + "/admin/faults", {method: "PUT", headers: {"Content-Type": "application/json"}, body: '{"down": true}'}),
    fetch(bank + "/accounts/alice/withdraw", {method: "POST", mode: "no-cors", body: '{"amount_cents": 100}'}),
    fetch(bank + "/accounts/alice/withdraw", {method: "POST", mode: "no-cors",
                                              body: new Blob(['{"amount_cents": 100}'])}),
  ]);
  const loads = [];
  for (const enctype of ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]) {
    const frame = document.createElement("iframe");
    frame.name = "sink-" + loads.length;
    loads.push(new Promise(resolve => frame.addEventListener("load", resolve)));
    document.body.append(frame);
    const form = document.createElement("form");
    Object.assign(form, {method: "POST", action: bank + "/admin/reset", enctype, target: frame.name});
    const field = document.createElement("input");
    Object.assign(field, {name: '{"down": true, "x": "', value: '"}'});
    form.append(field);
    document.body.append(form);
    form.submit();
  }
  await Promise.all(loads);
  document.title = "done: " + settled.map(s => s.status).join(",");
}
attack();
</script></body></html>"""


@pytest.fixture
def hostile_site() -> Iterator[Any]:
    """A web page on another origin of this machine (another port), like any local dev server."""
    pages: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield pages, f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def bank_state(api: httpx.Client) -> tuple[Any, ...]:
    return (api.get("/accounts").json(), api.get("/ledger").json(), api.get("/admin/faults").json(),
            api.get("/admin/overview").json()["holds"])


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost"])
async def test_a_page_on_another_origin_cannot_change_the_bank(page: Page, bank: Service, api: httpx.Client,
                                                               hostile_site, address):
    pages, site = hostile_site
    target = bank.url if address == "127.0.0.1" else localhost_url(bank)
    pages["/attack"] = (ATTACK % {"bank": target}).encode()
    api.post("/accounts/carol/deposit", json={"amount_cents": 500}, headers={"Idempotency-Key": "before-attack"})
    before = bank_state(api)

    await page.goto(f"{site}/attack")
    await page.wait_for_function("document.title.startsWith('done')", timeout=15_000)

    assert bank_state(api) == before
    # The requests did reach the bank (a browser sends no-cors requests and forms): it refused each one.
    rejected = api.get("/admin/stats").json()["rejected"]
    assert rejected >= 6, f"only {rejected} of the page's requests reached the bank ({await page.title()})"


async def test_dns_rebinding_cannot_change_the_bank(bank: Service, api: httpx.Client):
    """evil.example resolves to 127.0.0.1 (as a rebinding attacker makes it): the page at
    http://evil.example:<port>/ is same-origin with the bank as far as the browser knows."""
    port = bank.url.rsplit(":", 1)[1]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP evil.example 127.0.0.1"])
        try:
            page = await browser.new_page()
            before = bank_state(api)
            await page.goto(f"http://evil.example:{port}/")
            statuses = await page.evaluate("""async () => {
                const json = {"Content-Type": "application/json"};
                const answers = await Promise.all([
                    fetch("/admin/reset", {method: "POST"}),
                    fetch("/admin/faults", {method: "PUT", headers: json, body: '{"down": true}'}),
                    fetch("/accounts/alice/withdraw", {method: "POST", body: '{"amount_cents": 100}',
                                                       headers: {...json, "Idempotency-Key": "rebound"}}),
                ]);
                return Promise.all(answers.map(async a => [a.status, (await a.json()).error]));
            }""")
            assert statuses == [[421, "unknown_host"]] * 3
            # The dashboard's own controls, under that name, are refused the same way and say why.
            await page.click("#control-down")  # answered at once with a refusal, which unticks it again
            assert "does not answer to the host" in await shows(page, "#control-status", "evil.example")
            assert bank_state(api) == before
        finally:
            await browser.close()
