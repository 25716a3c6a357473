"""The account API: money moves exactly once, bad requests change nothing, faults behave as
documented, and every committed transaction survives a crash."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import closing

import httpx
import pytest

from account_api import MAX_AMOUNT_CENTS, SEED_ACCOUNTS, create_app
from workshop.servers import start_account_api

SEED_BALANCES = {account: cents for account, _owner, cents in SEED_ACCOUNTS}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("account_api")
    service = start_account_api(db_file=folder / "accounts.db", log_path=folder / "account_api.log")
    yield service
    service.stop()


@pytest.fixture
def api(server):
    """A client of the module's server, reset to the seed accounts with no faults."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        client.post("/admin/reset").raise_for_status()
        yield client


def move(api, kind: str, account: str, amount_cents, key: str, **extra) -> httpx.Response:
    return api.post(f"/accounts/{account}/{kind}", json={"amount_cents": amount_cents, **extra},
                    headers={"Idempotency-Key": key})


def balances(api) -> dict[str, int]:
    return {a["id"]: a["balance_cents"] for a in api.get("/accounts").json()["accounts"]}


def ledger(api, account: str | None = None) -> list[dict]:
    path = f"/accounts/{account}/ledger" if account else "/ledger"
    response = api.get(path, params={"limit": 1000})
    assert response.status_code == 200, response.text
    return response.json()["entries"]


def snapshot(api) -> tuple[dict, list]:
    return balances(api), ledger(api)


def set_faults(api, **faults) -> dict:
    response = api.put("/admin/faults", json=faults)
    assert response.status_code == 200, response.text
    return response.json()


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code
    assert body["message"]


# --- Moving money ---------------------------------------------------------------------------------


def test_withdraw_and_deposit_move_balances_and_write_the_ledger(api):
    withdrawn = move(api, "withdraw", "alice", 2_550, "w-1", reference="transfer T-1")
    deposited = move(api, "deposit", "bob", 2_550, "d-1", reference="transfer T-1")

    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json() == {"transaction_id": withdrawn.json()["transaction_id"], "account": "alice",
                                "kind": "withdraw", "amount_cents": 2_550, "balance_cents": 97_450,
                                "idempotency_key": "w-1", "replayed": False}
    assert deposited.json()["balance_cents"] == 52_550
    assert balances(api) == {**SEED_BALANCES, "alice": 97_450, "bob": 52_550}
    [entry] = ledger(api, "alice")
    assert entry["transaction_id"] == withdrawn.json()["transaction_id"]
    assert (entry["kind"], entry["amount_cents"], entry["balance_cents"]) == ("withdraw", 2_550, 97_450)
    assert (entry["reference"], entry["idempotency_key"]) == ("transfer T-1", "w-1")
    assert [e["account"] for e in ledger(api)] == ["bob", "alice"]  # newest first


def test_the_largest_amount_is_accepted(api):
    response = move(api, "deposit", "dave", MAX_AMOUNT_CENTS, "max")
    assert response.status_code == 200, response.text
    assert response.json()["balance_cents"] == SEED_BALANCES["dave"] + MAX_AMOUNT_CENTS


def test_the_same_key_twice_applies_once_and_replays_the_first_result(api):
    first = move(api, "withdraw", "alice", 1_000, "pay-once")
    second = move(api, "withdraw", "alice", 1_000, "pay-once", reference="a retry may say anything here")

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json() == {**first.json(), "replayed": True}
    assert balances(api)["alice"] == SEED_BALANCES["alice"] - 1_000
    assert len(ledger(api, "alice")) == 1
    stats = api.get("/admin/stats").json()
    assert (stats["mutations_applied"], stats["replays"]) == (1, 1)


