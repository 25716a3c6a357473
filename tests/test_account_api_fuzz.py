"""The account API under bad input, every answer checked against its OpenAPI description.

Hypothesis sends every endpoint malformed bodies, wrong types, oversized values, every kind of unicode a
JSON string can carry (lone surrogates escaped in JSON, NUL, right-to-left marks), huge and tiny numbers,
wrong methods, odd paths and headers. Whatever it sends:

- no answer is a 5xx, but the documented ones (a carrier that is switched off, the glitchy item's lost
  answer); the fuzzer never turns the fault modes on for the request it judges;
- every error is JSON, {"error": code, "message": text}, with a status and a code that GET /openapi.json
  documents for that operation, and every success matches the documented schema;
- a refused request changes nothing: balances, the ledger, the fault settings, every table the same.

The examples are fixed (derandomize) and few enough that the file runs in seconds; the requests go to the
Flask app in-process, on its own database (tests/test_account_api_security.py sends raw bytes to a process).
"""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import HTTPException

from account_api import GLITCHY_SKU, MAX_AMOUNT_CENTS, create_app, openapi_description

# Fixed examples (derandomize: the same every run, so CI never fails on a new draw), sized so that the whole file
# runs in about ten seconds. To explore further, set derandomize=False and raise max_examples for a run.
FUZZ = settings(max_examples=600, derandomize=True, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FOCUSED = settings(FUZZ, max_examples=200)
SPEC = openapi_description()
NO_FAULTS = {"error_rate": 0, "lost_response_rate": 0, "delay_ms": 0, "down": False, "seed": None}
# The 5xx answers that are part of the contract even with every fault mode off.
DOCUMENTED_5XX = {(503, "carrier_unavailable"), (504, "response_lost")}


@dataclass
class Bank:
    client: FlaskClient
    watcher: sqlite3.Connection  # a connection of the test's own to the bank's database
    known: dict[str, str]  # path parameter -> an ID that exists

    def state(self) -> tuple[int, dict]:
        """What a request could change: the database (SQLite's data_version changes whenever another
        connection commits anything, to any table) and the fault settings."""
        version = self.watcher.execute("PRAGMA data_version").fetchone()[0]
        return version, self.client.get("/admin/faults").get_json()


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bank]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("WORKSHOP_ADMIN_TOKEN", raising=False)
        db_path = tmp_path_factory.mktemp("fuzz") / "accounts.db"
        client = create_app(db_path).test_client()
        json_headers = {"Content-Type": "application/json"}

        def create(path: str, body: dict, key: str) -> dict:
            response = client.post(path, data=json.dumps(body), headers={**json_headers, "Idempotency-Key": key})
            assert response.status_code == 201, response.get_data(as_text=True)
            return response.get_json()

        hold = create("/accounts/alice/holds", {"amount_cents": 100}, "fuzz-hold")
        approval = create("/approvals", {"transfer_id": "T", "from_account": "alice", "to_account": "bob",
                                         "amount_cents": 1}, "fuzz-approval")
        # A lamp, the glitchy item: the first release the fuzzer sends is applied and answered 504 response_lost.
        reservation = create("/inventory/reservations", {"order_id": "O", "items": [{"sku": GLITCHY_SKU, "quantity": 1}]},
                             "fuzz-reservation")
        shipment = create("/shipments", {"order_id": "O", "carrier": "parcelpost", "address": "1 Main St"},
                          "fuzz-shipment")
        known = {"account_id": "alice", "hold_id": hold["hold_id"], "approval_id": approval["approval_id"],
                 "reservation_id": reservation["reservation_id"], "shipment_id": shipment["shipment_id"],
                 "name": "parcelpost"}
        with closing(sqlite3.connect(db_path)) as watcher:
            yield Bank(client, watcher, known)


# --------------------------------------------------------------------------- what the fuzzer sends

