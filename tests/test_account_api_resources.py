"""The bank's resources for modules 06-09: holds, approvals, inventory reservations, carriers and shipments.

Each follows the conventions of withdraw and deposit: an Idempotency-Key on every creating POST (a retry
replays the first answer, the key for another request is refused), one transaction per change, clear
JSON errors, fault modes, and a reset that restores everything. In-process (Flask's test client).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from account_api import SEED_ACCOUNTS, SEED_INVENTORY, create_app

SEED_BALANCES = {account: cents for account, _owner, cents in SEED_ACCOUNTS}
SEED_STOCK = {sku: in_stock for sku, _name, in_stock in SEED_INVENTORY}


@pytest.fixture
def api(tmp_path) -> Iterator[FlaskClient]:
    yield create_app(tmp_path / "accounts.db").test_client()


def post(api: FlaskClient, path: str, body: Any = None, key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return api.post(path, json=body, headers=headers) if body is not None else api.post(path, headers=headers)


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def assert_error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == code, body
    assert body["message"]
    return body["message"]


def account(api: FlaskClient, name: str) -> dict:
    return ok(api.get(f"/accounts/{name}"))


def stats(api: FlaskClient) -> dict:
    return ok(api.get("/admin/stats"))


def stock(api: FlaskClient) -> dict[str, tuple[int, int]]:
    return {item["sku"]: (item["in_stock"], item["reserved"]) for item in ok(api.get("/inventory"))["items"]}


def everything(api: FlaskClient) -> dict:
    """The whole state the admin overview shows, for comparing before and after a refused request."""
    state = ok(api.get("/admin/overview"))
    state["ledger"] = ok(api.get("/ledger?limit=1000"))["entries"]
    state["approvals"] = ok(api.get("/approvals?limit=1000"))["approvals"]
    state["shipments"] = ok(api.get("/shipments?limit=1000"))["shipments"]
    return state


def hold(api: FlaskClient, amount: int, key: str, on: str = "alice", reference: str = "order O-1") -> Any:
    return post(api, f"/accounts/{on}/holds", {"amount_cents": amount, "reference": reference}, key)


# --- Holds ------------------------------------------------------------------------------------------


def test_a_hold_reserves_money_without_changing_the_balance(api):
    created = ok(hold(api, 30_000, "hold-1"), 201)

    assert created["status"] == "active" and created["hold_id"].startswith("hold-")
    assert (created["account"], created["amount_cents"], created["reference"]) == ("alice", 30_000, "order O-1")
    assert (created["available_cents"], created["replayed"]) == (70_000, False)
    assert account(api, "alice") == {"id": "alice", "owner": "Alice", "balance_cents": 100_000, "held_cents": 30_000,
                                     "available_cents": 70_000}
    listed = {a["id"]: a for a in ok(api.get("/accounts"))["accounts"]}
    assert listed["alice"]["held_cents"] == 30_000 and listed["bob"]["available_cents"] == SEED_BALANCES["bob"]
    assert ok(api.get(f"/holds/{created['hold_id']}"))["status"] == "active"
    assert [h["hold_id"] for h in ok(api.get("/accounts/alice/holds?status=active"))["holds"]] == [created["hold_id"]]
    assert ok(api.get("/ledger"))["entries"] == []  # a hold is not a transaction


def test_a_hold_or_a_withdraw_beyond_the_available_money_is_refused(api):
    ok(hold(api, 90_000, "big-hold"), 201)

    message = assert_error(hold(api, 10_001, "second-hold"), 409, "insufficient_funds")
    assert "90000 of them held" in message and "10000 available" in message
    assert_error(post(api, "/accounts/alice/withdraw", {"amount_cents": 10_001}, "w"), 409, "insufficient_funds")
    assert ok(post(api, "/accounts/alice/withdraw", {"amount_cents": 10_000}, "w2"))["balance_cents"] == 90_000
    assert account(api, "alice")["available_cents"] == 0


def test_a_retried_hold_is_replayed_and_a_reused_key_refused(api):
    first = ok(hold(api, 500, "hold-once"), 201)
    again = ok(hold(api, 500, "hold-once", reference="a retry may say anything here"), 201)

    assert again == {**first, "replayed": True}
    assert account(api, "alice")["held_cents"] == 500
    assert_error(hold(api, 501, "hold-once"), 422, "idempotency_key_reused")
    assert_error(hold(api, 500, "hold-once", on="bob"), 422, "idempotency_key_reused")
    assert_error(post(api, "/accounts/alice/withdraw", {"amount_cents": 500}, "hold-once"), 422,
                 "idempotency_key_reused")
    assert_error(post(api, "/accounts/alice/holds", {"amount_cents": 500}), 428, "missing_idempotency_key")
    assert (stats(api)["mutations_applied"], stats(api)["replays"]) == (1, 1)


def test_releasing_a_hold_frees_the_money_and_is_naturally_idempotent(api):
    hold_id = ok(hold(api, 2_000, "h"), 201)["hold_id"]

    released = ok(post(api, f"/holds/{hold_id}/release"))
    again = ok(post(api, f"/holds/{hold_id}/release", key="any-key"))

    assert (released["status"], released["replayed"], released["available_cents"]) == ("released", False, 100_000)
    assert {**again, "replayed": False} == released and again["replayed"] is True
    assert account(api, "alice")["held_cents"] == 0
    assert_error(post(api, f"/holds/{hold_id}/capture"), 409, "hold_not_active")
    assert ok(api.get("/accounts/alice/holds?status=released"))["holds"][0]["hold_id"] == hold_id
    assert ok(api.get("/accounts/alice/holds?status=active"))["holds"] == []


def test_capturing_a_hold_withdraws_it_once(api):
    hold_id = ok(hold(api, 2_500, "h", reference="order O-7"), 201)["hold_id"]

    captured = ok(post(api, f"/holds/{hold_id}/capture", key="capture-O-7"))
    again = ok(post(api, f"/holds/{hold_id}/capture"))

    assert captured["status"] == "captured" and captured["transaction_id"] is not None
    assert (captured["balance_cents"], captured["available_cents"]) == (97_500, 97_500)
    assert again == {**captured, "replayed": True}
    [entry] = ok(api.get("/accounts/alice/ledger"))["entries"]
    assert (entry["kind"], entry["amount_cents"], entry["reference"]) == ("withdraw", 2_500, "order O-7")
    assert (entry["transaction_id"], entry["idempotency_key"]) == (captured["transaction_id"], "capture-O-7")
    assert account(api, "alice") == {**account(api, "alice"), "balance_cents": 97_500, "held_cents": 0}
    assert_error(post(api, f"/holds/{hold_id}/release"), 409, "hold_not_active")
    # The capture's key names the capture: a withdraw cannot reuse it.
    assert_error(post(api, "/accounts/alice/withdraw", {"amount_cents": 2_500}, "capture-O-7"), 422,
                 "idempotency_key_reused")


def test_a_capture_without_a_key_records_one_of_its_own(api):
    hold_id = ok(hold(api, 100, "h"), 201)["hold_id"]
    ok(post(api, f"/holds/{hold_id}/capture"))

    [entry] = ok(api.get("/ledger"))["entries"]
    assert entry["idempotency_key"] == f"{hold_id}/capture"
    assert_error(post(api, "/accounts/alice/withdraw", {"amount_cents": 100}, f"{hold_id}/capture"), 422,
                 "idempotency_key_reused")


def test_an_unknown_hold_is_404(api):
    assert_error(api.get("/holds/hold-nope"), 404, "unknown_hold")
    assert_error(post(api, "/holds/hold-nope/release"), 404, "unknown_hold")
    assert_error(post(api, "/holds/hold-nope/capture"), 404, "unknown_hold")
    assert_error(hold(api, 1, "k", on="mallory"), 404, "unknown_account")
    assert_error(api.get("/accounts/alice/holds?status=frozen"), 400, "invalid_status")


# --- Approvals --------------------------------------------------------------------------------------

TOKEN = "CiRhY3Rpdml0eS10YXNrLXRva2VuLWZvci10aGUtZmlyc3QtYXR0ZW1wdA=="
APPROVAL = {"transfer_id": "T-9", "from_account": "company", "to_account": "bob", "amount_cents": 5_000_000,
            "task_token": TOKEN, "note": "bonus"}


def test_an_approval_waits_for_a_person_and_keeps_the_task_token(api):
    created = ok(post(api, "/approvals", APPROVAL, "approval-T-9"), 201)

    assert created["approval_id"].startswith("approval-") and created["status"] == "pending"
    assert {name: created[name] for name in APPROVAL} == APPROVAL
    assert created["decided_at"] is None and created["replayed"] is False
    fetched = ok(api.get(f"/approvals/{created['approval_id']}"))
    assert fetched["task_token"] == TOKEN
    assert [a["approval_id"] for a in ok(api.get("/approvals?status=pending"))["approvals"]] == [created["approval_id"]]
    assert ok(api.get("/approvals?status=approved"))["approvals"] == []
    overview = ok(api.get("/admin/overview"))["approvals"]
    assert [a["approval_id"] for a in overview] == [created["approval_id"]] and "task_token" not in overview[0]


def test_a_decision_is_final_and_a_second_one_names_the_first(api):
    approval_id = ok(post(api, "/approvals", APPROVAL, "a"), 201)["approval_id"]

    decided = ok(post(api, f"/approvals/{approval_id}/decision",
                      {"approved": True, "decided_by": "Ann", "comment": "checked"}))
    assert (decided["status"], decided["decided_by"], decided["comment"]) == ("approved", "Ann", "checked")
    assert decided["decided_at"]
    before = everything(api)

    message = assert_error(post(api, f"/approvals/{approval_id}/decision", {"approved": False, "decided_by": "Bob"}),
                           409, "already_decided")

    assert "approved" in message and "Ann" in message
    assert everything(api) | {"stats": None} == before | {"stats": None}
    assert ok(api.get(f"/approvals/{approval_id}"))["status"] == "approved"
    assert ok(api.get("/approvals?status=approved"))["approvals"][0]["approval_id"] == approval_id


def test_a_decision_sent_with_a_key_can_be_retried(api):
    approval_id = ok(post(api, "/approvals", APPROVAL, "a"), 201)["approval_id"]
    decision = {"approved": False, "decided_by": "Ann", "comment": "too large"}

    first = ok(post(api, f"/approvals/{approval_id}/decision", decision, "decide-T-9"))
    again = ok(post(api, f"/approvals/{approval_id}/decision", decision, "decide-T-9"))

    assert first["status"] == "rejected" and again == {**first, "replayed": True}


def test_a_retried_approval_request_is_replayed_with_the_newest_task_token(api):
    first = ok(post(api, "/approvals", APPROVAL, "approval-T-9"), 201)
    retried = ok(post(api, "/approvals", {**APPROVAL, "task_token": "c2Vjb25kLWF0dGVtcHQ="}, "approval-T-9"), 201)

    assert retried["approval_id"] == first["approval_id"] and retried["replayed"] is True
    assert retried["task_token"] == "c2Vjb25kLWF0dGVtcHQ="  # only the newest attempt can be completed
    assert len(ok(api.get("/approvals"))["approvals"]) == 1
    assert_error(post(api, "/approvals", {**APPROVAL, "amount_cents": 1}, "approval-T-9"), 422,
                 "idempotency_key_reused")


@pytest.mark.parametrize("change, status, code", [
    ({"from_account": "mallory"}, 404, "unknown_account"),
    ({"amount_cents": 0}, 422, "invalid_amount"),
    ({"amount_cents": 1.5}, 422, "invalid_amount"),
    ({"task_token": "not base64!"}, 400, "malformed_body"),
    ({"task_token": "A" * 4097}, 400, "malformed_body"),
    ({"transfer_id": ""}, 400, "malformed_body"),
    ({"transfer_id": None}, 400, "malformed_body"),
    ({"note": 7}, 400, "malformed_body"),
])
def test_a_bad_approval_request_is_refused(api, change, status, code):
    assert_error(post(api, "/approvals", {**APPROVAL, **change}, "bad"), status, code)
    assert ok(api.get("/approvals"))["approvals"] == []


def test_an_unknown_approval_is_404(api):
    assert_error(api.get("/approvals/approval-nope"), 404, "unknown_approval")
    assert_error(post(api, "/approvals/approval-nope/decision", {"approved": True, "decided_by": "Ann"}), 404,
                 "unknown_approval")
    assert_error(api.get("/approvals?status=maybe"), 400, "invalid_status")


# --- Inventory and reservations ----------------------------------------------------------------------


def reserve(api, key: str, order: str = "O-1", **items: int):
    body = {"order_id": order, "items": [{"sku": sku, "quantity": quantity} for sku, quantity in items.items()]}
    return post(api, "/inventory/reservations", body, key)


def test_the_inventory_is_seeded(api):
    assert ok(api.get("/inventory"))["items"] == [
        {"sku": "widget", "name": "Widget", "in_stock": 50, "reserved": 0},
        {"sku": "gadget", "name": "Gadget", "in_stock": 20, "reserved": 0},
        {"sku": "lamp", "name": "Vintage lamp", "in_stock": 5, "reserved": 0},
        {"sku": "unicorn", "name": "Unicorn plush", "in_stock": 0, "reserved": 0},
    ]


def test_a_reservation_takes_every_item_or_none(api):
    created = ok(reserve(api, "r-1", widget=3, gadget=2), 201)

    assert created["status"] == "active" and created["order_id"] == "O-1"
    assert created["items"] == [{"sku": "widget", "quantity": 3}, {"sku": "gadget", "quantity": 2}]
    assert stock(api)["widget"] == (47, 3) and stock(api)["gadget"] == (18, 2)
    assert ok(api.get(f"/inventory/reservations/{created['reservation_id']}"))["status"] == "active"
    before = everything(api)

    message = assert_error(reserve(api, "r-2", widget=1, unicorn=1), 409, "out_of_stock")

    assert "Unicorn plush" in message and "asks for 1" in message and "0 left" in message
    assert everything(api) | {"stats": None} == before | {"stats": None}
    assert_error(reserve(api, "r-3", widget=1, teapot=1), 404, "unknown_item")
    assert_error(reserve(api, "r-4", widget=0), 422, "invalid_quantity")
    assert_error(reserve(api, "r-5", widget=-2), 422, "invalid_quantity")
    assert_error(post(api, "/inventory/reservations", {"order_id": "O", "items": [{"sku": "widget", "quantity": "2"}]},
                      "r-6"), 422, "invalid_quantity")
    assert_error(post(api, "/inventory/reservations", {"order_id": "O", "items": []}, "r-7"), 400, "malformed_body")
    assert stock(api) == {**{sku: (n, 0) for sku, n in SEED_STOCK.items()}, "widget": (47, 3), "gadget": (18, 2)}


def test_a_retried_reservation_is_replayed(api):
    first = ok(reserve(api, "r", widget=2, lamp=1), 201)
    again = ok(reserve(api, "r", lamp=1, widget=2), 201)  # the same items in another order

    assert again == {**first, "replayed": True}
    assert stock(api)["widget"] == (48, 2)
    assert_error(reserve(api, "r", widget=3, lamp=1), 422, "idempotency_key_reused")


def test_releasing_a_reservation_puts_the_stock_back_once(api):
    reservation_id = ok(reserve(api, "r", widget=5, gadget=1), 201)["reservation_id"]

    released = ok(post(api, f"/inventory/reservations/{reservation_id}/release"))
    again = ok(post(api, f"/inventory/reservations/{reservation_id}/release"))

    assert released["status"] == "released" and released["released_at"] and released["replayed"] is False
    assert again == {**released, "replayed": True}
    assert stock(api) == {sku: (n, 0) for sku, n in SEED_STOCK.items()}
    assert_error(post(api, "/inventory/reservations/reservation-nope/release"), 404, "unknown_reservation")
    assert_error(api.get("/inventory/reservations/reservation-nope"), 404, "unknown_reservation")


def test_the_first_release_of_a_lamp_loses_its_answer_and_a_retry_gets_it(api):
    reservation_id = ok(reserve(api, "r", widget=1, lamp=2), 201)["reservation_id"]

    lost = post(api, f"/inventory/reservations/{reservation_id}/release")

    message = assert_error(lost, 504, "response_lost")
    assert "WAS applied" in message and "lamp" in message
    assert stock(api)["lamp"] == (5, 0) and stock(api)["widget"] == (50, 0)
    retried = ok(post(api, f"/inventory/reservations/{reservation_id}/release"))
    assert (retried["status"], retried["replayed"]) == ("released", True)
    assert stock(api)["lamp"] == (5, 0)
    counts = stats(api)
    assert (counts["lost_responses"], counts["replays"], counts["mutations_applied"]) == (1, 1, 2)
    # Every reservation with a lamp does it once: the story is the same in every run.
    second = ok(reserve(api, "r2", lamp=1), 201)["reservation_id"]
    assert_error(post(api, f"/inventory/reservations/{second}/release", key="release-r2"), 504, "response_lost")
    assert ok(post(api, f"/inventory/reservations/{second}/release", key="release-r2"))["replayed"] is True


def test_a_release_without_a_lamp_answers_at_once(api):
    reservation_id = ok(reserve(api, "r", gadget=1), 201)["reservation_id"]
    assert ok(post(api, f"/inventory/reservations/{reservation_id}/release"))["replayed"] is False


# --- Carriers and shipments --------------------------------------------------------------------------

SHIPMENT = {"order_id": "O-1", "carrier": "parcelpost", "address": "1 Main St, Springfield"}


def test_a_shipment_is_created_and_cancelled_once(api):
    created = ok(post(api, "/shipments", SHIPMENT, "ship-O-1"), 201)

    assert created["shipment_id"].startswith("shipment-")
    assert {name: created[name] for name in SHIPMENT} == SHIPMENT and created["status"] == "created"
    assert ok(post(api, "/shipments", SHIPMENT, "ship-O-1"), 201) == {**created, "replayed": True}
    assert_error(post(api, "/shipments", {**SHIPMENT, "address": "elsewhere"}, "ship-O-1"), 422,
                 "idempotency_key_reused")
    assert [s["shipment_id"] for s in ok(api.get("/shipments?status=created"))["shipments"]] == [created["shipment_id"]]

    cancelled = ok(post(api, f"/shipments/{created['shipment_id']}/cancel"))
    again = ok(post(api, f"/shipments/{created['shipment_id']}/cancel"))

    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"] and cancelled["replayed"] is False
    assert again == {**cancelled, "replayed": True}
    assert ok(api.get("/shipments?status=created"))["shipments"] == []
    assert ok(api.get(f"/shipments/{created['shipment_id']}"))["status"] == "cancelled"
    assert ok(api.get("/admin/overview"))["shipments"] == []


def test_an_unavailable_carrier_is_503_and_creates_nothing_until_switched_on(api):
    body = {**SHIPMENT, "carrier": "tortoise"}

    message = assert_error(post(api, "/shipments", body, "ship-slow"), 503, "carrier_unavailable")

    assert "tortoise" in message
    assert ok(api.get("/shipments"))["shipments"] == []
    assert ok(api.put("/admin/carriers/tortoise", json={"available": True})) == {"name": "tortoise", "available": True}
    assert ok(post(api, "/shipments", body, "ship-slow"), 201)["carrier"] == "tortoise"
    assert ok(api.get("/admin/carriers"))["carriers"] == [{"name": "parcelpost", "available": True},
                                                          {"name": "tortoise", "available": True}]


def test_unknown_carriers_and_shipments(api):
    assert_error(post(api, "/shipments", {**SHIPMENT, "carrier": "owl"}, "k"), 422, "unknown_carrier")
    assert_error(api.put("/admin/carriers/owl", json={"available": True}), 404, "unknown_carrier")
    assert_error(api.put("/admin/carriers/tortoise", json={"available": "yes"}), 400, "malformed_body")
    assert_error(api.get("/shipments/shipment-nope"), 404, "unknown_shipment")
    assert_error(post(api, "/shipments/shipment-nope/cancel"), 404, "unknown_shipment")
    assert_error(api.get("/shipments?status=lost"), 400, "invalid_status")
    assert_error(post(api, "/shipments", {**SHIPMENT, "address": ""}, "k"), 400, "malformed_body")


# --- Faults, reset, overview ------------------------------------------------------------------------


def creating_requests(api) -> list:
    """One fresh creating request per resource, as callables (keys are new on every call)."""
    counter = iter(range(1_000_000))
    return [
        lambda: hold(api, 100, f"fault-{next(counter)}"),
        lambda: post(api, "/approvals", APPROVAL, f"fault-{next(counter)}"),
        lambda: reserve(api, f"fault-{next(counter)}", widget=1),
        lambda: post(api, "/shipments", SHIPMENT, f"fault-{next(counter)}"),
    ]


def test_error_rate_refuses_every_new_resource_before_applying(api):
    ok(api.put("/admin/faults", json={"error_rate": 1}))
    before = everything(api)

    for send in creating_requests(api):
        assert_error(send(), 503, "injected_fault")

    ok(api.put("/admin/faults", json={"error_rate": 0}))
    assert everything(api) | {"stats": None, "faults": None} == before | {"stats": None, "faults": None}
    assert stats(api)["injected_faults"] == 4


def test_a_lost_response_on_a_new_resource_was_applied_and_a_retry_replays_it(api):
    ok(api.put("/admin/faults", json={"lost_response_rate": 1}))

    assert_error(hold(api, 700, "lost-hold"), 504, "response_lost")
    assert account(api, "alice")["held_cents"] == 700
    retry = ok(hold(api, 700, "lost-hold"), 201)
    assert retry["replayed"] is True and account(api, "alice")["held_cents"] == 700

    assert_error(post(api, f"/holds/{retry['hold_id']}/release"), 504, "response_lost")
    assert ok(post(api, f"/holds/{retry['hold_id']}/release"))["replayed"] is True
    assert (stats(api)["lost_responses"], stats(api)["mutations_applied"]) == (2, 2)


def test_down_and_delay_cover_the_new_resources_but_not_the_overview(api):
    ok(api.put("/admin/faults", json={"down": True}))
    for path in ("/inventory", "/approvals", "/shipments", "/holds/x", "/accounts/alice/holds"):
        assert_error(api.get(path), 503, "service_unavailable")
    assert_error(post(api, "/shipments", SHIPMENT, "k"), 503, "service_unavailable")
    assert ok(api.get("/admin/overview"))["faults"]["down"] is True
    ok(api.put("/admin/carriers/tortoise", json={"available": True}))  # admin stays up


def test_reset_restores_every_resource(api):
    hold_id = ok(hold(api, 100, "h"), 201)["hold_id"]
    ok(post(api, "/approvals", APPROVAL, "a"), 201)
    ok(reserve(api, "r", widget=4), 201)
    ok(post(api, "/shipments", SHIPMENT, "s"), 201)
    ok(api.put("/admin/carriers/parcelpost", json={"available": False}))
    ok(post(api, "/accounts/alice/withdraw", {"amount_cents": 1}, "w"))

    ok(post(api, "/admin/reset"))

    state = ok(api.get("/admin/overview"))
    assert {a["id"]: (a["balance_cents"], a["held_cents"]) for a in state["accounts"]} == {
        name: (cents, 0) for name, cents in SEED_BALANCES.items()}
    assert (state["ledger"], state["holds"], state["approvals"], state["reservations"], state["shipments"]) == (
        [], [], [], [], [])
    assert state["inventory"] == ok(api.get("/inventory"))["items"] and stock(api)["widget"] == (50, 0)
    assert state["carriers"] == [{"name": "parcelpost", "available": True}, {"name": "tortoise", "available": False}]
    assert set(state["stats"].values()) == {0}
    assert_error(api.get(f"/holds/{hold_id}"), 404, "unknown_hold")
    assert ok(hold(api, 100, "h"), 201)["replayed"] is False  # keys are forgotten too


def test_the_overview_holds_what_the_dashboard_shows(api):
    ok(hold(api, 100, "h"), 201)
    ok(reserve(api, "r", gadget=1), 201)
    ok(post(api, "/shipments", SHIPMENT, "s"), 201)

    state = ok(api.get("/admin/overview"))

    assert set(state) == {"accounts", "ledger", "holds", "approvals", "inventory", "reservations", "shipments",
                          "carriers", "faults", "stats"}
    assert [len(state[name]) for name in ("holds", "reservations", "shipments")] == [1, 1, 1]
    assert state["reservations"][0]["items"] == [{"sku": "gadget", "quantity": 1}]
    assert state["stats"]["mutations_applied"] == 3


def test_an_older_database_gains_the_new_tables_and_seeds(tmp_path):
    import sqlite3
    from contextlib import closing

    db_file = tmp_path / "accounts.db"
    with closing(sqlite3.connect(db_file)) as db:
        db.executescript("""
            CREATE TABLE accounts (id TEXT PRIMARY KEY, owner TEXT NOT NULL, balance_cents INTEGER NOT NULL);
            CREATE TABLE ledger (transaction_id INTEGER PRIMARY KEY, account_id TEXT NOT NULL, kind TEXT NOT NULL,
                amount_cents INTEGER NOT NULL, balance_cents INTEGER NOT NULL, reference TEXT,
                idempotency_key TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);
            INSERT INTO accounts VALUES ('alice', 'Alice', 123);
            INSERT INTO ledger VALUES (1, 'alice', 'deposit', 23, 123, NULL, 'old-key', '2024-01-01T00:00:00.000+00:00');
        """)
        db.commit()

    api = create_app(db_file).test_client()

    assert account(api, "alice")["available_cents"] == 123
    assert stock(api)["lamp"] == (5, 0)
    assert ok(post(api, "/accounts/alice/deposit", {"amount_cents": 23}, "old-key"))["replayed"] is True