@pytest.mark.parametrize("kind, account, amount_cents", [
    ("withdraw", "alice", 999),  # another amount
    ("deposit", "alice", 1_000),  # another kind
    ("withdraw", "bob", 1_000),  # another account
])
def test_a_key_reused_for_another_request_is_refused(api, kind, account, amount_cents):
    assert move(api, "withdraw", "alice", 1_000, "used-key").status_code == 200
    before = snapshot(api)

    assert_error(move(api, kind, account, amount_cents, "used-key"), 422, "idempotency_key_reused")
    assert snapshot(api) == before


KEY = {"Idempotency-Key": "bad-request"}
VALID_BODY = b'{"amount_cents": 100}'


def amount(literal: str) -> bytes:
    return b'{"amount_cents": %s}' % literal.encode()


@pytest.mark.parametrize("headers, body, status, code", [
    pytest.param(KEY, b"", 400, "malformed_body", id="no body"),
    pytest.param(KEY, b"amount_cents=100", 400, "malformed_body", id="not JSON"),
    pytest.param(KEY, b"[100]", 400, "malformed_body", id="JSON list"),
    pytest.param(KEY, b"100", 400, "malformed_body", id="JSON number"),
    pytest.param(KEY, b'{"amount": 100}', 400, "malformed_body", id="no amount_cents"),
    pytest.param(KEY, b'{"amount_cents": 100, "reference": 7}', 400, "malformed_body", id="reference not text"),
    pytest.param(KEY, amount("0"), 422, "invalid_amount", id="zero"),
    pytest.param(KEY, amount("-100"), 422, "invalid_amount", id="negative"),
    pytest.param(KEY, amount("1.5"), 422, "invalid_amount", id="fractional"),
    pytest.param(KEY, amount("100.0"), 422, "invalid_amount", id="float though integral"),
    pytest.param(KEY, amount("1e2"), 422, "invalid_amount", id="exponent"),
    pytest.param(KEY, amount('"100"'), 422, "invalid_amount", id="string"),
    pytest.param(KEY, amount("true"), 422, "invalid_amount", id="boolean"),
    pytest.param(KEY, amount("null"), 422, "invalid_amount", id="null"),
    pytest.param(KEY, amount("NaN"), 422, "invalid_amount", id="NaN"),
    pytest.param(KEY, amount("Infinity"), 422, "invalid_amount", id="Infinity"),
    pytest.param(KEY, amount(str(MAX_AMOUNT_CENTS + 1)), 422, "invalid_amount", id="over the maximum"),
    pytest.param(KEY, amount("1" + "0" * 30), 422, "invalid_amount", id="huge"),
    pytest.param({}, VALID_BODY, 428, "missing_idempotency_key", id="no key"),
    pytest.param({"Idempotency-Key": ""}, VALID_BODY, 428, "missing_idempotency_key", id="empty key"),
    pytest.param({"Idempotency-Key": "k" * 201}, VALID_BODY, 400, "malformed_idempotency_key", id="key too long"),
])
def test_a_bad_request_is_refused_and_changes_nothing(api, headers, body, status, code):
    before = snapshot(api)

    response = api.post("/accounts/alice/withdraw", content=body,
                        headers={"Content-Type": "application/json", **headers})

    assert_error(response, status, code)
    assert snapshot(api) == before
    assert api.get("/admin/stats").json()["rejected"] == 1


def test_an_unknown_account_is_404(api):
    before = snapshot(api)
    assert_error(api.get("/accounts/mallory"), 404, "unknown_account")
    assert_error(api.get("/accounts/mallory/ledger"), 404, "unknown_account")
    assert_error(move(api, "deposit", "mallory", 100, "k-mallory"), 404, "unknown_account")
    assert snapshot(api) == before


def test_insufficient_funds_is_409_says_why_and_changes_nothing(api):
    before = snapshot(api)

    response = move(api, "withdraw", "dave", 10_001, "too-much")

    assert_error(response, 409, "insufficient_funds")
    assert "10000" in response.json()["message"] and "10001" in response.json()["message"]
    assert snapshot(api) == before
    # The refusal is not remembered against the key: once the money is there, the same key works.
    assert move(api, "deposit", "dave", 1, "top-up").status_code == 200
    assert move(api, "withdraw", "dave", 10_001, "too-much").json()["balance_cents"] == 0


