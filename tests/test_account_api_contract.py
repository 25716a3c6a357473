"""The bank's contract: GET /openapi.json describes exactly the app's routes and every error code it can
answer, docs/account_api.md tells learners the same, and the endpoint that opens accounts (for the chaos run
and for instructors) keeps the bank's conventions. The fuzzer (test_account_api_fuzz.py) checks answers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from flask.testing import FlaskClient

import account_api
from account_api import MAX_AMOUNT_CENTS, create_app, openapi_description
from workshop.paths import ROOT

SPEC = openapi_description()
SOURCE = (ROOT / "account_api.py").read_text(encoding="utf-8")
CONTRACT = (ROOT / "docs" / "account_api.md").read_text(encoding="utf-8")


@pytest.fixture
def bank(tmp_path, monkeypatch) -> Iterator[FlaskClient]:
    monkeypatch.delenv("WORKSHOP_ADMIN_TOKEN", raising=False)
    yield create_app(tmp_path / "accounts.db").test_client()


def route_operations() -> set[tuple[str, str]]:
    """(path template, method) of every route of the app, as OpenAPI writes them."""
    found = set()
    for rule in create_app(":memory:").url_map.iter_rules():
        choices = re.search(r"<any\(([^)]*)\):\w+>", rule.rule)
        paths = [rule.rule.replace(choices[0], value.strip()) for value in choices[1].split(",")] if choices else [rule.rule]
        for path in paths:
            template = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)
            found |= {(template, method) for method in rule.methods or () if method not in ("HEAD", "OPTIONS")}
    return found


def described_operations() -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in SPEC["paths"].items() for method in item if method != "parameters"}


def test_every_route_is_described_and_nothing_else():
    routes, described = route_operations(), described_operations()
    assert routes - described == set(), "routes that GET /openapi.json does not describe (add them to openapi_description)"
    assert described - routes == set(), "described operations that the app does not have"


def test_the_description_is_served_and_every_reference_resolves(bank):
    served = bank.get("/openapi.json")
    assert served.status_code == 200 and served.is_json
    assert served.get_json() == json.loads(json.dumps(SPEC))
    assert SPEC["openapi"].startswith("3.1")
    text = json.dumps(SPEC)
    for name in set(re.findall(r'"#/components/schemas/(\w+)"', text)):
        assert name in SPEC["components"]["schemas"], f"$ref to a schema that does not exist: {name}"
    for schema in SPEC["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    for path, item in SPEC["paths"].items():
        named = set(re.findall(r"{(\w+)}", path))
        declared = {parameter["name"] for parameter in item.get("parameters", [])}
        assert named == declared, f"{path}: path parameters {named}, declared {declared}"


def raised_errors() -> set[tuple[int, str]]:
    """Every (status, code) the bank's source raises: ApiError(409, "insufficient_funds", ...)."""
    return {(int(status), code) for status, code in re.findall(r'ApiError\(\s*(\d{3}),\s*"(\w+)"', SOURCE)}


def documented_errors() -> set[tuple[int, str]]:
    found = set()
    for item in SPEC["paths"].values():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status, answer in operation["responses"].items():
                schema = answer["content"].get("application/json", {}).get("schema", {})
                for code in schema.get("properties", {}).get("error", {}).get("enum", []):
                    found.add((int(status), code))
    return found


def test_every_error_the_bank_can_answer_is_documented():
    raised = raised_errors()
    assert len(raised) > 25, "the pattern that finds ApiError(...) in the source no longer matches"
    missing = raised - documented_errors()
    # An ApiError whose status depends on the caller (find_carrier: 404 by name in the URL, 422 in a body).
    missing -= {(status, "unknown_carrier") for status in (404, 422)}
    assert missing == set(), "errors the bank raises that GET /openapi.json does not list for any operation"


def test_the_contract_document_names_every_endpoint_and_error_code():
    for path, item in SPEC["paths"].items():
        for method in item:
            if method != "parameters":
                assert f"{method.upper()} {path}" in CONTRACT, f"docs/account_api.md does not list {method.upper()} {path}"
    for _status, code in documented_errors():
        assert f"`{code}`" in CONTRACT, f"docs/account_api.md does not explain the error code {code}"
    for name in ("error_rate", "lost_response_rate", "delay_ms", "down", "seed", account_api.GLITCHY_SKU,
                 "Idempotency-Key", "/openapi.json"):
        assert name in CONTRACT, f"docs/account_api.md does not mention {name}"


@pytest.mark.parametrize("example, schema", [
    (account_api.EXAMPLE_BODY, "MoneyRequest"), (account_api.EXAMPLE_HOLD, "MoneyRequest"),
    (account_api.EXAMPLE_APPROVAL.replace("<base64>", "dG9rZW4="), "ApprovalRequest"),
    (account_api.EXAMPLE_DECISION, "Decision"), (account_api.EXAMPLE_RESERVATION, "ReservationRequest"),
    (account_api.EXAMPLE_SHIPMENT, "ShipmentRequest"), (account_api.EXAMPLE_CARRIER, "CarrierSwitch"),
    (account_api.EXAMPLE_ACCOUNT, "NewAccount"),
])
def test_the_examples_in_error_messages_match_the_description(example, schema):
    document: dict[str, Any] = {"$ref": f"#/components/schemas/{schema}", "components": SPEC["components"]}
    jsonschema.validate(json.loads(example), document, cls=jsonschema.Draft202012Validator)


