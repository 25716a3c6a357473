"""Who may change the bank: the requests a hostile web page can make are refused and change nothing;
programs (httpx, curl) and the bank's own dashboard keep working; admin changes come from this machine
or with the admin token; errors answered before the application (the HTTP layer) are JSON too.

The hostile requests are sent in-process with the headers a browser would send; tests/test_account_api_
dashboard.py sends them from a real browser, and the raw-socket tests below talk to a real process.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient

from account_api import create_app, machine_names
from workshop import servers
from workshop.paths import ROOT
from workshop.servers import Service, start_account_api

TOKEN = "s3cret-admin-token-for-tests"
BANK = "127.0.0.1:8077"
SAME_ORIGIN = {"Host": BANK, "Origin": f"http://{BANK}", "Sec-Fetch-Site": "same-origin"}
EVIL = "http://evil.example"
WITHDRAW = ("POST", "/accounts/alice/withdraw", b'{"amount_cents": 100}')
CHANGES = [  # (method, path, JSON body): one of each kind of change, admin included
    WITHDRAW,
    ("POST", "/accounts/alice/holds", b'{"amount_cents": 100}'),
    ("POST", "/approvals", b'{"transfer_id": "T", "from_account": "alice", "to_account": "bob", "amount_cents": 1}'),
    ("POST", "/inventory/reservations", b'{"order_id": "O", "items": [{"sku": "widget", "quantity": 1}]}'),
    ("POST", "/shipments", b'{"order_id": "O", "carrier": "parcelpost", "address": "here"}'),
    ("PUT", "/admin/faults", b'{"down": true}'),
    ("POST", "/admin/reset", b""),
    ("PUT", "/admin/carriers/tortoise", b'{"available": true}'),
]


@pytest.fixture
def bank(tmp_path, monkeypatch) -> Iterator[FlaskClient]:
    monkeypatch.delenv("WORKSHOP_ADMIN_TOKEN", raising=False)
    client = create_app(tmp_path / "accounts.db").test_client()
    # Something to lose: a reset by a hostile page would show.
    send(client, "POST", "/accounts/carol/deposit", b'{"amount_cents": 777}', {"Content-Type": "application/json"})
    yield client


def send(client: FlaskClient, method: str, path: str, body: bytes, headers: dict[str, str],
         remote: str = "127.0.0.1") -> Any:
    headers = {"Idempotency-Key": f"key-{path}-{method}", **headers}
    return client.open(path, method=method, data=body, headers=headers, environ_base={"REMOTE_ADDR": remote})


def state(client: FlaskClient) -> dict:
    overview = client.get("/admin/overview").get_json()
    overview["stats"] = {name: count for name, count in overview["stats"].items() if name != "rejected"}
    return overview


def refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json, response.get_data(as_text=True)
    assert response.get_json()["error"] == code and response.get_json()["message"]


# --- What a hostile page can send -------------------------------------------------------------------

FORM_POSTS = {  # what <form method=post enctype=...> sends; the text/plain one can carry a JSON-looking body
    "urlencoded": ("application/x-www-form-urlencoded", b"amount_cents=100"),
    "multipart": ("multipart/form-data; boundary=X", b'--X\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--X--\r\n'),
    "text/plain": ("text/plain", b'{"amount_cents": 100, "x": "="}'),
}


@pytest.mark.parametrize("method, path, body", CHANGES, ids=[f"{m} {p}" for m, p, _ in CHANGES])
@pytest.mark.parametrize("form", FORM_POSTS)
@pytest.mark.parametrize("origin", [EVIL, None], ids=["with Origin", "Origin stripped"])
def test_a_form_post_from_another_site_is_refused(bank, method, path, body, form, origin):
    content_type, form_body = FORM_POSTS[form]
    before = state(bank)
    headers = {"Host": BANK, "Content-Type": content_type}
    if origin:
        headers |= {"Origin": origin, "Sec-Fetch-Site": "cross-site"}

    response = send(bank, "POST", path, form_body, headers)

    assert response.status_code in (403, 405, 415), response.get_data(as_text=True)
    assert response.get_json()["message"]
    assert state(bank) == before


@pytest.mark.parametrize("method, path, body", CHANGES, ids=[f"{m} {p}" for m, p, _ in CHANGES])
@pytest.mark.parametrize("headers, status, code", [
    # fetch(url, {method: "POST", mode: "no-cors", body: "..."}): a string body is text/plain
    ({"Origin": EVIL, "Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain;charset=UTF-8"}, 403,
     "cross_site_request"),
    # ... and a Blob body has no Content-Type at all
    ({"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}, 403, "cross_site_request"),
    ({"Content-Type": "text/plain;charset=UTF-8"}, 415, "json_required"),  # a browser that sent no Origin
    # sandboxed iframes, data: and file: pages send Origin: null
    ({"Origin": "null", "Content-Type": "application/json"}, 403, "cross_site_request"),
    ({"Origin": "null"}, 403, "cross_site_request"),
    # the browser tells the truth even where an Origin is missing
    ({"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}, 403, "cross_site_request"),
    ({"Sec-Fetch-Site": "same-site", "Content-Type": "application/json"}, 403, "cross_site_request"),
    # another program's page on this machine (JupyterLab, a dev server) is another origin
    ({"Origin": "http://localhost:8888", "Content-Type": "application/json"}, 403, "cross_site_request"),
    ({"Origin": "http://127.0.0.1:8078", "Content-Type": "application/json"}, 403, "cross_site_request"),
    ({"Origin": "http://localhost:8077", "Content-Type": "application/json"}, 403, "cross_site_request"),
    ({"Origin": "http://127.0.0.1.evil.example:8077", "Content-Type": "application/json"}, 403, "cross_site_request"),
    ({"Origin": "garbage", "Content-Type": "application/json"}, 403, "cross_site_request"),
    # DNS rebinding: evil.example now resolves to 127.0.0.1, so the page is "same-origin" with itself
    ({"Host": "evil.example:8077", "Origin": "http://evil.example:8077", "Sec-Fetch-Site": "same-origin",
      "Content-Type": "application/json"}, 421, "unknown_host"),
    ({"Host": "evil.example:8077", "Content-Type": "application/json"}, 421, "unknown_host"),
    ({"Host": "localhost.evil.example:8077", "Content-Type": "application/json"}, 421, "unknown_host"),
    ({"Host": "user@127.0.0.1:8077", "Content-Type": "application/json"}, 421, "unknown_host"),
    ({"Host": "", "Content-Type": "application/json"}, 421, "unknown_host"),
])
def test_what_a_hostile_page_can_send_is_refused_and_changes_nothing(bank, method, path, body, headers, status, code):
    before = state(bank)
    sent = {"Host": BANK, **headers}

    response = send(bank, method, path, body, sent)

    refused(response, status, code)
    assert "Access-Control-Allow-Origin" not in response.headers
    assert state(bank) == before
    assert bank.get("/admin/stats").get_json()["rejected"] >= 1


def test_a_preflight_is_never_granted(bank):
    response = bank.options("/admin/reset", headers={"Origin": EVIL, "Access-Control-Request-Method": "POST",
                                                     "Access-Control-Request-Headers": "content-type"})
    assert not [name for name in response.headers.keys() if name.lower().startswith("access-control-")]


def test_reads_answer_anyone_but_give_other_sites_no_cors_access(bank):
    response = bank.get("/accounts", headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("method, path, body", CHANGES, ids=[f"{m} {p}" for m, p, _ in CHANGES])
@pytest.mark.parametrize("host", [BANK, "localhost:8077", "[::1]:8077", "127.0.0.1", "localhost"])
def test_the_dashboards_own_requests_are_accepted(bank, method, path, body, host):
    headers = {"Host": host, "Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin",
               "Content-Type": "application/json"}
    response = send(bank, method, path, body, headers)
    assert response.status_code in (200, 201), response.get_data(as_text=True)


@pytest.mark.parametrize("method, path, body", CHANGES, ids=[f"{m} {p}" for m, p, _ in CHANGES])
@pytest.mark.parametrize("headers", [
    {},  # curl -X POST, httpx without a body: no Content-Type, no Origin
    {"Content-Type": "application/json"},
    {"Content-Type": "application/json; charset=utf-8"},
    {"Content-Type": "application/merge-patch+json"},
    {"Sec-Fetch-Site": "none"},  # typed into the address bar (only a GET can be, but it is not cross-site)
], ids=["bare", "json", "json charset", "+json", "Sec-Fetch-Site none"])
def test_programs_keep_working_without_an_origin(bank, method, path, body, headers):
    if body and "Content-Type" not in headers:
        headers = {**headers, "Content-Type": "application/json"}
    response = send(bank, method, path, body, {"Host": BANK, **headers})
    assert response.status_code in (200, 201), response.get_data(as_text=True)


def test_a_body_without_a_content_type_is_refused(bank):
    refused(send(bank, *WITHDRAW, {"Host": BANK}), 415, "json_required")
    refused(send(bank, "PUT", "/admin/faults", b'{"down": true}', {"Host": BANK}), 415, "json_required")
    assert bank.get("/admin/faults").get_json()["down"] is False


def test_reset_with_no_body_works_as_before(bank):
    response = bank.post("/admin/reset")
    assert response.status_code == 200 and response.get_json()["status"] == "reset"


def test_a_host_name_given_to_the_bank_is_accepted(tmp_path):
    client = create_app(tmp_path / "accounts.db", {"Classroom.Example."}).test_client()
    headers = {"Host": "classroom.example:8077", "Origin": "http://classroom.example:8077",
               "Content-Type": "application/json"}
    assert send(client, *WITHDRAW, headers).status_code == 200
    refused(send(client, *WITHDRAW, {**headers, "Host": "other.example:8077"}), 421, "unknown_host")


def test_names_off_loopback_are_the_machines_own():
    assert machine_names("127.0.0.1") == frozenset() and machine_names("localhost") == frozenset()
    names = machine_names("0.0.0.0")
    assert socket.gethostname().lower() in names and "0.0.0.0" not in names


# --- Admin changes: this machine, or the token ------------------------------------------------------

ADMIN_CHANGES = [change for change in CHANGES if change[1].startswith("/admin/")]
JSON_HEADERS = {"Host": "192.0.2.1:8077", "Content-Type": "application/json"}
REMOTE = "192.0.2.10"


@pytest.mark.parametrize("method, path, body", ADMIN_CHANGES, ids=[f"{m} {p}" for m, p, _ in ADMIN_CHANGES])
def test_admin_changes_from_another_machine_need_a_token_the_bank_has(bank, monkeypatch, method, path, body):
    before = state(bank)

    refused(send(bank, method, path, body, JSON_HEADERS, remote=REMOTE), 403, "admin_from_loopback_only")
    refused(send(bank, method, path, body, {**JSON_HEADERS, "Authorization": f"Bearer {TOKEN}"}, remote=REMOTE),
            401, "admin_token_required")
    monkeypatch.setenv("WORKSHOP_ADMIN_TOKEN", TOKEN)
    refused(send(bank, method, path, body, JSON_HEADERS, remote=REMOTE), 401, "admin_token_required")
    for wrong in (f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN, "Bearer", "Bearer \u00e9"):
        response = send(bank, method, path, body, {**JSON_HEADERS, "Authorization": wrong}, remote=REMOTE)
        refused(response, 401, "admin_token_required")
        assert TOKEN not in response.get_data(as_text=True)  # never echoed

    assert state(bank) == before
    ok = send(bank, method, path, body, {**JSON_HEADERS, "Authorization": f"Bearer {TOKEN}"}, remote=REMOTE)
    assert ok.status_code == 200, ok.get_data(as_text=True)


def test_a_wrong_token_is_refused_from_this_machine_too(bank, monkeypatch):
    monkeypatch.setenv("WORKSHOP_ADMIN_TOKEN", TOKEN)
    refused(send(bank, "POST", "/admin/reset", b"", {"Host": BANK, "Authorization": "Bearer nope"}), 401,
            "admin_token_required")
    assert send(bank, "POST", "/admin/reset", b"", {"Host": BANK}).status_code == 200


def test_another_machine_reads_the_admin_state_and_moves_money_without_a_token(bank):
    assert bank.get("/admin/overview", environ_base={"REMOTE_ADDR": REMOTE}).status_code == 200
    assert bank.get("/admin/faults", environ_base={"REMOTE_ADDR": REMOTE}).status_code == 200
    assert send(bank, *WITHDRAW, JSON_HEADERS, remote=REMOTE).status_code == 200


def test_a_cross_site_request_is_refused_even_with_the_token(bank, monkeypatch):
    monkeypatch.setenv("WORKSHOP_ADMIN_TOKEN", TOKEN)
    headers = {**JSON_HEADERS, "Authorization": f"Bearer {TOKEN}", "Origin": EVIL}
    refused(send(bank, "POST", "/admin/reset", b"", headers, remote=REMOTE), 403, "cross_site_request")


def test_the_dashboard_cannot_be_framed_and_runs_only_its_own_script(bank):
    response = bank.get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and response.headers["X-Frame-Options"] == "DENY"
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert response.get_data(as_text=True).count(f'nonce="{nonce}"') == 2  # the style and the script
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- A real process: the HTTP layer's own errors, the warning off loopback ------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("security")
    service = start_account_api(db_file=folder / "accounts.db", log_path=folder / "account_api.log")
    yield service
    service.stop()


def raw_exchange(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


LONG = "x" * 70_000


@pytest.mark.parametrize("request_bytes, status", [
    pytest.param(b"GARBAGE\r\n\r\n", 400, id="one word"),
    pytest.param(b"GET / HTTP/1.1 extra words\r\n\r\n", 400, id="too many words"),
    pytest.param(b"GET / HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n", 505, id="unknown HTTP version"),
    pytest.param(b"GET / HTTP/one\r\n\r\n", 400, id="malformed version"),
    pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)) + b"\r\n\r\n", 400,
                 id="TLS handshake on the plain port"),
    pytest.param(f"GET /{LONG} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode(), 414, id="URL too long"),
    pytest.param(f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: {LONG}\r\n\r\n".encode(), 431, id="header too long"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(150)) + b"\r\n",
                 431, id="too many headers"),
])
def test_errors_of_the_http_layer_are_json(server, request_bytes, status):
    answered, headers, body = raw_exchange(server.url, request_bytes)

    assert answered == status, body
    assert headers["content-type"] == "application/json"
    error = json.loads(body)
    assert set(error) == {"error", "message"} and error["error"] and error["message"]


@pytest.mark.parametrize("request_bytes, statuses", [
    pytest.param(b"BREW /accounts HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", {405}, id="unknown method"),
    pytest.param(b"POST /admin/reset HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n", {200, 400},
                 id="unreadable Content-Length"),
    pytest.param(b"POST /accounts/alice/withdraw HTTP/1.1\r\nHost: 127.0.0.1\r\nIdempotency-Key: c\r\n"
                 b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", {400},
                 id="broken chunked body"),
    pytest.param(b"GET /%ff%fe%00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", {404}, id="bytes that are not UTF-8"),
])
def test_odd_requests_are_answered_in_json(server, request_bytes, statuses):
    answered, headers, body = raw_exchange(server.url, request_bytes)
    assert answered in statuses, body
    assert headers["content-type"] == "application/json"
    assert answered < 400 or json.loads(body)["message"]


def non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_off_loopback_the_bank_warns_hides_the_token_and_guards_admin(tmp_path):
    port = servers.free_port()
    env = {**servers.local_env(), "WORKSHOP_ADMIN_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, str(ROOT / "account_api.py"), "--host", "0.0.0.0", "--port", str(port),
                                "--db", str(tmp_path / "accounts.db")], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert process.stdout is not None
        printed = [process.stdout.readline(), process.stdout.readline()]
        warning = next(line for line in printed if line.startswith("Warning:"))
        assert "0.0.0.0" in warning and "other machines" in warning and "WORKSHOP_ADMIN_TOKEN" in warning
        address = non_loopback_address()
        if address is None:
            pytest.skip("this machine has no address besides loopback")
        with httpx.Client(base_url=f"http://{address}:{port}", timeout=10) as remote:
            refused_reset = remote.post("/admin/reset")
            assert refused_reset.status_code == 401, refused_reset.text
            assert remote.post("/admin/reset", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
            assert remote.post("/accounts/bob/deposit", json={"amount_cents": 1},
                               headers={"Idempotency-Key": "from-the-room"}).status_code == 200
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as local:
            assert local.post("/admin/reset").status_code == 200
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert TOKEN not in "".join(printed) + output