def test_unknown_routes_wrong_methods_and_bad_limits_answer_json(api):
    assert_error(api.get("/nowhere"), 404, "not_found")
    assert_error(api.delete("/accounts/alice"), 405, "method_not_allowed")
    assert_error(api.get("/ledger", params={"limit": "ten"}), 400, "invalid_limit")


def test_the_ledger_is_newest_first_and_limited(api):
    for number in range(5):
        move(api, "deposit", "carol", 100 + number, f"deposit-{number}")
    entries = api.get("/accounts/carol/ledger", params={"limit": 3}).json()["entries"]
    assert [e["amount_cents"] for e in entries] == [104, 103, 102]
    assert [e["balance_cents"] for e in entries] == [25_510, 25_406, 25_303]


# --- Faults ---------------------------------------------------------------------------------------


def test_down_refuses_the_account_endpoints_but_not_health_admin_or_dashboard(api):
    set_faults(api, down=True)

    assert_error(api.get("/accounts"), 503, "service_unavailable")
    assert_error(api.get("/ledger"), 503, "service_unavailable")
    assert_error(move(api, "deposit", "bob", 100, "while-down"), 503, "service_unavailable")
    assert api.get("/health").json() == {"status": "ok"}
    assert api.get("/admin/stats").status_code == 200
    assert api.get("/").status_code == 200

    set_faults(api, down=False)
    assert balances(api) == SEED_BALANCES


def test_error_rate_refuses_before_anything_is_applied(api):
    set_faults(api, error_rate=1)

    assert_error(move(api, "withdraw", "alice", 100, "unlucky"), 503, "injected_fault")
    assert api.get("/accounts/alice").status_code == 200  # reads are not refused
    set_faults(api, error_rate=0)
    assert snapshot(api) == (SEED_BALANCES, [])
    # Nothing was recorded against the key either, so the retry is applied.
    assert move(api, "withdraw", "alice", 100, "unlucky").json()["replayed"] is False
    assert api.get("/admin/stats").json()["injected_faults"] == 1


def test_a_lost_response_was_applied_and_a_retry_with_the_key_replays_it(api):
    set_faults(api, lost_response_rate=1)

    assert_error(move(api, "withdraw", "alice", 700, "lost-once"), 504, "response_lost")
    assert balances(api)["alice"] == SEED_BALANCES["alice"] - 700

    retry = move(api, "withdraw", "alice", 700, "lost-once")
    assert retry.status_code == 200, retry.text
    assert retry.json()["replayed"] is True
    assert retry.json()["transaction_id"] == ledger(api, "alice")[0]["transaction_id"]
    assert balances(api)["alice"] == SEED_BALANCES["alice"] - 700
    assert len(ledger(api, "alice")) == 1
    stats = api.get("/admin/stats").json()
    assert (stats["mutations_applied"], stats["lost_responses"], stats["replays"]) == (1, 1, 1)


def test_delay_slows_the_account_endpoints_only(api):
    set_faults(api, delay_ms=200)
    started = time.monotonic()
    assert api.get("/accounts/alice").status_code == 200
    assert time.monotonic() - started >= 0.2

    set_faults(api, delay_ms=5_000)
    assert api.get("/health", timeout=2).status_code == 200  # would time out if it were delayed too


def fault_pattern(api, run: str, seed: int) -> list[int]:
    set_faults(api, error_rate=0.4, lost_response_rate=0.4, seed=seed)
    return [move(api, "deposit", "bob", 100, f"{run}-{number}").status_code for number in range(30)]


def test_a_seed_makes_the_faults_reproducible(api):
    first, second = fault_pattern(api, "first", seed=7), fault_pattern(api, "second", seed=7)

    assert first == second
    assert {200, 503, 504} <= set(first)
    assert fault_pattern(api, "third", seed=8) != first