OPERATIONS = sorted((path, method.upper()) for path, item in SPEC["paths"].items() for method in item
                    if method != "parameters")
CHANGES = [(path, method) for path, method in OPERATIONS if method in ("POST", "PUT")]
# Strings that have broken services before: NUL, lone surrogates, direction marks, a BOM, a combining accent,
# astral characters, markup, SQL, and lengths just over the limits.
NASTY_TEXT = ["", " ", "\x00", "a\x00b", "\ud800", "\udfff", "x\udbff", "\u202eevil", "\u200f\u200e", "\ufeff",
              "e\u0301", "\U0001f4b8", "\u0000\u001f\u007f", "</script><script>alert(1)</script>",
              "'; DROP TABLE accounts; --", "\\", "%00", "../../etc/passwd", "x" * 201, "y" * 501, "\n\r\t", "null"]
# Numbers as JSON text, so that what json.loads makes of them is what is tested: 1e400 is infinity, -0 an int
# 0, 1e-400 a float 0.0; 2**63 does not fit SQLite's INTEGER; 4400 digits are refused by json.loads itself.
NASTY_NUMBERS = ["0", "-0", "-0.0", "0.0", "1", "-1", "1e400", "-1e400", "1e-400", "1.5", "100.0", "1e2", "NaN",
                 "Infinity", "-Infinity", str(2**63), str(2**63 - 1), str(2**64), str(-(2**63) - 1),
                 str(MAX_AMOUNT_CENTS), str(MAX_AMOUNT_CENTS + 1), "1" + "0" * 4400, "true", "false", "null",
                 '"100"', "[]", "{}", "[1]", '{"amount_cents": 1}', "[" * 100 + "]" * 100]

surrogates = st.characters(categories=["Cs"])
any_character = st.characters(exclude_categories=()) | surrogates | st.sampled_from("\x00\u202e\u200f\ufeff\x7f")
fuzz_text = st.sampled_from(NASTY_TEXT) | st.text(any_character, max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | fuzz_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(fuzz_text, inner, max_size=4),
    max_leaves=12,
)
json_fragments = st.sampled_from(NASTY_NUMBERS) | json_values.flatmap(
    lambda value: st.sampled_from([json.dumps(value), json.dumps(value, ensure_ascii=False)]))


def good_value(name: str) -> str:
    """A JSON fragment the bank accepts for a field of this name (so that other fields are what fails)."""
    return {"amount_cents": "1", "balance_cents": "100", "quantity": "1", "approved": "true", "available": "true",
            "items": '[{"sku": "widget", "quantity": 1}]', "carrier": '"parcelpost"', "from_account": '"alice"',
            "to_account": '"bob"', "error_rate": "0", "lost_response_rate": "0", "delay_ms": "0", "down": "false",
            "seed": "null", "id": '"fuzzed"', "task_token": '"dG9rZW4="'}.get(name, '"fuzz"')


def request_fields(path: str, method: str) -> list[str]:
    body = SPEC["paths"][path][method.lower()].get("requestBody")
    if body is None:
        return []
    name = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    return list(SPEC["components"]["schemas"][name]["properties"])


@st.composite
def json_bodies(draw: st.DrawFn, fields: list[str]) -> bytes:
    """An object of the operation's fields, each good, fuzzed or left out, perhaps with others added."""
    parts = []
    for name in fields:
        choice = draw(st.sampled_from(["good", "good", "fuzz", "missing"]))
        if choice != "missing":
            parts.append((name, good_value(name) if choice == "good" else draw(json_fragments)))
    parts += draw(st.lists(st.tuples(fuzz_text, json_fragments), max_size=2))
    text = "{" + ", ".join(f"{json.dumps(name)}: {fragment}" for name, fragment in parts) + "}"
    if draw(st.booleans()) and _loads(text):  # every character beyond ASCII escaped, lone surrogates as \ud800
        return json.dumps(json.loads(text)).encode()
    return text.encode("utf-8", "surrogatepass")  # as written: a lone surrogate becomes bytes that are not UTF-8