# --------------------------------------------------------------------------- opening an account


def open_account(bank: FlaskClient, body: Any, key: str | None = None, **headers: str):
    sent = {"Content-Type": "application/json", **headers, **({"Idempotency-Key": key} if key else {})}
    return bank.post("/admin/accounts", data=json.dumps(body), headers=sent)


def test_an_opened_account_takes_money_like_any_other_until_a_reset(bank):
    opened = open_account(bank, {"id": "erin", "owner": "Erin", "balance_cents": 20_000})
    assert opened.status_code == 201, opened.get_data(as_text=True)
    assert opened.get_json() == {"id": "erin", "owner": "Erin", "balance_cents": 20_000, "held_cents": 0,
                                 "available_cents": 20_000, "replayed": False}
    withdrawn = bank.post("/accounts/erin/withdraw", json={"amount_cents": 500}, headers={"Idempotency-Key": "w"})
    assert withdrawn.get_json()["balance_cents"] == 19_500
    assert "erin" in [account["id"] for account in bank.get("/accounts").get_json()["accounts"]]
    assert bank.get("/admin/overview").get_json()["ledger"][0]["account"] == "erin"

    bank.post("/admin/reset")
    assert bank.get("/accounts/erin").status_code == 404


def test_an_account_is_opened_once_and_a_retry_with_its_key_is_replayed(bank):
    body = {"id": "frank", "owner": "Frank", "balance_cents": 0}
    assert open_account(bank, body, key="open-frank").status_code == 201
    bank.post("/accounts/frank/deposit", json={"amount_cents": 7}, headers={"Idempotency-Key": "d"})
    replayed = open_account(bank, body, key="open-frank")
    assert replayed.status_code == 201 and replayed.get_json()["replayed"] is True
    assert replayed.get_json()["balance_cents"] == 7, "a replay answers with the account as it is now"
    again = open_account(bank, body)
    assert again.status_code == 409 and again.get_json()["error"] == "account_exists"
    reused = open_account(bank, {**body, "owner": "Someone else"}, key="open-frank")
    assert reused.status_code == 422 and reused.get_json()["error"] == "idempotency_key_reused"
    assert bank.get("/accounts/frank").get_json()["balance_cents"] == 7


@pytest.mark.parametrize("body, status, code", [
    ({"owner": "No id"}, 400, "malformed_body"),
    ({"id": "", "owner": "Empty"}, 400, "malformed_body"),
    ({"id": "a/b", "owner": "Slash"}, 400, "malformed_body"),
    ({"id": "-x", "owner": "Dash first"}, 400, "malformed_body"),
    ({"id": "x" * 41, "owner": "Long"}, 400, "malformed_body"),
    ({"id": "caf\u00e9", "owner": "Accent"}, 400, "malformed_body"),
    ({"id": "ok"}, 400, "malformed_body"),
    ({"id": "ok", "owner": "\u0000"}, 400, "malformed_body"),
    ({"id": "ok", "owner": "Ok", "balance_cents": -1}, 422, "invalid_amount"),
    ({"id": "ok", "owner": "Ok", "balance_cents": 1.5}, 422, "invalid_amount"),
    ({"id": "ok", "owner": "Ok", "balance_cents": MAX_AMOUNT_CENTS + 1}, 422, "invalid_amount"),
    ({"id": "ok", "owner": "Ok", "balance_cents": True}, 422, "invalid_amount"),
    ({"id": "alice", "owner": "Alice again"}, 409, "account_exists"),
])
def test_a_bad_account_is_refused_and_opens_nothing(bank, body, status, code):
    before = bank.get("/accounts").get_json()
    refused = open_account(bank, body)
    assert refused.status_code == status and refused.get_json()["error"] == code, refused.get_data(as_text=True)
    assert bank.get("/accounts").get_json() == before


def test_opening_an_account_is_an_admin_change(bank, monkeypatch):
    body = {"id": "mallory", "owner": "Mallory", "balance_cents": MAX_AMOUNT_CENTS}
    from_afar = bank.post("/admin/accounts", data=json.dumps(body), headers={"Content-Type": "application/json"},
                          environ_base={"REMOTE_ADDR": "192.0.2.10"})
    assert from_afar.status_code == 403 and from_afar.get_json()["error"] == "admin_from_loopback_only"
    cross_site = open_account(bank, body, Origin="http://evil.example")
    assert cross_site.status_code == 403 and cross_site.get_json()["error"] == "cross_site_request"
    assert bank.get("/accounts/mallory").status_code == 404


# --------------------------------------------------------------------------- a damaged database


def test_a_damaged_database_is_named_in_one_line_without_a_traceback(tmp_path):
    damaged = tmp_path / "accounts.db"
    damaged.write_bytes(b"this is not a database " * 200)
    done = subprocess.run([sys.executable, str(ROOT / "account_api.py"), "--db", str(damaged), "--port", "0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {damaged} cannot be used as the bank's database (file is not a database)."
    assert "Traceback" not in done.stdout + done.stderr