@pytest.mark.parametrize("body", [
    b'{"error_rate": 1.5}', b'{"error_rate": -0.1}', b'{"error_rate": "0.5"}', b'{"error_rate": true}',
    b'{"error_rate": NaN}', b'{"lost_response_rate": 2}', b'{"delay_ms": 60001}', b'{"delay_ms": -1}',
    b'{"delay_ms": 1.5}', b'{"down": "yes"}', b'{"down": 1}', b'{"seed": "42"}', b'{"seed": 1.0}',
    b'{"eror_rate": 0.5}', b'{"down": true, "delay_ms": -1}', b"[]", b"down", b"",
])
def test_an_invalid_fault_config_is_refused_and_changes_nothing(api, body):
    set_faults(api, delay_ms=1)
    before = api.get("/admin/faults").json()

    assert_error(api.put("/admin/faults", content=body, headers={"Content-Type": "application/json"}), 400,
                 "invalid_fault_config")
    assert api.get("/admin/faults").json() == before


# --- Concurrency and durability ---------------------------------------------------------------------


async def withdraw_concurrently(url: str, account: str, amount_cents: int, count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        return await asyncio.gather(*(
            client.post(f"/accounts/{account}/withdraw", json={"amount_cents": amount_cents},
                        headers={"Idempotency-Key": f"concurrent-{number}"})
            for number in range(count)
        ))


def test_concurrent_withdrawals_lose_no_update(api, server):
    responses = asyncio.run(withdraw_concurrently(server.url, "company", 100, count=200))

    assert [r.status_code for r in responses] == [200] * 200
    assert balances(api)["company"] == SEED_BALANCES["company"] - 200 * 100
    entries = sorted(ledger(api, "company"), key=lambda e: e["transaction_id"])
    assert len(entries) == 200
    # Each withdrawal started from the balance the one before it left.
    assert [e["balance_cents"] for e in entries] == [SEED_BALANCES["company"] - 100 * n for n in range(1, 201)]


def test_concurrent_withdrawals_never_overdraw(api, server):
    responses = asyncio.run(withdraw_concurrently(server.url, "dave", 300, count=60))

    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == SEED_BALANCES["dave"] // 300
    assert statuses.count(409) == 60 - SEED_BALANCES["dave"] // 300
    assert balances(api)["dave"] == SEED_BALANCES["dave"] % 300
    assert min(e["balance_cents"] for e in ledger(api, "dave")) >= 0


def test_committed_transactions_survive_kill_9(tmp_path):
    db_file = tmp_path / "accounts.db"
    crashed = start_account_api(db_file=db_file, log_path=tmp_path / "before.log")
    try:
        with httpx.Client(base_url=crashed.url, timeout=10) as api:
            receipts = []
            for number in range(30):
                kind, account = ("withdraw", "alice") if number % 2 == 0 else ("deposit", "bob")
                receipts.append(move(api, kind, account, 100 + number, f"durable-{number}").json())
    finally:
        crashed.kill()
    assert crashed.process.returncode == -9

    restarted = start_account_api(db_file=db_file, log_path=tmp_path / "after.log")
    try:
        with httpx.Client(base_url=restarted.url, timeout=10) as api:
            entries = {e["transaction_id"]: e for e in ledger(api)}
            assert len(entries) == 30
            for receipt in receipts:
                recorded = {field: value for field, value in receipt.items() if field != "replayed"}
                assert recorded.items() <= entries[receipt["transaction_id"]].items()
            expected = dict(SEED_BALANCES)
            for receipt in receipts:
                sign = -1 if receipt["kind"] == "withdraw" else 1
                expected[receipt["account"]] += sign * receipt["amount_cents"]
            assert balances(api) == expected
            # The idempotency records survived too: a late retry is a replay, not a second payment.
            replay = move(api, "withdraw", "alice", 100, "durable-0")
            assert replay.json() == {**receipts[0], "replayed": True}
    finally:
        restarted.stop()


def test_holds_reservations_and_shipments_survive_kill_9(tmp_path):
    db_file = tmp_path / "accounts.db"
    crashed = start_account_api(db_file=db_file, log_path=tmp_path / "before.log")
    try:
        with httpx.Client(base_url=crashed.url, timeout=10) as api:
            def create(path: str, body: dict, key: str) -> dict:
                response = api.post(path, json=body, headers={"Idempotency-Key": key})
                assert response.status_code == 201, response.text
                return response.json()

            held = create("/accounts/carol/holds", {"amount_cents": 5_000}, "crash-hold")
            reserved = create("/inventory/reservations", {"order_id": "O-1", "items": [{"sku": "lamp", "quantity": 2}]},
                              "crash-reservation")
            shipped = create("/shipments", {"order_id": "O-1", "carrier": "parcelpost", "address": "here"}, "crash-ship")
            # The lamp's first release loses its answer: the loss itself must survive the crash too.
            lost = api.post(f"/inventory/reservations/{reserved['reservation_id']}/release")
            assert lost.status_code == 504, lost.text
    finally:
        crashed.kill()

    restarted = start_account_api(db_file=db_file, log_path=tmp_path / "after.log")
    try:
        with httpx.Client(base_url=restarted.url, timeout=10) as api:
            assert api.get("/accounts/carol").json()["held_cents"] == 5_000
            assert api.get(f"/holds/{held['hold_id']}").json()["status"] == "active"
            assert api.get(f"/shipments/{shipped['shipment_id']}").json()["status"] == "created"
            lamp = next(item for item in api.get("/inventory").json()["items"] if item["sku"] == "lamp")
            assert (lamp["in_stock"], lamp["reserved"]) == (5, 0)
            retry = api.post(f"/inventory/reservations/{reserved['reservation_id']}/release")
            assert (retry.status_code, retry.json()["replayed"]) == (200, True)
            again = api.post("/accounts/carol/holds", json={"amount_cents": 5_000},
                             headers={"Idempotency-Key": "crash-hold"})
            assert again.json() == {**held, "replayed": True}
    finally:
        restarted.stop()


# --- Reset, dashboard, storage ----------------------------------------------------------------------


def test_reset_restores_the_seed_accounts_and_clears_everything(api):
    move(api, "withdraw", "alice", 5_000, "before-reset")
    set_faults(api, delay_ms=10, seed=3)

    assert api.post("/admin/reset").status_code == 200

    assert snapshot(api) == (SEED_BALANCES, [])
    assert api.get("/admin/faults").json() == {"error_rate": 0.0, "lost_response_rate": 0.0, "delay_ms": 0,
                                               "down": False, "seed": None}
    assert set(api.get("/admin/stats").json().values()) == {0}
    assert move(api, "withdraw", "alice", 1, "before-reset").json()["replayed"] is False


def test_the_dashboard_shows_the_accounts_and_escapes_references(api):
    move(api, "deposit", "carol", 100, "html", reference="</script><b>bold</b>")

    response = api.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    for account, owner, _cents in SEED_ACCOUNTS:
        assert account in response.text and owner in response.text
    assert response.text.count("</script>") == 1  # the reference cannot close the page's script


def test_a_new_database_is_seeded_once_in_wal_mode(tmp_path):
    db_file = tmp_path / "accounts.db"
    client = create_app(db_file).test_client()
    assert client.get("/accounts/bob").get_json()["balance_cents"] == 50_000
    client.post("/accounts/bob/deposit", json={"amount_cents": 1}, headers={"Idempotency-Key": "one"})

    reopened = create_app(db_file).test_client()

    assert reopened.get("/accounts/bob").get_json()["balance_cents"] == 50_001
    with closing(sqlite3.connect(db_file)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