def _loads(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def bodies(fields: list[str]) -> st.SearchStrategy[bytes]:
    return st.one_of(json_bodies(fields), st.just(b""), st.binary(max_size=64), json_fragments.map(lambda text: text.encode("utf-8", "surrogatepass")),
                     st.just(b"{" * 5000), st.just(b'{"amount_cents": ' + b"1" * 70_000 + b"}"))


path_segments = st.one_of(st.sampled_from(["alice", "nobody", "", "..", "%00", "%ff%fe", "a%2Fb", "%ED%A0%80"]),
                          st.text(any_character, min_size=1, max_size=20).map(
                              lambda text: quote(text.encode("utf-8", "surrogatepass"), safe="")))
header_values = st.sampled_from(["", " ", "x" * 300, "\u00e9t\u00e9", "\t", "null", "http://[", "[::1",
                                 "http://evil.example", "same-origin", "cross-site", "Bearer nope"])


@dataclass(frozen=True)
class Request:
    method: str
    template: str  # the documented path it was made from
    params: dict[str, str | None]  # a path parameter's segment; None: an ID that exists
    query: str
    body: bytes
    headers: dict[str, str]  # Idempotency-Key "unique" and "reused" are filled in when it is sent

    def url(self, known: dict[str, str]) -> str:
        path = re.sub(r"{(\w+)}", lambda match: self.params[match[1]] or known[match[1]], self.template)
        return f"{path}?{self.query}" if self.query else path


@st.composite
def requests(draw: st.DrawFn, operations: list[tuple[str, str]] = OPERATIONS) -> Request:
    template, method = draw(st.sampled_from(operations))
    if draw(st.integers(0, 9)) == 0:
        method = draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]))
    params = {name: draw(st.none() | st.none() | path_segments) for name in re.findall(r"{(\w+)}", template)}
    query = draw(st.sampled_from(["", "", "", "limit=", "limit=0", "limit=1001", "limit=%D9%A3", "limit=-1",
                                  "limit=1e3", "status=active", "status=%00", "limit=5&limit=x", "status=" + "s" * 300]))
    headers = {"Content-Type": draw(st.sampled_from(["application/json"] * 6 + [
        "application/json; charset=utf-8", "application/merge-patch+json", "text/plain", "", "application/xml",
        "application/json; charset=utf-16", "multipart/form-data; boundary=x"]))}
    key = draw(st.one_of(st.just("unique"), st.just("reused"), st.none(), header_values))
    if key is not None:
        headers["Idempotency-Key"] = key
    for name in draw(st.sets(st.sampled_from(["Origin", "Host", "Sec-Fetch-Site", "Authorization"]), max_size=2)):
        headers[name] = draw(header_values)
    fields = request_fields(template, method) if method in ("POST", "PUT") and documented(template, method) else []
    return Request(method, template, params, query, draw(bodies(fields)), headers)


# --------------------------------------------------------------------------- what every answer must be


VALIDATORS: dict[tuple[str, str, str], jsonschema.Draft202012Validator | None] = {}


def validator(template: str, method: str, status: str) -> jsonschema.Draft202012Validator | None:
    if (template, method, status) not in VALIDATORS:
        answer = SPEC["paths"][template][method.lower()]["responses"].get(status)
        content = (answer or {}).get("content", {}).get("application/json")
        VALIDATORS[(template, method, status)] = jsonschema.Draft202012Validator(
            {**content["schema"], "components": SPEC["components"]}) if content else None
    return VALIDATORS[(template, method, status)]


def template_of(rule: str, args: Mapping[str, Any]) -> str:
    """/accounts/{account_id}/withdraw for the rule /accounts/<account_id>/<any(withdraw, deposit):kind>."""
    return re.sub(r"<(?:any\([^)]*\):)?(\w+)>", lambda m: args[m[1]] if m[0].startswith("<any(") else f"{{{m[1]}}}",
                  rule)


def routed_to(bank: Bank, path: str, method: str) -> str | None:
    """The documented path template that the app's routing chose for this request, or None."""
    try:
        rule, args = bank.client.application.url_map.bind("localhost").match(path, method, return_rule=True)
    except HTTPException:
        return None
    return template_of(rule.rule, args)


def documented(template: str, method: str) -> bool:
    return method.lower() in SPEC["paths"].get(template, {})


KEYS = itertools.count(1)  # fresh Idempotency-Keys for the whole module


def judge(bank: Bank, request: Request) -> int:
    """Send one request, hold its answer and the bank's state to the contract, and return its status."""
    method, body, headers = request.method, request.body, dict(request.headers)
    url = request.url(bank.known)
    if headers.get("Idempotency-Key") == "unique":
        headers["Idempotency-Key"] = f"fuzz-{next(KEYS)}"
    elif headers.get("Idempotency-Key") == "reused":
        headers["Idempotency-Key"] = "fuzz-reused"
    if not headers.get("Content-Type"):
        headers.pop("Content-Type", None)
    before = bank.state()
    response = bank.client.open(url, method=method, data=body, headers=headers)
    after = bank.state()
    if after[1] != NO_FAULTS:  # a fault mode the fuzzer switched on must not judge the next request
        bank.client.put("/admin/faults", json=NO_FAULTS)
    status = response.status_code
    shown = f"{method} {url} {headers} {body[:300]!r} -> {status} {response.get_data()[:300]!r}"
    answer = response.get_json(silent=True) if method != "HEAD" else None
    error = answer.get("error") if isinstance(answer, dict) else None
    assert status < 500 or (status, error) in DOCUMENTED_5XX, shown
    if error == "response_lost":  # with the fault modes off, only the glitchy item's first release loses its answer
        assert re.fullmatch(r"/inventory/reservations/[^/]+/release", response.request.path), shown
    if status >= 400 and method != "HEAD":
        assert response.mimetype == "application/json", shown
        assert isinstance(answer, dict) and set(answer) == {"error", "message"}, shown
        assert isinstance(error, str) and error and isinstance(answer["message"], str) and answer["message"], shown
    if status >= 400 and error != "response_lost":
        assert after == before, f"a refused request changed the bank: {shown}"
    if method in ("HEAD", "OPTIONS"):
        return status
    operation = routed_to(bank, response.request.path, method)
    if operation is not None:
        assert str(status) in SPEC["paths"][operation][method.lower()]["responses"], f"undocumented status: {shown}"
        schema = validator(operation, method, str(status))
        if schema is not None:
            problems = [problem.message for problem in schema.iter_errors(answer)]
            assert not problems, f"answer does not match /openapi.json ({problems[:3]}): {shown}"
    elif status >= 400:  # a path or method that is not described: refused before or by the routing
        assert error in ("not_found", "method_not_allowed", "cross_site_request", "json_required", "unknown_host",
                         "request_entity_too_large", "admin_from_loopback_only", "admin_token_required",
                         "service_unavailable", "bad_request"), shown
    return status


@FUZZ
@given(request=requests())
def test_no_request_breaks_the_bank(bank, request):
    judge(bank, request)


# --------------------------------------------------------------------------- money and text, precisely

MONEY = [("/accounts/{account_id}/withdraw", "amount_cents"), ("/accounts/{account_id}/deposit", "amount_cents"),
         ("/accounts/{account_id}/holds", "amount_cents"), ("/approvals", "amount_cents"),
         ("/admin/accounts", "balance_cents")]
amount_literals = st.one_of(st.sampled_from(NASTY_NUMBERS), st.integers(-(2**70), 2**70).map(str),
                            st.integers(1, 1000).map(str), st.floats(allow_nan=True).map(repr).map(
                                lambda text: {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}.get(text, text)))


def is_accepted_amount(literal: str, lowest: int) -> bool:
    try:
        value = json.loads(literal)
    except (ValueError, RecursionError):
        return False
    return type(value) is int and lowest <= value <= MAX_AMOUNT_CENTS


@FOCUSED
@given(operation=st.sampled_from(MONEY), literal=amount_literals)
def test_an_amount_is_accepted_only_as_whole_cents_in_range(bank, operation, literal):
    template, field_name = operation
    fields = {name: good_value(name) for name in request_fields(template, "POST")}
    fields[field_name] = literal
    if template == "/admin/accounts":
        fields["id"] = json.dumps(f"opened-{next(KEYS)}")
    body = ("{" + ", ".join(f'"{name}": {value}' for name, value in fields.items()) + "}").encode()
    request = Request("POST", template, {"account_id": None}, "", body,
                      {"Content-Type": "application/json", "Idempotency-Key": "unique"})
    status = judge(bank, request)
    lowest = 0 if field_name == "balance_cents" else 1
    if is_accepted_amount(literal, lowest):  # taken as an amount (a withdraw may still find too little money)
        assert status not in (400, 422), f"{template} refused {literal[:60]}: {status}"
    else:
        assert status in (400, 422), f"{template} accepted {literal[:60]} ({status})"


@FOCUSED
@given(text=fuzz_text, escaped=st.booleans())
def test_a_reference_is_stored_exactly_as_sent_or_refused(bank, text, escaped):
    key = f"text-{next(KEYS)}"
    document = json.dumps({"amount_cents": 1, "reference": text}, ensure_ascii=escaped)
    body = document.encode("utf-8", "surrogatepass")
    request = Request("POST", "/accounts/{account_id}/deposit", {"account_id": None}, "", body,
                      {"Content-Type": "application/json", "Idempotency-Key": key})
    status = judge(bank, request)
    storable = len(text) <= 200 and "\x00" not in text and not re.search("[\ud800-\udfff]", text)
    assert (status == 200) == storable, f"{text!r}: {status}"
    if storable:
        [entry] = [e for e in bank.client.get("/ledger?limit=5").get_json()["entries"] if e["idempotency_key"] == key]
        assert entry["reference"] == text, "the ledger gives back exactly the text that was sent"


# --------------------------------------------------------------------------- a fixed corpus, every endpoint

BAD_NUMBERS = ["1e400", "-0", "-0.0", str(2**63), "1.5", "100.0", "NaN", '"100"', "true", "null", "1e-400"]
BAD_TEXT = ["\\ud800", "\\udfff", "\\u0000", "\\u202e\\u200f", "x" * 201, "\\ufeff\\u0000"]  # as JSON escapes
BAD_BODIES = [b"", b"[]", b"null", b'"text"', b"{", b"\xff\xfe{}", b'{"a": 1}' * 3, b"{" * 3000 + b"}" * 3000,
              b'{"amount_cents": 1, "reference": "' + b"x" * 70_000 + b'"}']


def corpus_requests() -> Iterator[Request]:
    """Each change with each field set to each bad number and each bad text, and each bad body."""
    for template, method in CHANGES:
        params = dict.fromkeys(re.findall(r"{(\w+)}", template))
        fields = request_fields(template, method)
        headers = {"Content-Type": "application/json", "Idempotency-Key": "unique"}
        for name in fields:
            for bad in [*BAD_NUMBERS, *(f'"{text}"' for text in BAD_TEXT)]:
                good = {other: good_value(other) for other in fields}
                good[name] = bad
                body = ("{" + ", ".join(f'"{field}": {value}' for field, value in good.items()) + "}").encode()
                yield Request(method, template, params, "", body, headers)
        for body in BAD_BODIES:
            yield Request(method, template, params, "", body, headers)


def test_every_change_refuses_bad_numbers_text_and_bodies_cleanly(bank):
    sent = 0
    for request in corpus_requests():
        judge(bank, request)
        sent += 1
    assert sent > 300


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_every_path_answers_a_wrong_method_in_json(bank, method):
    for template in SPEC["paths"]:
        params = dict.fromkeys(re.findall(r"{(\w+)}", template))
        request = Request(method, template, params, "", b"", {"Idempotency-Key": "unique"})
        status = judge(bank, request)
        if not documented(template, method):
            assert status == 405, f"{method} {template}: {status}"


ODD_PATHS = ["/accounts/", "//accounts", "/accounts/alice/", "/ACCOUNTS", "/accounts/%00", "/accounts/alice/withdraw/x",
             "/%2e%2e/%2e%2e/etc/passwd", "/accounts/alice%2Fwithdraw", "/openapi.json/", "/admin", "/admin/",
             "/accounts/" + "a" * 5000, "/accounts/%F0%9F%92%B8", "/accounts/%ED%A0%80/ledger", "/ledger;x=1",
             "/accounts?limit=10", "/holds/%20", "/inventory/reservations/..%2F..%2Fadmin%2Freset/release"]
ODD_HEADERS = [{"Content-Type": "application/json; charset=utf-16"}, {"Content-Type": "application/json;;;"},
               {"Content-Type": "*/*"}, {"Content-Type": "application/json", "Content-Encoding": "gzip"},
               {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
               {"Content-Type": "application/json", "Idempotency-Key": "k" * 200},
               {"Content-Type": "application/json", "Idempotency-Key": "\u00e9\u00e8 k\u00e9y"},
               {"Content-Type": "application/json", "Host": "127.0.0.1:99999"},
               {"Content-Type": "application/json", "Host": "[::1]"}, {"Content-Type": "application/json", "Host": "["},
               {"Content-Type": "application/json", "Origin": "http://127.0.0.1:8077/path"},
               {"Content-Type": "application/json", "Authorization": "Bearer \u00e9"}]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_odd_paths_and_headers_are_answered_in_json(bank, method):
    for path in ODD_PATHS:
        judge(bank, Request(method, path, {}, "", b'{"amount_cents": 1}', {"Content-Type": "application/json"}))
    for headers in ODD_HEADERS:
        request = Request(method, "/accounts/{account_id}/deposit", {"account_id": None}, "", b'{"amount_cents": 1}',
                          {"Idempotency-Key": "unique", **headers})
        judge(bank, request)


# --------------------------------------------------------------------------- bugs the fuzzer found


@pytest.mark.parametrize("origin", ["http://[", "http://[::1", "https://[zz]", "http://[::1]:99999"])
def test_an_origin_that_is_not_a_url_is_refused_not_a_crash(bank, origin):
    """Found by the fuzzer: urlsplit raises ValueError for an IPv6 bracket that is never closed, and the bank
    answered 500 to any change with such an Origin header."""
    request = Request("POST", "/accounts/{account_id}/deposit", {"account_id": None}, "", b'{"amount_cents": 1}',
                      {"Content-Type": "application/json", "Idempotency-Key": "unique", "Origin": origin})
    assert judge(bank, request) == 403


def test_a_trailing_or_doubled_slash_gets_an_answer_in_json_not_a_redirect(bank):
    """Found by the fuzzer: Werkzeug answered /accounts/ and //accounts with a 308 redirect, an HTML page (the
    only answer besides the dashboard that was not JSON), which a client follows by sending a change again."""
    client = bank.client
    assert client.get("/accounts/").status_code == 200 and client.get("/accounts/").is_json
    deposit = client.post("/accounts/bob/deposit/", json={"amount_cents": 1}, headers={"Idempotency-Key": "slash"})
    assert deposit.status_code == 200 and deposit.get_json()["account"] == "bob"
    doubled = client.get("/accounts//alice")
    assert doubled.status_code == 404 and doubled.is_json and doubled.get_json()["error"] == "not_found"
