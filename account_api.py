"""The account service: the "bank" that the course's Temporal activities call.

A small real service, not a mock. State lives in SQLite (WAL, synchronous=FULL), so every committed
transaction survives `kill -9`. Money is integer cents. Every change is one transaction that also
records its Idempotency-Key, so a retried request gets the first answer instead of applying twice.
Faults (errors, lost responses, delay, down) are switched at runtime through /admin/faults, to show what
Temporal's retries do about them.

What it holds, by module: accounts and their ledger (01-05), holds on money (06, 08), approvals that a
person decides (07), inventory, reservations, carriers and shipments for an order saga (09). The
contract, for learners: docs/account_api.md; for machines: GET /openapi.json.

Started by `python -m workshop up`, or alone: `python account_api.py [--host H] [--port P] [--db PATH]`.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import json
import math
import queue
import random
import re
import secrets
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from workshop import settings

MAX_AMOUNT_CENTS = 100_000_000_000  # one billion dollars: anything larger is a bug, not a payment
MAX_KEY_LENGTH = 200
MAX_REFERENCE_LENGTH = 200
MAX_ID_LENGTH = 200  # order and transfer IDs that callers choose
MAX_NAME_LENGTH = 100
MAX_TEXT_LENGTH = 500  # notes, comments, addresses
MAX_TASK_TOKEN_LENGTH = 4096
MAX_QUANTITY = 1_000_000
MAX_ITEMS = 50
MAX_LIST_LIMIT = 1000
MAX_LEDGER_LIMIT = MAX_LIST_LIMIT
MAX_DELAY_MS = 60_000
MAX_BODY_BYTES = 64 * 1024
SEED_ACCOUNTS = [  # (id, owner, balance_cents)
    ("alice", "Alice", 100_000),
    ("bob", "Bob", 50_000),
    ("carol", "Carol", 25_000),
    ("dave", "Dave", 10_000),
    ("company", "Acme Payroll", 10_000_000),
]
SEED_INVENTORY = [  # (sku, name, in_stock)
    ("widget", "Widget", 50),
    ("gadget", "Gadget", 20),
    ("lamp", "Vintage lamp", 5),
    ("unicorn", "Unicorn plush", 0),
]
SEED_CARRIERS = [("parcelpost", True), ("tortoise", False)]
# Module 09 needs a compensation that fails once and is then applied once, the same in every run: the
# first release of a reservation that holds this item is applied, but its answer is lost.
GLITCHY_SKU = "lamp"
HOLD_STATUSES = ("active", "released", "captured")
APPROVAL_STATUSES = ("pending", "approved", "rejected")
SHIPMENT_STATUSES = ("created", "cancelled")
RESERVATION_STATUSES = ("active", "released")
# Where fault modes apply. /health, /admin/*, the dashboard and the API description stay up, so that a
# fault can always be switched off again and watched while it is on.
FAULTY_PREFIXES = ("/accounts", "/ledger", "/holds", "/approvals", "/inventory", "/shipments")
STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NOT_REFUSALS = frozenset({"injected_fault", "service_unavailable", "response_lost"})

EXAMPLE_BODY = '{"amount_cents": 500, "reference": "transfer T-1"}'
EXAMPLE_HOLD = '{"amount_cents": 500, "reference": "order O-1"}'
EXAMPLE_APPROVAL = ('{"transfer_id": "T-1", "from_account": "alice", "to_account": "bob", "amount_cents": 500000, '
                    '"task_token": "<base64>", "note": "rent"}')
EXAMPLE_DECISION = '{"approved": true, "decided_by": "Ann", "comment": "checked with Alice"}'
EXAMPLE_RESERVATION = '{"order_id": "O-1", "items": [{"sku": "widget", "quantity": 2}]}'
EXAMPLE_SHIPMENT = '{"order_id": "O-1", "carrier": "parcelpost", "address": "1 Main St, Springfield"}'
EXAMPLE_CARRIER = '{"available": true}'
EXAMPLE_ACCOUNT = '{"id": "erin", "owner": "Erin", "balance_cents": 20000}'
# An account ID is part of URLs (/accounts/<id>/withdraw), so it is kept to characters that need no escaping.
ACCOUNT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id            TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    balance_cents INTEGER NOT NULL CHECK (balance_cents >= 0)
);
-- Each ledger row is also the idempotency record of the withdraw or deposit that wrote it: the UNIQUE key
-- makes a second write with the same key impossible, and the row holds everything needed to replay the answer.
CREATE TABLE IF NOT EXISTS ledger (
    transaction_id  INTEGER PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    kind            TEXT NOT NULL CHECK (kind IN ('withdraw', 'deposit')),
    amount_cents    INTEGER NOT NULL CHECK (amount_cents > 0),
    balance_cents   INTEGER NOT NULL,
    reference       TEXT,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_by_account ON ledger (account_id, transaction_id);
-- The idempotency record of every other change: what was asked (to refuse the key for another request)
-- and the first answer (to replay it).
CREATE TABLE IF NOT EXISTS idempotency (
    key         TEXT PRIMARY KEY,
    operation   TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      INTEGER NOT NULL,
    response    TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS holds (
    hold_id        TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    amount_cents   INTEGER NOT NULL CHECK (amount_cents > 0),
    status         TEXT NOT NULL CHECK (status IN ('active', 'released', 'captured')),
    reference      TEXT,
    transaction_id INTEGER REFERENCES ledger (transaction_id),
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS holds_by_account ON holds (account_id, status);
CREATE TABLE IF NOT EXISTS approvals (
    approval_id  TEXT PRIMARY KEY,
    transfer_id  TEXT NOT NULL,
    from_account TEXT NOT NULL REFERENCES accounts (id),
    to_account   TEXT NOT NULL REFERENCES accounts (id),
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    note         TEXT,
    task_token   TEXT,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_by   TEXT,
    comment      TEXT,
    created_at   TEXT NOT NULL,
    decided_at   TEXT
);
CREATE TABLE IF NOT EXISTS inventory (
    sku      TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    in_stock INTEGER NOT NULL CHECK (in_stock >= 0),
    reserved INTEGER NOT NULL CHECK (reserved >= 0)
);
CREATE TABLE IF NOT EXISTS reservations (
    reservation_id      TEXT PRIMARY KEY,
    order_id            TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('active', 'released')),
    release_answer_lost INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL,
    released_at         TEXT
);
CREATE TABLE IF NOT EXISTS reservation_items (
    reservation_id TEXT NOT NULL REFERENCES reservations (reservation_id),
    sku            TEXT NOT NULL REFERENCES inventory (sku),
    quantity       INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (reservation_id, sku)
);
CREATE TABLE IF NOT EXISTS carriers (
    name      TEXT PRIMARY KEY,
    available INTEGER NOT NULL CHECK (available IN (0, 1))
);
CREATE TABLE IF NOT EXISTS shipments (
    shipment_id  TEXT PRIMARY KEY,
    order_id     TEXT NOT NULL,
    carrier      TEXT NOT NULL REFERENCES carriers (name),
    address      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('created', 'cancelled')),
    created_at   TEXT NOT NULL,
    cancelled_at TEXT
);
"""


class ApiError(Exception):
    """An answer with an error status; the handler turns it into `{"error", "message"}` JSON."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def shown(value: object, limit: int = 60) -> str:
    """A caller's value as it appears in a message: quoted, and cut short (it may be 60 000 characters)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def new_id(prefix: str) -> str:
    # Random, not counted: a workflow that kept an ID from before a reset cannot reach a newer object.
    return f"{prefix}-{secrets.token_hex(6)}"


# --- Storage --------------------------------------------------------------------------------------


def connect(db_path: Path) -> sqlite3.Connection:
    # isolation_level=None: we open transactions ourselves, so each one is exactly one BEGIN..COMMIT.
    # The generous timeout lets writers queue behind each other instead of failing with "locked".
    # check_same_thread=False: a pooled connection serves requests on several threads, one at a time.
    db = sqlite3.connect(db_path, timeout=30, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA synchronous = FULL")  # in WAL mode NORMAL may lose the last commits on power loss
    db.execute("PRAGMA foreign_keys = ON")
    return db


# SQLite lets one writer in at a time and makes the others poll with sleeps of up to 100 ms. Queuing
# this process's writers on a lock first is several times faster under load. Correctness does not
# depend on it: BEGIN IMMEDIATE below is what keeps concurrent writers (even other processes) apart.
_writer_queue = threading.Lock()


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock before the first read, so no other writer can change a balance
    # between our SELECT and our UPDATE (a plain BEGIN would allow that lost update).
    with _writer_queue:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def seed(db: sqlite3.Connection, only_missing: bool = False) -> None:
    """The seed state; with ``only_missing``, fill only empty tables (a database from an older bank)."""
    with transaction(db):
        if not only_missing:
            for table in ("reservation_items", "reservations", "shipments", "approvals", "holds", "idempotency",
                          "ledger", "accounts", "inventory", "carriers"):
                db.execute(f"DELETE FROM {table}")
        seeds: dict[str, tuple[str, list[tuple[Any, ...]]]] = {
            "accounts": ("INSERT INTO accounts (id, owner, balance_cents) VALUES (?, ?, ?)", SEED_ACCOUNTS),
            "inventory": ("INSERT INTO inventory (sku, name, in_stock, reserved) VALUES (?, ?, ?, 0)", SEED_INVENTORY),
            "carriers": ("INSERT INTO carriers (name, available) VALUES (?, ?)", SEED_CARRIERS),
        }
        for table, (insert, rows) in seeds.items():
            if db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0:
                db.executemany(insert, rows)


def init_db(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    db = connect(db_path)
    try:
        db.execute("PRAGMA journal_mode = WAL")  # stored in the file, so once is enough
        db.executescript(SCHEMA)
        seed(db, only_missing=True)
    finally:
        db.close()


# --- Idempotency ------------------------------------------------------------------------------------

OPERATION_NAMES = {
    "withdraw": "a withdraw", "deposit": "a deposit", "hold": "a hold", "release_hold": "releasing a hold",
    "capture_hold": "capturing a hold", "approval": "an approval request", "decision": "a decision",
    "reservation": "a reservation", "release_reservation": "releasing a reservation", "shipment": "a shipment",
    "cancel_shipment": "cancelling a shipment", "open_account": "opening an account",
}


@dataclass(frozen=True)
class Earlier:
    """The request that used an Idempotency-Key first, and its answer."""

    operation: str
    identity: dict
    status: int
    body: dict


def canonical(identity: dict) -> str:
    return json.dumps(identity, sort_keys=True, separators=(",", ":"))


def earlier_request(db: sqlite3.Connection, key: str) -> Earlier | None:
    row = db.execute("SELECT * FROM ledger WHERE idempotency_key = ?", (key,)).fetchone()
    if row is not None and row["kind"] in ("withdraw", "deposit"):
        recorded = db.execute("SELECT 1 FROM idempotency WHERE key = ?", (key,)).fetchone()
        if recorded is None:  # a capture's ledger row is recorded below, as the capture it was
            return Earlier(row["kind"], {"account": row["account_id"], "amount_cents": row["amount_cents"]}, 200,
                           receipt(row))
    row = db.execute("SELECT * FROM idempotency WHERE key = ?", (key,)).fetchone()
    if row is None:
        return None
    return Earlier(row["operation"], json.loads(row["fingerprint"]), row["status"], json.loads(row["response"]))


def key_reused(key: str, earlier: Earlier) -> ApiError:
    what = ", ".join(f"{name} {shown(value)}" for name, value in earlier.identity.items())
    return ApiError(422, "idempotency_key_reused",
                    f"Idempotency-Key {shown(key)} was already used for {OPERATION_NAMES[earlier.operation]} ({what}). "
                    "Use a new key for a different request.")


Outcome = tuple[int, dict, bool]  # (status, body, replayed)


def apply_once(db: sqlite3.Connection, key: str | None, operation: str, identity: dict,
               apply: Callable[[], Outcome], *, record: bool = True,
               replay: Callable[[Earlier], dict] | None = None) -> Outcome:
    """Run ``apply`` in one transaction, once per Idempotency-Key: a key seen before for the same request
    replays its first answer (``replay`` may bring it up to date); for another request it is refused.
    ``record=False`` when ``apply`` writes its own record of the key (the ledger does)."""
    with transaction(db):
        if key is not None:
            earlier = earlier_request(db, key)
            if earlier is not None:
                if (earlier.operation, canonical(earlier.identity)) != (operation, canonical(identity)):
                    raise key_reused(key, earlier)
                return earlier.status, replay(earlier) if replay else earlier.body, True
        status, body, replayed = apply()
        if key is not None and record and not replayed:
            db.execute("INSERT INTO idempotency (key, operation, fingerprint, status, response, created_at)"
                       " VALUES (?, ?, ?, ?, ?, ?)", (key, operation, canonical(identity), status, json.dumps(body),
                                                      utc_now()))
    return status, body, replayed


# --- Accounts and the ledger ------------------------------------------------------------------------


def receipt(row: sqlite3.Row) -> dict:
    return {"transaction_id": row["transaction_id"], "account": row["account_id"], "kind": row["kind"],
            "amount_cents": row["amount_cents"], "balance_cents": row["balance_cents"],
            "idempotency_key": row["idempotency_key"]}


def ledger_entry(row: sqlite3.Row) -> dict:
    return {**receipt(row), "reference": row["reference"], "created_at": row["created_at"]}


ACCOUNTS_WITH_HOLDS = """
SELECT a.id, a.owner, a.balance_cents, COALESCE(SUM(h.amount_cents), 0) AS held_cents
FROM accounts a LEFT JOIN holds h ON h.account_id = a.id AND h.status = 'active'
"""


def account_json(row: sqlite3.Row) -> dict:
    return {"id": row["id"], "owner": row["owner"], "balance_cents": row["balance_cents"],
            "held_cents": row["held_cents"], "available_cents": row["balance_cents"] - row["held_cents"]}


def all_accounts(db: sqlite3.Connection) -> list[dict]:
    rows = db.execute(ACCOUNTS_WITH_HOLDS + " GROUP BY a.id ORDER BY a.rowid")
    return [account_json(row) for row in rows]


def find_account(db: sqlite3.Connection, account_id: str) -> sqlite3.Row:
    """The account with its held_cents, or 404 unknown_account."""
    row = db.execute(ACCOUNTS_WITH_HOLDS + " WHERE a.id = ? GROUP BY a.id", (account_id,)).fetchone()
    if row is None:
        known = ", ".join(r["id"] for r in db.execute("SELECT id FROM accounts ORDER BY id"))
        raise ApiError(404, "unknown_account", f"There is no account {shown(account_id)}. Accounts: {known}.")
    return row


def insufficient_funds(account: sqlite3.Row, wanted: str, amount: int) -> ApiError:
    balance, held = account["balance_cents"], account["held_cents"]
    money = f"{balance} cents" if not held else f"{balance} cents, {held} of them held ({balance - held} available)"
    return ApiError(409, "insufficient_funds", f"Account {account['id']!r} has {money}; cannot {wanted} {amount} cents.")


def write_ledger(db: sqlite3.Connection, account_id: str, kind: str, amount: int, balance: int,
                 reference: str | None, key: str) -> dict:
    created_at = utc_now()
    cursor = db.execute(
        "INSERT INTO ledger (account_id, kind, amount_cents, balance_cents, reference, idempotency_key, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)", (account_id, kind, amount, balance, reference, key, created_at))
    return {"transaction_id": cursor.lastrowid, "account": account_id, "kind": kind, "amount_cents": amount,
            "balance_cents": balance, "idempotency_key": key}


def move_money(db: sqlite3.Connection, account_id: str, kind: str, amount: int, key: str,
               reference: str | None) -> Outcome:
    """A withdraw or deposit, applied once per key."""

    def apply() -> Outcome:
        account = find_account(db, account_id)
        balance = account["balance_cents"]
        if kind == "withdraw" and amount > balance - account["held_cents"]:
            raise insufficient_funds(account, "withdraw", amount)
        balance = balance - amount if kind == "withdraw" else balance + amount
        db.execute("UPDATE accounts SET balance_cents = ? WHERE id = ?", (balance, account_id))
        return 200, write_ledger(db, account_id, kind, amount, balance, reference, key), False

    # The reference is not part of the request's identity: a retry may describe the same payment differently.
    return apply_once(db, key, kind, {"account": account_id, "amount_cents": amount}, apply, record=False)


def open_account(db: sqlite3.Connection, account_id: str, owner: str, balance: int, key: str | None) -> Outcome:
    """A new account with an opening balance (an admin's act, like the seed: it has no ledger entry)."""

    def apply() -> Outcome:
        if db.execute("SELECT 1 FROM accounts WHERE id = ?", (account_id,)).fetchone() is not None:
            raise ApiError(409, "account_exists", f"There is already an account {account_id!r}; an account is "
                           "opened once (POST /admin/reset forgets the accounts that were opened).")
        db.execute("INSERT INTO accounts (id, owner, balance_cents) VALUES (?, ?, ?)", (account_id, owner, balance))
        return 201, account_json(find_account(db, account_id)), False

    def current(_earlier: Earlier) -> dict:
        return account_json(find_account(db, account_id))

    identity = {"account": account_id, "owner": owner, "balance_cents": balance}
    return apply_once(db, key, "open_account", identity, apply, replay=current)


# --- Holds (modules 06 and 08) ------------------------------------------------------------------------


def hold_json(row: sqlite3.Row) -> dict:
    return {"hold_id": row["hold_id"], "account": row["account_id"], "amount_cents": row["amount_cents"],
            "status": row["status"], "reference": row["reference"], "transaction_id": row["transaction_id"],
            "created_at": row["created_at"], "updated_at": row["updated_at"]}


def find_hold(db: sqlite3.Connection, hold_id: str) -> sqlite3.Row:
    row = db.execute("SELECT * FROM holds WHERE hold_id = ?", (hold_id,)).fetchone()
    if row is None:
        raise ApiError(404, "unknown_hold", f"There is no hold {shown(hold_id)} (a reset forgets every hold).")
    return row


def with_available(db: sqlite3.Connection, hold: dict) -> dict:
    """A hold as a change answers it: with its account's balance and available money after the change."""
    account = account_json(find_account(db, hold["account"]))
    return {**hold, "balance_cents": account["balance_cents"], "available_cents": account["available_cents"]}


def place_hold(db: sqlite3.Connection, account_id: str, amount: int, reference: str | None, key: str) -> Outcome:
    def apply() -> Outcome:
        account = find_account(db, account_id)
        if amount > account["balance_cents"] - account["held_cents"]:
            raise insufficient_funds(account, "hold", amount)
        hold_id, now = new_id("hold"), utc_now()
        db.execute("INSERT INTO holds (hold_id, account_id, amount_cents, status, reference, created_at, updated_at)"
                   " VALUES (?, ?, ?, 'active', ?, ?, ?)", (hold_id, account_id, amount, reference, now, now))
        return 201, with_available(db, hold_json(find_hold(db, hold_id))), False

    return apply_once(db, key, "hold", {"account": account_id, "amount_cents": amount}, apply)


def end_hold(db: sqlite3.Connection, hold_id: str, to: str, key: str | None) -> Outcome:
    """Release or capture a hold; doing it again is answered as a replay, doing the other is refused."""
    verb = "release" if to == "released" else "capture"

    def apply() -> Outcome:
        hold = find_hold(db, hold_id)
        if hold["status"] == to:
            return 200, with_available(db, hold_json(hold)), True
        if hold["status"] != "active":
            raise ApiError(409, "hold_not_active", f"Hold {hold_id} was already {hold['status']}; it cannot be "
                           f"{to} as well.")
        now = utc_now()
        transaction_id = None
        if to == "captured":
            account = find_account(db, hold["account_id"])
            balance = account["balance_cents"] - hold["amount_cents"]  # never negative: the hold reserved it
            db.execute("UPDATE accounts SET balance_cents = ? WHERE id = ?", (balance, hold["account_id"]))
            ledger_key = key or free_key(db, f"{hold_id}/capture")
            transaction_id = write_ledger(db, hold["account_id"], "withdraw", hold["amount_cents"], balance,
                                          hold["reference"], ledger_key)["transaction_id"]
            if key is None:  # so that the derived key cannot later be mistaken for a withdraw's
                db.execute("INSERT INTO idempotency (key, operation, fingerprint, status, response, created_at)"
                           " VALUES (?, 'capture_hold', ?, 200, '{}', ?)",
                           (ledger_key, canonical({"hold_id": hold_id}), now))
        db.execute("UPDATE holds SET status = ?, transaction_id = COALESCE(?, transaction_id), updated_at = ?"
                   " WHERE hold_id = ?", (to, transaction_id, now, hold_id))
        return 200, with_available(db, hold_json(find_hold(db, hold_id))), False

    def current(_earlier: Earlier) -> dict:
        return with_available(db, hold_json(find_hold(db, hold_id)))

    return apply_once(db, key, f"{verb}_hold", {"hold_id": hold_id}, apply, replay=current)


def free_key(db: sqlite3.Connection, wanted: str) -> str:
    key, number = wanted, 1
    while earlier_request(db, key) is not None:
        number += 1
        key = f"{wanted}#{number}"
    return key


# --- Approvals (module 07) ------------------------------------------------------------------------------


def approval_json(row: sqlite3.Row, with_token: bool = True) -> dict:
    answer = {"approval_id": row["approval_id"], "transfer_id": row["transfer_id"],
              "from_account": row["from_account"], "to_account": row["to_account"],
              "amount_cents": row["amount_cents"], "note": row["note"], "status": row["status"],
              "decided_by": row["decided_by"], "comment": row["comment"], "created_at": row["created_at"],
              "decided_at": row["decided_at"]}
    if with_token:
        answer["task_token"] = row["task_token"]
    return answer


def find_approval(db: sqlite3.Connection, approval_id: str) -> sqlite3.Row:
    row = db.execute("SELECT * FROM approvals WHERE approval_id = ?", (approval_id,)).fetchone()
    if row is None:
        raise ApiError(404, "unknown_approval", f"There is no approval {shown(approval_id)} "
                       "(a reset forgets every approval).")
    return row


def request_approval(db: sqlite3.Connection, fields: dict, key: str) -> Outcome:
    identity = {name: fields[name] for name in ("transfer_id", "from_account", "to_account", "amount_cents")}

    def apply() -> Outcome:
        find_account(db, fields["from_account"])
        find_account(db, fields["to_account"])
        approval_id = new_id("approval")
        db.execute("INSERT INTO approvals (approval_id, transfer_id, from_account, to_account, amount_cents, note,"
                   " task_token, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                   (approval_id, fields["transfer_id"], fields["from_account"], fields["to_account"],
                    fields["amount_cents"], fields["note"], fields["task_token"], utc_now()))
        return 201, approval_json(find_approval(db, approval_id)), False

    def refreshed(earlier: Earlier) -> dict:
        # Each attempt of a Temporal activity has its own task token, and only the newest attempt can be
        # completed: a retried request (same key) that brings a new token while the approval is pending
        # stores it. This is the only thing a replay ever changes; the answer is the approval as it is now.
        approval = find_approval(db, earlier.body["approval_id"])
        token = fields["task_token"]
        if approval["status"] == "pending" and token is not None and token != approval["task_token"]:
            db.execute("UPDATE approvals SET task_token = ? WHERE approval_id = ?", (token, approval["approval_id"]))
            approval = find_approval(db, approval["approval_id"])
        return approval_json(approval)

    return apply_once(db, key, "approval", identity, apply, replay=refreshed)


def decide(db: sqlite3.Connection, approval_id: str, approved: bool, decided_by: str, comment: str | None,
           key: str | None) -> Outcome:
    def apply() -> Outcome:
        approval = find_approval(db, approval_id)
        if approval["status"] != "pending":
            raise ApiError(409, "already_decided",
                           f"Approval {approval_id} was already {approval['status']} by {approval['decided_by']!r} "
                           f"at {approval['decided_at']}; a decision cannot be changed.")
        db.execute("UPDATE approvals SET status = ?, decided_by = ?, comment = ?, decided_at = ? WHERE approval_id = ?",
                   ("approved" if approved else "rejected", decided_by, comment, utc_now(), approval_id))
        return 200, approval_json(find_approval(db, approval_id)), False

    identity = {"approval_id": approval_id, "approved": approved, "decided_by": decided_by}
    return apply_once(db, key, "decision", identity, apply)


# --- Inventory, reservations, carriers, shipments (module 09) -------------------------------------------


def item_json(row: sqlite3.Row) -> dict:
    return {"sku": row["sku"], "name": row["name"], "in_stock": row["in_stock"], "reserved": row["reserved"]}


def reservation_json(db: sqlite3.Connection, row: sqlite3.Row) -> dict:
    items = db.execute("SELECT sku, quantity FROM reservation_items WHERE reservation_id = ? ORDER BY rowid",
                       (row["reservation_id"],))
    return {"reservation_id": row["reservation_id"], "order_id": row["order_id"],
            "items": [{"sku": item["sku"], "quantity": item["quantity"]} for item in items],
            "status": row["status"], "created_at": row["created_at"], "released_at": row["released_at"]}


def find_reservation(db: sqlite3.Connection, reservation_id: str) -> sqlite3.Row:
    row = db.execute("SELECT * FROM reservations WHERE reservation_id = ?", (reservation_id,)).fetchone()
    if row is None:
        raise ApiError(404, "unknown_reservation", f"There is no reservation {shown(reservation_id)} "
                       "(a reset forgets every reservation).")
    return row


def reserve(db: sqlite3.Connection, order_id: str, items: list[tuple[str, int]], key: str) -> Outcome:
    """Reserve every item or none."""

    def apply() -> Outcome:
        stock = {}
        for sku, _quantity in items:
            row = db.execute("SELECT * FROM inventory WHERE sku = ?", (sku,)).fetchone()
            if row is None:
                known = ", ".join(r["sku"] for r in db.execute("SELECT sku FROM inventory ORDER BY rowid"))
                raise ApiError(404, "unknown_item", f"There is no item {shown(sku)}. Items: {known}.")
            stock[sku] = row
        for sku, quantity in items:
            if quantity > stock[sku]["in_stock"]:
                raise ApiError(409, "out_of_stock",
                               f"Not enough {stock[sku]['name']!r} ({sku}): the order asks for {quantity}, "
                               f"{stock[sku]['in_stock']} left. Nothing was reserved.")
        reservation_id = new_id("reservation")
        db.execute("INSERT INTO reservations (reservation_id, order_id, status, created_at) VALUES (?, ?, 'active', ?)",
                   (reservation_id, order_id, utc_now()))
        for sku, quantity in items:
            db.execute("UPDATE inventory SET in_stock = in_stock - ?, reserved = reserved + ? WHERE sku = ?",
                       (quantity, quantity, sku))
            db.execute("INSERT INTO reservation_items (reservation_id, sku, quantity) VALUES (?, ?, ?)",
                       (reservation_id, sku, quantity))
        return 201, reservation_json(db, find_reservation(db, reservation_id)), False

    identity = {"order_id": order_id, "items": sorted([sku, quantity] for sku, quantity in items)}
    return apply_once(db, key, "reservation", identity, apply)


def release_reservation(db: sqlite3.Connection, reservation_id: str, key: str | None) -> tuple[Outcome, bool]:
    """(outcome, whether this release's answer is to be lost: see GLITCHY_SKU)."""
    glitch = False

    def apply() -> Outcome:
        nonlocal glitch
        reservation = find_reservation(db, reservation_id)
        if reservation["status"] == "released":
            return 200, reservation_json(db, reservation), True
        items = db.execute("SELECT sku, quantity FROM reservation_items WHERE reservation_id = ?", (reservation_id,))
        for item in items.fetchall():
            db.execute("UPDATE inventory SET in_stock = in_stock + ?, reserved = reserved - ? WHERE sku = ?",
                       (item["quantity"], item["quantity"], item["sku"]))
            glitch = glitch or item["sku"] == GLITCHY_SKU
        # Stored with the release itself, so the answer is lost exactly once, even across a restart.
        db.execute("UPDATE reservations SET status = 'released', released_at = ?, release_answer_lost = ?"
                   " WHERE reservation_id = ?", (utc_now(), int(glitch), reservation_id))
        return 200, reservation_json(db, find_reservation(db, reservation_id)), False

    def current(_earlier: Earlier) -> dict:
        return reservation_json(db, find_reservation(db, reservation_id))

    outcome = apply_once(db, key, "release_reservation", {"reservation_id": reservation_id}, apply, replay=current)
    return outcome, glitch and not outcome[2]


def carrier_json(row: sqlite3.Row) -> dict:
    return {"name": row["name"], "available": bool(row["available"])}


def find_carrier(db: sqlite3.Connection, name: str, status: int) -> sqlite3.Row:
    row = db.execute("SELECT * FROM carriers WHERE name = ?", (name,)).fetchone()
    if row is None:
        known = ", ".join(r["name"] for r in db.execute("SELECT name FROM carriers ORDER BY rowid"))
        raise ApiError(status, "unknown_carrier", f"There is no carrier {shown(name)}. Carriers: {known}.")
    return row


def shipment_json(row: sqlite3.Row) -> dict:
    return {"shipment_id": row["shipment_id"], "order_id": row["order_id"], "carrier": row["carrier"],
            "address": row["address"], "status": row["status"], "created_at": row["created_at"],
            "cancelled_at": row["cancelled_at"]}


def find_shipment(db: sqlite3.Connection, shipment_id: str) -> sqlite3.Row:
    row = db.execute("SELECT * FROM shipments WHERE shipment_id = ?", (shipment_id,)).fetchone()
    if row is None:
        raise ApiError(404, "unknown_shipment", f"There is no shipment {shown(shipment_id)} "
                       "(a reset forgets every shipment).")
    return row


def ship(db: sqlite3.Connection, order_id: str, carrier: str, address: str, key: str) -> Outcome:
    def apply() -> Outcome:
        if not find_carrier(db, carrier, 422)["available"]:
            raise ApiError(503, "carrier_unavailable", f"Carrier {carrier!r} is not taking shipments right now; "
                           "nothing was created. Retrying later may work.")
        shipment_id = new_id("shipment")
        db.execute("INSERT INTO shipments (shipment_id, order_id, carrier, address, status, created_at)"
                   " VALUES (?, ?, ?, ?, 'created', ?)", (shipment_id, order_id, carrier, address, utc_now()))
        return 201, shipment_json(find_shipment(db, shipment_id)), False

    return apply_once(db, key, "shipment", {"order_id": order_id, "carrier": carrier, "address": address}, apply)


def cancel_shipment(db: sqlite3.Connection, shipment_id: str, key: str | None) -> Outcome:
    def apply() -> Outcome:
        shipment = find_shipment(db, shipment_id)
        if shipment["status"] == "cancelled":
            return 200, shipment_json(shipment), True
        db.execute("UPDATE shipments SET status = 'cancelled', cancelled_at = ? WHERE shipment_id = ?",
                   (utc_now(), shipment_id))
        return 200, shipment_json(find_shipment(db, shipment_id)), False

    def current(_earlier: Earlier) -> dict:
        return shipment_json(find_shipment(db, shipment_id))

    return apply_once(db, key, "cancel_shipment", {"shipment_id": shipment_id}, apply, replay=current)


# --- Faults and counters (in memory: a restart clears them, like a reset) -------------------------


@dataclass(frozen=True)
class Faults:
    error_rate: float = 0.0
    lost_response_rate: float = 0.0
    delay_ms: int = 0
    down: bool = False
    seed: int | None = None


def _is_int(value: object) -> bool:
    return type(value) is int  # bool is a subclass of int, and true is not a number here


def _is_rate(value: Any) -> bool:
    return (_is_int(value) or type(value) is float) and math.isfinite(value) and 0 <= value <= 1


FAULT_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {  # field: (accepts, what is accepted)
    "error_rate": (_is_rate, "a number from 0 to 1"),
    "lost_response_rate": (_is_rate, "a number from 0 to 1"),
    "delay_ms": (lambda v: _is_int(v) and 0 <= v <= MAX_DELAY_MS, f"a whole number from 0 to {MAX_DELAY_MS}"),
    "down": (lambda v: type(v) is bool, "true or false"),
    "seed": (lambda v: v is None or _is_int(v), "a whole number or null"),
}


def parse_fault_changes(body: object) -> dict:
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_fault_config",
                       f"Send a JSON object with any of: {', '.join(FAULT_RULES)}.")
    for name, value in body.items():
        if name not in FAULT_RULES:
            raise ApiError(400, "invalid_fault_config",
                           f"Unknown fault setting {shown(name)}. Accepted: {', '.join(FAULT_RULES)}.")
        accepts, accepted = FAULT_RULES[name]
        if not accepts(value):
            raise ApiError(400, "invalid_fault_config",
                           f"{name} must be {accepted}; got {json.dumps(value)[:40]}.")
    return body


class Runtime:
    """The fault settings and the counters, shared by the request threads."""

    COUNTERS = ("mutations_applied", "replays", "rejected", "injected_faults", "lost_responses")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.set_faults(Faults())
        with self._lock:
            self._counts = dict.fromkeys(self.COUNTERS, 0)

    def set_faults(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            # A fresh generator on every change: the same settings and seed give the same sequence.
            self._rng = random.Random(faults.seed)

    def strikes(self, rate: float) -> bool:
        with self._lock:
            return rate > 0 and self._rng.random() < rate

    def count(self, counter: str) -> None:
        with self._lock:
            self._counts[counter] += 1

    def stats(self) -> dict:
        with self._lock:
            return dict(self._counts)


# --- Request parsing ------------------------------------------------------------------------------

# JSON may carry any code point, also a lone surrogate (\ud800) that is not text and that SQLite cannot
# store; names and IDs must not carry control characters either (they end up in logs and headers).
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f]")
TASK_TOKEN = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")


def idempotency_key() -> str:
    key = optional_idempotency_key()
    if key is None:
        raise ApiError(428, "missing_idempotency_key",
                       "Send an Idempotency-Key header (a string that names this one operation, e.g. the "
                       "workflow ID plus the step), so that a retried request is applied only once.")
    return key


def optional_idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None or not key.strip():
        return None
    if len(key) > MAX_KEY_LENGTH:
        raise ApiError(400, "malformed_idempotency_key",
                       f"The Idempotency-Key has {len(key)} characters; at most {MAX_KEY_LENGTH} are accepted.")
    return key


def json_body(example: str, optional: bool = False) -> dict:
    """The request's JSON object, or 400 malformed_body saying what to send instead."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if optional:
            return {}
        raise ApiError(400, "malformed_body", f"The request has no body. Send JSON like {example}.")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # also bytes that are not UTF-8, and integers of 4300+ digits
        raise ApiError(400, "malformed_body", f"The body is not valid JSON. Send JSON like {example}.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "malformed_body", f"The body must be a JSON object, like {example}.")
    return body


def text_field(body: dict, name: str, *, max_length: int, required: bool = False, free_text: bool = False,
               example: str = "") -> str | None:
    """A string field: an identifier or a name (stripped, no control characters) or, with ``free_text``,
    anything but a lone surrogate or NUL. None when it is absent and not ``required``."""
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, "malformed_body", f"The body needs a {name!r} field, like {example}.")
        return None
    kind = "text" if free_text else "a name"
    if not isinstance(value, str):
        raise ApiError(400, "malformed_body", f"{name} must be a string ({kind}); got {json.dumps(value)[:40]}.")
    if not free_text:
        value = value.strip()
    if required and not value.strip():
        raise ApiError(400, "malformed_body", f"{name} must not be empty.")
    if len(value) > max_length:
        raise ApiError(400, "malformed_body", f"{name} has {len(value)} characters; at most {max_length} are accepted.")
    if LONE_SURROGATE.search(value) or "\x00" in value or (not free_text and CONTROL_CHARACTER.search(value)):
        what = "NUL or a lone surrogate (\\ud800-\\udfff)" if free_text else "control characters or lone surrogates"
        raise ApiError(400, "malformed_body", f"{name} must not contain {what}.")
    return value


def required_text(body: dict, name: str, *, max_length: int, example: str, free_text: bool = False) -> str:
    value = text_field(body, name, max_length=max_length, required=True, free_text=free_text, example=example)
    if value is None:  # text_field refuses a missing field already; this tells the type checker
        raise ApiError(400, "malformed_body", f"The body needs a {name!r} field, like {example}.")
    return value


def amount_field(body: dict, example: str) -> int:
    if "amount_cents" not in body:
        raise ApiError(400, "malformed_body", f'The body must be a JSON object with an "amount_cents" field, like {example}.')
    amount = body["amount_cents"]
    # json.loads accepts NaN and Infinity (floats) and true (a bool, i.e. an int): only a real int passes.
    if not _is_int(amount) or not 0 < amount <= MAX_AMOUNT_CENTS:
        raise ApiError(422, "invalid_amount",
                       f"amount_cents must be a whole number of cents (no decimal point, no quotes) from 1 to "
                       f"{MAX_AMOUNT_CENTS}; got {json.dumps(amount)[:40]}.")
    return amount


def account_body() -> tuple[str, str, int]:
    """(id, owner, opening balance) of an account to open."""
    body = json_body(EXAMPLE_ACCOUNT)
    account_id = required_text(body, "id", max_length=MAX_ID_LENGTH, example=EXAMPLE_ACCOUNT)
    if not ACCOUNT_ID.fullmatch(account_id):
        raise ApiError(400, "malformed_body", f"id must be 1 to 40 letters, digits, '.', '_' or '-', starting with a "
                       f"letter or a digit (it becomes part of URLs); got {shown(account_id)}.")
    owner = required_text(body, "owner", max_length=MAX_NAME_LENGTH, example=EXAMPLE_ACCOUNT)
    balance = body.get("balance_cents", 0)
    if not _is_int(balance) or not 0 <= balance <= MAX_AMOUNT_CENTS:
        raise ApiError(422, "invalid_amount", f"balance_cents must be a whole number of cents from 0 to "
                       f"{MAX_AMOUNT_CENTS}; got {json.dumps(balance)[:40]}.")
    return account_id, owner, balance


def bool_field(body: dict, name: str, example: str) -> bool:
    value = body.get(name)
    if type(value) is not bool:
        raise ApiError(400, "malformed_body", f"{name} must be true or false, like {example}; got "
                       f"{json.dumps(value)[:40]}.")
    return value


def mutation_body() -> tuple[int, str | None]:
    """(amount_cents, reference) of a withdraw or deposit."""
    body = json_body(EXAMPLE_BODY)
    amount = amount_field(body, EXAMPLE_BODY)
    return amount, text_field(body, "reference", max_length=MAX_REFERENCE_LENGTH, free_text=True)


def approval_body() -> dict:
    body = json_body(EXAMPLE_APPROVAL)
    fields: dict[str, Any] = {name: required_text(body, name, max_length=MAX_ID_LENGTH, example=EXAMPLE_APPROVAL)
                              for name in ("transfer_id", "from_account", "to_account")}
    fields["amount_cents"] = amount_field(body, EXAMPLE_APPROVAL)
    fields["note"] = text_field(body, "note", max_length=MAX_TEXT_LENGTH, free_text=True)
    token = body.get("task_token")
    if token is not None and not (isinstance(token, str) and len(token) <= MAX_TASK_TOKEN_LENGTH
                                  and TASK_TOKEN.fullmatch(token)):
        raise ApiError(400, "malformed_body", f"task_token must be a base64 string of at most {MAX_TASK_TOKEN_LENGTH} "
                       "characters (the activity's task token, e.g. base64.b64encode(activity.info().task_token)).")
    fields["task_token"] = token
    return fields


def reservation_items(body: dict) -> list[tuple[str, int]]:
    items = body.get("items")
    if not isinstance(items, list) or not items or len(items) > MAX_ITEMS:
        raise ApiError(400, "malformed_body", f"items must be a list of 1 to {MAX_ITEMS} objects with a sku and a "
                       f"quantity, like {EXAMPLE_RESERVATION}.")
    parsed: dict[str, int] = {}
    for item in items:
        if not isinstance(item, dict):
            raise ApiError(400, "malformed_body", f"Each item must be an object like {{\"sku\": \"widget\", \"quantity\": 2}}; "
                           f"got {json.dumps(item)[:40]}.")
        sku = required_text(item, "sku", max_length=MAX_ID_LENGTH, example=EXAMPLE_RESERVATION)
        quantity: Any = item.get("quantity")
        if not _is_int(quantity) or not 0 < quantity <= MAX_QUANTITY:
            raise ApiError(422, "invalid_quantity", f"quantity must be a whole number from 1 to {MAX_QUANTITY}; "
                           f"got {json.dumps(quantity)[:40]} for {shown(sku)}.")
        if sku in parsed:
            raise ApiError(400, "malformed_body", f"{shown(sku)} is listed twice; list each item once.")
        parsed[sku] = quantity
    return list(parsed.items())


def list_limit(default: int = 100) -> int:
    raw = request.args.get("limit", str(default))
    limit = int(raw) if raw.isdecimal() and len(raw) < 6 else 0
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise ApiError(400, "invalid_limit",
                       f"limit must be a whole number from 1 to {MAX_LIST_LIMIT}; got {shown(raw)}.")
    return limit


def status_filter(allowed: tuple[str, ...]) -> str | None:
    status = request.args.get("status")
    if status is not None and status not in allowed:
        raise ApiError(400, "invalid_status", f"status must be one of {', '.join(allowed)}; got {shown(status)}.")
    return status


# --- Who may change the bank ----------------------------------------------------------------------
#
# The bank listens on loopback, but so does the learner's browser: any page it visits could send
# requests here. A change (any POST, PUT, PATCH or DELETE, admin included) is therefore refused when
#   - its Host header names somebody else's site (DNS rebinding: evil.example resolved to 127.0.0.1),
#   - it says it comes from another origin (Origin other than this bank's, "null", Sec-Fetch-Site), or
#   - it is something a plain HTML form or a no-cors fetch can send: a form's content type, or a body
#     without any (a browser cannot send application/json across sites without a CORS preflight, and
#     the bank answers no preflight).
# Clients that are not browsers (httpx, curl) send no Origin and pass, also with no body at all.
# Admin changes come from this machine, or with `Authorization: Bearer <WORKSHOP_ADMIN_TOKEN>`.

FORM_CONTENT_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def host_and_port(authority: str) -> tuple[str, int | None] | None:
    """("name", port) of a Host header or an origin's authority, lowercased; None when it is malformed."""
    try:
        parts = urlsplit(f"//{authority}")
        name, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not name or parts.username is not None or parts.path or parts.query or parts.fragment:
        return None
    return name.rstrip("."), port


def is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def is_loopback_address(address: str | None) -> bool:
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    mapped = getattr(parsed, "ipv4_mapped", None)
    return parsed.is_loopback or bool(mapped and mapped.is_loopback)


def is_loopback_bind(host: str) -> bool:
    return host == "localhost" or is_loopback_address(host)


def machine_names(bound_host: str) -> frozenset[str]:
    """The names under which other machines may reach a bank bound to ``bound_host``."""
    if is_loopback_bind(bound_host):
        return frozenset()
    names = {bound_host, socket.gethostname(), socket.getfqdn(), f"{socket.gethostname()}.local"}
    return frozenset(name.lower().rstrip(".") for name in names if name and not is_ip_address(name))


@dataclass(frozen=True)
class Guard:
    """The rules above, for one bank; ``names`` are the host names it answers to besides localhost."""

    names: frozenset[str] = frozenset()

    def is_own_host(self, name: str) -> bool:
        # An IP address cannot be rebound: a browser that sends it connected to it, so it is ours (perhaps
        # through a port forward, which is also why the port is not compared). Names are rebindable,
        # except localhost, which browsers resolve to loopback themselves.
        return is_ip_address(name) or name == "localhost" or name.endswith(".localhost") or name in self.names

    def check_change(self) -> None:
        """Refuse a state-changing request that a web page could have sent, or an admin change from afar."""
        host_header = request.headers.get("Host")
        host = host_and_port(host_header) if host_header is not None else None
        if host_header is not None and (host is None or not self.is_own_host(host[0])):
            raise ApiError(421, "unknown_host", f"This bank does not answer to the host {shown(host_header)}. "
                           "Use the address it printed when it started (e.g. http://127.0.0.1:8077).")
        self.check_origin(host)
        self.check_content_type()
        if request.path.startswith("/admin/"):
            self.check_admin()

    def check_origin(self, host: tuple[str, int | None] | None) -> None:
        refusal = "Changes are accepted from this bank's own dashboard and from programs, not from other web pages."
        fetch_site = request.headers.get("Sec-Fetch-Site")
        if fetch_site is not None and fetch_site.lower() not in ("same-origin", "none"):
            raise ApiError(403, "cross_site_request", f"The browser says this request comes from another site "
                           f"(Sec-Fetch-Site: {shown(fetch_site)}). {refusal}")
        origin = request.headers.get("Origin")
        if origin is None:
            return
        try:
            parts = urlsplit(origin) if origin.count("://") == 1 else None
        except ValueError:  # e.g. "http://[", an IPv6 address never closed: not an origin, so not this bank's
            parts = None
        authority = host_and_port(parts.netloc) if parts and parts.scheme in DEFAULT_PORTS else None
        if authority is None or host is None:
            raise ApiError(403, "cross_site_request", f"The request comes from the origin {shown(origin)}. {refusal}")
        assert parts is not None
        default = DEFAULT_PORTS[parts.scheme]
        if (authority[0], authority[1] or default) != (host[0], host[1] or default):
            raise ApiError(403, "cross_site_request", f"The request comes from the origin {shown(origin)}, not from "
                           f"this bank. {refusal}")

    @staticmethod
    def check_content_type() -> None:
        declared = request.headers.get("Content-Type")
        has_body = bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        if declared is None and not has_body:
            return  # e.g. POST /admin/reset or a release: nothing a form could have filled
        mimetype = request.mimetype
        if mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json")):
            return
        what = "a form's content type" if mimetype in FORM_CONTENT_TYPES else (
            f"Content-Type {shown(declared)}" if declared else "a body without a Content-Type")
        raise ApiError(415, "json_required", f"This request has {what}. Send the body as JSON with "
                       "Content-Type: application/json (or no body at all where none is needed).")

    @staticmethod
    def check_admin() -> None:
        token = settings.current().admin_token
        authorization = request.headers.get("Authorization")
        if authorization is not None:
            scheme, _, presented = authorization.partition(" ")
            if token is None or scheme.lower() != "bearer" or not hmac.compare_digest(
                    presented.strip().encode("utf-8", "surrogateescape"), token.encode("utf-8", "surrogateescape")):
                raise ApiError(401, "admin_token_required", "The admin token is not the one this bank was started "
                               "with (WORKSHOP_ADMIN_TOKEN where the bank runs). Send Authorization: Bearer <token>.")
            return
        if is_loopback_address(request.remote_addr):
            return
        if token is None:
            raise ApiError(403, "admin_from_loopback_only", "Admin changes (faults, reset, carriers) are accepted "
                           "only from the bank's own machine: this bank was started without WORKSHOP_ADMIN_TOKEN.")
        raise ApiError(401, "admin_token_required", "Admin changes from another machine need the bank's admin "
                       "token: send Authorization: Bearer <token> (WORKSHOP_ADMIN_TOKEN where the bank runs).")


# --- The API description: GET /openapi.json ----------------------------------------------------------
#
# Written by hand, next to the code it describes. tests/test_account_api_contract.py keeps the two in agreement
# (every route is described and nothing else, every error the code raises is listed), and the fuzzer in
# tests/test_account_api_fuzz.py checks every answer it gets against it. For learners: docs/account_api.md.

NAME = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH}
TEXT = {"type": ["string", "null"], "maxLength": MAX_TEXT_LENGTH}
CENTS = {"type": "integer", "minimum": 1, "maximum": MAX_AMOUNT_CENTS}
COUNT = {"type": "integer", "minimum": 0}
TIME = {"type": "string", "description": "ISO 8601, UTC, milliseconds"}
TIME_OR_NULL = {"type": ["string", "null"], "description": "ISO 8601, UTC, milliseconds"}


def _obj(properties: dict, optional: tuple[str, ...] = (), closed: bool = True) -> dict:
    """An object schema whose properties are all required but ``optional``; ``closed``: nothing else."""
    schema = {"type": "object", "properties": properties, "required": [p for p in properties if p not in optional]}
    return {**schema, "additionalProperties": False} if closed else schema


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _list(name: str) -> dict:
    return {"type": "array", "items": _ref(name)}


REPLAYED = {"replayed": {"type": "boolean", "description": "true: an earlier request with this Idempotency-Key "
                                                        "was applied; this is its answer again"}}
ACCOUNT = {"id": {"type": "string"}, "owner": {"type": "string"}, "balance_cents": COUNT, "held_cents": COUNT,
           "available_cents": COUNT}
RECEIPT = {"transaction_id": {"type": "integer"}, "account": {"type": "string"},
           "kind": {"enum": ["withdraw", "deposit"]}, "amount_cents": CENTS, "balance_cents": COUNT,
           "idempotency_key": {"type": "string"}}
HOLD = {"hold_id": {"type": "string"}, "account": {"type": "string"}, "amount_cents": CENTS,
        "status": {"enum": list(HOLD_STATUSES)}, "reference": {"type": ["string", "null"]},
        "transaction_id": {"type": ["integer", "null"], "description": "the ledger's withdraw, once captured"},
        "created_at": TIME, "updated_at": TIME}
APPROVAL = {"approval_id": {"type": "string"}, "transfer_id": {"type": "string"}, "from_account": {"type": "string"},
            "to_account": {"type": "string"}, "amount_cents": CENTS, "note": {"type": ["string", "null"]},
            "status": {"enum": list(APPROVAL_STATUSES)}, "decided_by": {"type": ["string", "null"]},
            "comment": {"type": ["string", "null"]}, "created_at": TIME, "decided_at": TIME_OR_NULL}
RESERVATION = {"reservation_id": {"type": "string"}, "order_id": {"type": "string"},
               "items": {"type": "array", "items": _obj({"sku": {"type": "string"},
                                                         "quantity": {"type": "integer", "minimum": 1}})},
               "status": {"enum": list(RESERVATION_STATUSES)}, "created_at": TIME, "released_at": TIME_OR_NULL}
SHIPMENT = {"shipment_id": {"type": "string"}, "order_id": {"type": "string"}, "carrier": {"type": "string"},
            "address": {"type": "string"}, "status": {"enum": list(SHIPMENT_STATUSES)}, "created_at": TIME,
            "cancelled_at": TIME_OR_NULL}
FAULTS = {"error_rate": {"type": "number", "minimum": 0, "maximum": 1},
          "lost_response_rate": {"type": "number", "minimum": 0, "maximum": 1},
          "delay_ms": {"type": "integer", "minimum": 0, "maximum": MAX_DELAY_MS}, "down": {"type": "boolean"},
          "seed": {"type": ["integer", "null"], "description": "the same seed and settings, the same faults"}}
TOKEN = {"type": ["string", "null"], "maxLength": MAX_TASK_TOKEN_LENGTH, "pattern": f"^{TASK_TOKEN.pattern}$"}

SCHEMAS: dict[str, dict] = {
    "Error": _obj({"error": {"type": "string", "minLength": 1, "description": "a code a program can act on"},
                   "message": {"type": "string", "minLength": 1, "description": "what happened and what to do"}}),
    "Health": _obj({"status": {"const": "ok"}}),
    "Account": _obj(ACCOUNT),
    "OpenedAccount": _obj({**ACCOUNT, **REPLAYED}),
    "Accounts": _obj({"accounts": _list("Account")}),
    "Receipt": _obj({**RECEIPT, **REPLAYED}),
    "LedgerEntry": _obj({**RECEIPT, "reference": {"type": ["string", "null"]}, "created_at": TIME}),
    "Ledger": _obj({"entries": _list("LedgerEntry")}),
    "AccountLedger": _obj({"account": {"type": "string"}, "entries": _list("LedgerEntry")}),
    "Hold": _obj(HOLD),
    "HoldChange": _obj({**HOLD, "balance_cents": COUNT, "available_cents": COUNT, **REPLAYED}),
    "AccountHolds": _obj({"account": {"type": "string"}, "holds": _list("Hold")}),
    "Approval": _obj({**APPROVAL, "task_token": {"type": ["string", "null"]}}),
    "ApprovalChange": _obj({**APPROVAL, "task_token": {"type": ["string", "null"]}, **REPLAYED}),
    "ApprovalWithoutToken": _obj(APPROVAL),
    "Approvals": _obj({"approvals": _list("Approval")}),
    "Item": _obj({"sku": {"type": "string"}, "name": {"type": "string"}, "in_stock": COUNT, "reserved": COUNT}),
    "Inventory": _obj({"items": _list("Item")}),
    "Reservation": _obj(RESERVATION),
    "ReservationChange": _obj({**RESERVATION, **REPLAYED}),
    "Reservations": _obj({"reservations": _list("Reservation")}),
    "Shipment": _obj(SHIPMENT),
    "ShipmentChange": _obj({**SHIPMENT, **REPLAYED}),
    "Shipments": _obj({"shipments": _list("Shipment")}),
    "Carrier": _obj({"name": {"type": "string"}, "available": {"type": "boolean"}}),
    "Carriers": _obj({"carriers": _list("Carrier")}),
    "Faults": _obj(FAULTS),
    "Stats": _obj({name: COUNT for name in Runtime.COUNTERS}),
    "Reset": _obj({"status": {"const": "reset"}, "accounts": _list("Account")}),
    "Overview": _obj({"accounts": _list("Account"), "ledger": _list("LedgerEntry"), "holds": _list("Hold"),
                      "approvals": _list("ApprovalWithoutToken"), "inventory": _list("Item"),
                      "reservations": _list("Reservation"), "shipments": _list("Shipment"),
                      "carriers": _list("Carrier"), "faults": _ref("Faults"), "stats": _ref("Stats")}),
    # Request bodies. Fields not listed are ignored.
    "MoneyRequest": _obj({"amount_cents": CENTS, "reference": {**TEXT, "maxLength": MAX_REFERENCE_LENGTH}},
                         optional=("reference",), closed=False),
    "ApprovalRequest": _obj({"transfer_id": NAME, "from_account": NAME, "to_account": NAME, "amount_cents": CENTS,
                             "note": TEXT, "task_token": TOKEN}, optional=("note", "task_token"), closed=False),
    "Decision": _obj({"approved": {"type": "boolean"}, "decided_by": {**NAME, "maxLength": MAX_NAME_LENGTH},
                      "comment": TEXT}, optional=("comment",), closed=False),
    "ReservationRequest": _obj({"order_id": NAME, "items": {
        "type": "array", "minItems": 1, "maxItems": MAX_ITEMS, "items": _obj(
            {"sku": NAME, "quantity": {"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY}}, closed=False),
        "description": "each sku once"}}, closed=False),
    "ShipmentRequest": _obj({"order_id": NAME, "carrier": {**NAME, "maxLength": MAX_NAME_LENGTH},
                             "address": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_LENGTH}},
                            closed=False),
    "FaultChanges": {**_obj(FAULTS), "required": [], "description": "any of the fields; the others keep their value"},
    "CarrierSwitch": _obj({"available": {"type": "boolean"}}, closed=False),
    "NewAccount": _obj({"id": {"type": "string", "pattern": f"^{ACCOUNT_ID.pattern}$"},
                        "owner": {**NAME, "maxLength": MAX_NAME_LENGTH}, "balance_cents": {**COUNT, "maximum": MAX_AMOUNT_CENTS}},
                       optional=("balance_cents",), closed=False),
}

# What the HTTP layer answers to any request it cannot read (a Host header that is not a host name, a broken
# chunked body), what every change may get before it is looked at (see Guard), and the fault modes' answers.
HTTP_ERRORS = {400: ["bad_request"]}
CHANGE_ERRORS = {403: ["cross_site_request"], 413: ["request_entity_too_large"], 415: ["json_required"],
                 421: ["unknown_host"]}
ADMIN_ERRORS = {401: ["admin_token_required"], 403: ["admin_from_loopback_only"]}
DOWN = {503: ["service_unavailable"]}
FAULTY_CHANGE = {503: ["service_unavailable", "injected_fault"], 504: ["response_lost"]}
KEYED = {400: ["malformed_idempotency_key"], 422: ["idempotency_key_reused"]}
STATUS_TEXT = {200: "OK", 201: "Created", 400: "Bad request", 401: "Admin token missing or wrong",
               403: "Refused: another site, or admin from another machine", 404: "Not found",
               409: "Conflicts with the current state", 413: "Body larger than 64 KiB",
               415: "Body not sent as JSON", 421: "Host header of another site", 422: "Understood but not accepted",
               428: "Idempotency-Key header missing", 503: "Not applied: retrying is safe",
               504: "Applied, but the answer was lost: retry with the same Idempotency-Key"}


def _operation(summary: str, ok: int, schema: str, errors: dict[int, list[str]], *, change: bool = False,
               admin: bool = False, faulty: bool = False, body: str | None = None, key: str | None = None,
               query: tuple[str, ...] = (), statuses: tuple[str, ...] = ()) -> dict:
    """One operation answering ``ok`` with the component ``schema`` ("html", "object": no component), or an error
    of ``errors`` or of the kinds that apply; ``key`` "required"/"optional": an Idempotency-Key header;
    ``query``: of "limit", "status" (one of ``statuses``), "order_id"."""
    answers: dict[int, list[str]] = {}
    for extra in (errors, HTTP_ERRORS, CHANGE_ERRORS if change else {}, ADMIN_ERRORS if admin else {},
                  (FAULTY_CHANGE if change else DOWN) if faulty else {}, KEYED if key else {}):
        for status, codes in extra.items():
            answers.setdefault(status, []).extend(code for code in codes if code not in answers.get(status, []))
    if key == "required":
        answers.setdefault(428, []).append("missing_idempotency_key")
    content = {"text/html": {"schema": {"type": "string"}}} if schema == "html" else {
        "application/json": {"schema": {"type": "object"} if schema == "object" else _ref(schema)}}
    responses: dict[str, Any] = {str(ok): {"description": STATUS_TEXT[ok], "content": content}}
    for status, codes in sorted(answers.items()):
        error_schema = {**_ref("Error"), "properties": {"error": {"enum": codes}}}
        responses[str(status)] = {"description": STATUS_TEXT[status],
                                  "content": {"application/json": {"schema": error_schema}}}
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    parameters = []
    if key:
        parameters.append({"name": "Idempotency-Key", "in": "header", "required": key == "required",
                           "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
                           "description": "names this one change: a retry with the same key gets the first answer "
                                          "and changes nothing"})
    if "limit" in query:
        parameters.append({"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                       "maximum": MAX_LIST_LIMIT}})
    if "status" in query:
        parameters.append({"name": "status", "in": "query", "schema": {"enum": list(statuses)}})
    if "order_id" in query:
        parameters.append({"name": "order_id", "in": "query", "schema": {"type": "string"}})
    if parameters:
        operation["parameters"] = parameters
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    return operation


def _path_parameter(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def openapi_description() -> dict:
    """The bank's API in OpenAPI 3.1, served at GET /openapi.json."""
    money = {400: ["malformed_body"], 404: ["unknown_account"], 422: ["invalid_amount"]}
    paths: dict[str, dict[str, Any]] = {
        "/health": {"get": _operation("Is the bank up? (never affected by fault modes)", 200, "Health", {})},
        "/accounts": {"get": _operation("Every account", 200, "Accounts", {}, faulty=True)},
        "/accounts/{account_id}": {"get": _operation("One account", 200, "Account", {404: ["unknown_account"]},
                                                     faulty=True)},
        "/accounts/{account_id}/withdraw": {"post": _operation(
            "Take money out, once per Idempotency-Key", 200, "Receipt", {**money, 409: ["insufficient_funds"]},
            change=True, faulty=True, body="MoneyRequest", key="required")},
        "/accounts/{account_id}/deposit": {"post": _operation(
            "Put money in, once per Idempotency-Key", 200, "Receipt", money, change=True, faulty=True,
            body="MoneyRequest", key="required")},
        "/accounts/{account_id}/ledger": {"get": _operation(
            "The account's ledger, newest first", 200, "AccountLedger",
            {400: ["invalid_limit"], 404: ["unknown_account"]}, faulty=True, query=("limit",))},
        "/ledger": {"get": _operation("Every account's ledger, newest first", 200, "Ledger", {400: ["invalid_limit"]},
                                      faulty=True, query=("limit",))},
        "/accounts/{account_id}/holds": {
            "post": _operation("Hold money: it stays in the balance but is no longer available", 201, "HoldChange",
                               {**money, 409: ["insufficient_funds"]}, change=True, faulty=True,
                               body="MoneyRequest", key="required"),
            "get": _operation("The account's holds, newest first", 200, "AccountHolds",
                              {400: ["invalid_limit", "invalid_status"], 404: ["unknown_account"]}, faulty=True,
                              query=("limit", "status"), statuses=HOLD_STATUSES)},
        "/holds/{hold_id}": {"get": _operation("One hold", 200, "Hold", {404: ["unknown_hold"]}, faulty=True)},
        **{f"/holds/{{hold_id}}/{verb}": {"post": _operation(
            f"{verb.capitalize()} a hold (again: answered as a replay; the other verb: refused)", 200, "HoldChange",
            {400: ["malformed_body"], 404: ["unknown_hold"], 409: ["hold_not_active"]}, change=True, faulty=True,
            key="optional")} for verb in ("release", "capture")},
        "/approvals": {
            "post": _operation("Ask a person to approve a transfer", 201, "ApprovalChange",
                               {400: ["malformed_body"], 404: ["unknown_account"], 422: ["invalid_amount"]},
                               change=True, faulty=True, body="ApprovalRequest", key="required"),
            "get": _operation("Approvals, newest first", 200, "Approvals", {400: ["invalid_limit", "invalid_status"]},
                              faulty=True, query=("limit", "status"), statuses=APPROVAL_STATUSES)},
        "/approvals/{approval_id}": {"get": _operation("One approval", 200, "Approval", {404: ["unknown_approval"]},
                                                       faulty=True)},
        "/approvals/{approval_id}/decision": {"post": _operation(
            "Approve or reject, once", 200, "ApprovalChange",
            {400: ["malformed_body"], 404: ["unknown_approval"], 409: ["already_decided"]}, change=True,
            faulty=True, body="Decision", key="optional")},
        "/inventory": {"get": _operation("Items in stock", 200, "Inventory", {}, faulty=True)},
        "/inventory/reservations": {
            "post": _operation("Reserve every item of an order, or none", 201, "ReservationChange",
                               {400: ["malformed_body"], 404: ["unknown_item"], 409: ["out_of_stock"],
                                422: ["invalid_quantity"]}, change=True, faulty=True, body="ReservationRequest",
                               key="required"),
            "get": _operation("Reservations, newest first (?order_id= finds an order's)", 200, "Reservations",
                              {400: ["invalid_limit", "invalid_status"]}, faulty=True,
                              query=("limit", "status", "order_id"), statuses=RESERVATION_STATUSES)},
        "/inventory/reservations/{reservation_id}": {"get": _operation(
            "One reservation", 200, "Reservation", {404: ["unknown_reservation"]}, faulty=True)},
        "/inventory/reservations/{reservation_id}/release": {"post": _operation(
            f"Put a reservation's items back (the first release of one holding a {GLITCHY_SKU!r} loses its answer)",
            200, "ReservationChange", {400: ["malformed_body"], 404: ["unknown_reservation"]}, change=True,
            faulty=True, key="optional")},
        "/shipments": {
            "post": _operation("Create a shipment", 201, "ShipmentChange",
                               {400: ["malformed_body"], 422: ["unknown_carrier"], 503: ["carrier_unavailable"]},
                               change=True, faulty=True, body="ShipmentRequest", key="required"),
            "get": _operation("Shipments, newest first", 200, "Shipments", {400: ["invalid_limit", "invalid_status"]},
                              faulty=True, query=("limit", "status"), statuses=SHIPMENT_STATUSES)},
        "/shipments/{shipment_id}": {"get": _operation("One shipment", 200, "Shipment", {404: ["unknown_shipment"]},
                                                       faulty=True)},
        "/shipments/{shipment_id}/cancel": {"post": _operation(
            "Cancel a shipment (again: answered as a replay)", 200, "ShipmentChange",
            {400: ["malformed_body"], 404: ["unknown_shipment"]}, change=True, faulty=True, key="optional")},
        "/admin/faults": {
            "get": _operation("The fault mode", 200, "Faults", {}),
            "put": _operation("Change the fault mode", 200, "Faults", {400: ["invalid_fault_config"]}, change=True,
                              admin=True, body="FaultChanges")},
        "/admin/reset": {"post": _operation("Back to the seed: accounts, inventory, carriers; no faults", 200,
                                            "Reset", {}, change=True, admin=True)},
        "/admin/accounts": {"post": _operation(
            "Open an account with an opening balance (a reset forgets it)", 201, "OpenedAccount",
            {400: ["malformed_body"], 409: ["account_exists"], 422: ["invalid_amount"]}, change=True, admin=True,
            body="NewAccount", key="optional")},
        "/admin/stats": {"get": _operation("Counters since the start or the last reset", 200, "Stats", {})},
        "/admin/carriers": {"get": _operation("Carriers and whether they take shipments", 200, "Carriers", {})},
        "/admin/carriers/{name}": {"put": _operation(
            "Switch a carrier on or off", 200, "Carrier", {400: ["malformed_body"], 404: ["unknown_carrier"]},
            change=True, admin=True, body="CarrierSwitch")},
        "/admin/overview": {"get": _operation("What the dashboard shows (never affected by fault modes)", 200,
                                              "Overview", {})},
        "/": {"get": _operation("The dashboard (HTML)", 200, "html", {})},
        "/openapi.json": {"get": _operation("This description", 200, "object", {})},
    }
    for path, operations in paths.items():
        names = re.findall(r"{(\w+)}", path)
        if names:
            operations["parameters"] = [_path_parameter(name) for name in names]
    return {
        "openapi": "3.1.0",
        "info": {"title": "The workshop's bank (account API)", "version": "1.0.0",
                 "description": "Money in integer cents; every change once per Idempotency-Key; errors as "
                                '{"error": code, "message": text}; fault modes at /admin/faults. For people: '
                                "docs/account_api.md in the workshop's repository. Any path not described answers "
                                "404 not_found, any method not described 405 method_not_allowed, both as JSON."},
        "servers": [{"url": f"http://{settings.LOCALHOST}:{settings.DEFAULT_API_PORT}"}],
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }


# --- The application ------------------------------------------------------------------------------


def create_app(db_path: Path | str, host_names: frozenset[str] | set[str] = frozenset()) -> Flask:
    """The bank on the SQLite file ``db_path``; ``host_names`` are the names (besides localhost and IP
    addresses) under which it accepts changes: see Guard."""
    db_path = Path(db_path)
    guard = Guard(frozenset(name.lower().rstrip(".") for name in host_names))
    init_db(db_path)
    app = Flask(__name__, static_folder=None)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep fields in the order they are documented
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    # One path per resource, answered where it is asked: Werkzeug would answer /accounts/ and //accounts with a
    # redirect (an HTML page, and a POST that a client sends again); /accounts/ is /accounts, //accounts unknown.
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False
    runtime = Runtime()
    # Opening a connection costs more than most requests' queries, and Werkzeug's server answers every
    # request on a thread of its own (it closes each HTTP connection): connections wait in a pool instead,
    # each used by one request at a time.
    pool: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()

    def db() -> sqlite3.Connection:
        connection: sqlite3.Connection | None = g.get("db")
        if connection is None:
            try:
                connection = pool.get_nowait()
            except queue.Empty:
                connection = connect(db_path)
            g.db = connection
        return connection

    @app.teardown_appcontext
    def give_back_connection(error: BaseException | None) -> None:
        connection: sqlite3.Connection | None = g.pop("db", None)
        if connection is not None:
            if connection.in_transaction:  # a request that died inside `transaction` (it rolls back itself)
                connection.rollback()
            pool.put(connection)

    def count_refusal(code: str) -> None:
        # Injected faults have a counter of their own, and a lost response was applied: neither is a refusal.
        if request.method in STATE_CHANGING_METHODS and code not in NOT_REFUSALS:
            runtime.count("rejected")

    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        count_refusal(error.code)
        return jsonify(error=error.code, message=error.message), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        # Unknown routes, wrong methods, bodies too large: JSON like every other error, never an HTML page.
        status = error.code or 500
        code = (error.name or "error").lower().replace(" ", "_")
        count_refusal(code)
        message = f"{error.name}: {request.method} {shown(request.path, 200)}. {error.description}"
        return jsonify(error=code, message=message), status

    @app.before_request
    def refuse_foreign_changes() -> None:
        if request.method in STATE_CHANGING_METHODS:
            guard.check_change()

    @app.after_request
    def security_headers(response):
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if "csp_nonce" in g:  # the dashboard: its own script and style only, and no other site may frame it
            nonce = g.csp_nonce
            response.headers["Content-Security-Policy"] = (
                f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
                "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
            response.headers["X-Frame-Options"] = "DENY"
        return response

    @app.before_request
    def inject_faults() -> None:
        if not request.path.startswith(FAULTY_PREFIXES):
            return
        faults = runtime.faults
        if faults.down:
            runtime.count("injected_faults")
            raise ApiError(503, "service_unavailable", "The account service is down (fault mode 'down').")
        if faults.delay_ms:
            time.sleep(faults.delay_ms / 1000)
        if request.method == "POST" and runtime.strikes(faults.error_rate):
            runtime.count("injected_faults")
            raise ApiError(503, "injected_fault", "Injected fault: nothing was applied. Retrying is safe.")

    def answer(outcome: Outcome, what: str, *, lose: bool = False, lost_because: str = ""):
        """The response to a change; a fresh change may lose it (fault mode, or ``lose``)."""
        status, body, replayed = outcome
        runtime.count("replays" if replayed else "mutations_applied")
        # Only fresh changes lose their answer, so that a retry with the same key always gets through.
        if not replayed and (lose or runtime.strikes(runtime.faults.lost_response_rate)):
            runtime.count("lost_responses")
            because = lost_because or "Injected fault"
            raise ApiError(504, "response_lost", f"{because}: the {what} WAS applied, but its response was lost. "
                           "Retry with the same Idempotency-Key (if you sent one) to get its result.")
        return {**body, "replayed": replayed}, status

    # --- accounts and ledger

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.get("/accounts")
    def list_accounts():
        return {"accounts": all_accounts(db())}

    @app.get("/accounts/<account_id>")
    def get_account(account_id: str):
        return account_json(find_account(db(), account_id))

    @app.post("/accounts/<account_id>/<any(withdraw, deposit):kind>")
    def withdraw_or_deposit(account_id: str, kind: str):
        key = idempotency_key()
        amount, reference = mutation_body()
        return answer(move_money(db(), account_id, kind, amount, key, reference), kind)

    @app.get("/accounts/<account_id>/ledger")
    def account_ledger(account_id: str):
        limit = list_limit(50)
        find_account(db(), account_id)
        rows = db().execute("SELECT * FROM ledger WHERE account_id = ? ORDER BY transaction_id DESC LIMIT ?",
                            (account_id, limit))
        return {"account": account_id, "entries": [ledger_entry(r) for r in rows]}

    def recent_ledger(limit: int) -> list[dict]:
        rows = db().execute("SELECT * FROM ledger ORDER BY transaction_id DESC LIMIT ?", (limit,))
        return [ledger_entry(r) for r in rows]

    @app.get("/ledger")
    def all_ledger():
        return {"entries": recent_ledger(list_limit(50))}

    # --- holds

    @app.post("/accounts/<account_id>/holds")
    def create_hold(account_id: str):
        key = idempotency_key()
        body = json_body(EXAMPLE_HOLD)
        amount = amount_field(body, EXAMPLE_HOLD)
        reference = text_field(body, "reference", max_length=MAX_REFERENCE_LENGTH, free_text=True)
        return answer(place_hold(db(), account_id, amount, reference, key), "hold")

    @app.get("/accounts/<account_id>/holds")
    def account_holds(account_id: str):
        status, limit = status_filter(HOLD_STATUSES), list_limit()
        find_account(db(), account_id)
        rows = db().execute("SELECT * FROM holds WHERE account_id = ? AND (? IS NULL OR status = ?)"
                            " ORDER BY created_at DESC, rowid DESC LIMIT ?", (account_id, status, status, limit))
        return {"account": account_id, "holds": [hold_json(row) for row in rows]}

    @app.get("/holds/<hold_id>")
    def get_hold(hold_id: str):
        return hold_json(find_hold(db(), hold_id))

    @app.post("/holds/<hold_id>/<any(release, capture):verb>")
    def end_hold_route(hold_id: str, verb: str):
        key = optional_idempotency_key()
        json_body("{}", optional=True)
        return answer(end_hold(db(), hold_id, "released" if verb == "release" else "captured", key), verb)

    # --- approvals

    @app.post("/approvals")
    def create_approval():
        key = idempotency_key()
        return answer(request_approval(db(), approval_body(), key), "approval request")

    @app.get("/approvals")
    def list_approvals():
        status, limit = status_filter(APPROVAL_STATUSES), list_limit()
        rows = db().execute("SELECT * FROM approvals WHERE ? IS NULL OR status = ? ORDER BY created_at DESC,"
                            " rowid DESC LIMIT ?", (status, status, limit))
        return {"approvals": [approval_json(row) for row in rows]}

    @app.get("/approvals/<approval_id>")
    def get_approval(approval_id: str):
        return approval_json(find_approval(db(), approval_id))

    @app.post("/approvals/<approval_id>/decision")
    def decide_approval(approval_id: str):
        key = optional_idempotency_key()
        body = json_body(EXAMPLE_DECISION)
        approved = bool_field(body, "approved", EXAMPLE_DECISION)
        decided_by = required_text(body, "decided_by", max_length=MAX_NAME_LENGTH, example=EXAMPLE_DECISION)
        comment = text_field(body, "comment", max_length=MAX_TEXT_LENGTH, free_text=True)
        return answer(decide(db(), approval_id, approved, decided_by, comment, key), "decision")

    # --- inventory and shipments

    def inventory_items() -> list[dict]:
        return [item_json(row) for row in db().execute("SELECT * FROM inventory ORDER BY rowid")]

    @app.get("/inventory")
    def inventory():
        return {"items": inventory_items()}

    @app.post("/inventory/reservations")
    def create_reservation():
        key = idempotency_key()
        body = json_body(EXAMPLE_RESERVATION)
        order_id = required_text(body, "order_id", max_length=MAX_ID_LENGTH, example=EXAMPLE_RESERVATION)
        return answer(reserve(db(), order_id, reservation_items(body), key), "reservation")

    @app.get("/inventory/reservations")
    def list_reservations():
        # ?order_id= finds an order's reservations without their IDs: a compensation registered before its
        # step (module 09) must undo a reservation whose answer never reached it.
        order_id, status, limit = request.args.get("order_id"), status_filter(RESERVATION_STATUSES), list_limit()
        rows = db().execute("SELECT * FROM reservations WHERE (? IS NULL OR order_id = ?) AND (? IS NULL OR status = ?)"
                            " ORDER BY created_at DESC, rowid DESC LIMIT ?", (order_id, order_id, status, status, limit))
        return {"reservations": [reservation_json(db(), row) for row in rows.fetchall()]}

    @app.get("/inventory/reservations/<reservation_id>")
    def get_reservation(reservation_id: str):
        return reservation_json(db(), find_reservation(db(), reservation_id))

    @app.post("/inventory/reservations/<reservation_id>/release")
    def release_reservation_route(reservation_id: str):
        key = optional_idempotency_key()
        json_body("{}", optional=True)
        outcome, glitch = release_reservation(db(), reservation_id, key)
        return answer(outcome, "release", lose=glitch,
                      lost_because=f"The {GLITCHY_SKU!r} warehouse loses the answer to the first release of every "
                                   "reservation that holds one (on purpose: docs/account_api.md)")

    @app.post("/shipments")
    def create_shipment():
        key = idempotency_key()
        body = json_body(EXAMPLE_SHIPMENT)
        order_id = required_text(body, "order_id", max_length=MAX_ID_LENGTH, example=EXAMPLE_SHIPMENT)
        carrier = required_text(body, "carrier", max_length=MAX_NAME_LENGTH, example=EXAMPLE_SHIPMENT)
        address = required_text(body, "address", max_length=MAX_TEXT_LENGTH, free_text=True, example=EXAMPLE_SHIPMENT)
        return answer(ship(db(), order_id, carrier, address, key), "shipment")

    @app.get("/shipments")
    def list_shipments():
        status, limit = status_filter(SHIPMENT_STATUSES), list_limit()
        rows = db().execute("SELECT * FROM shipments WHERE ? IS NULL OR status = ? ORDER BY created_at DESC,"
                            " rowid DESC LIMIT ?", (status, status, limit))
        return {"shipments": [shipment_json(row) for row in rows]}

    @app.get("/shipments/<shipment_id>")
    def get_shipment(shipment_id: str):
        return shipment_json(find_shipment(db(), shipment_id))

    @app.post("/shipments/<shipment_id>/cancel")
    def cancel_shipment_route(shipment_id: str):
        key = optional_idempotency_key()
        json_body("{}", optional=True)
        return answer(cancel_shipment(db(), shipment_id, key), "cancellation")

    # --- admin

    @app.route("/admin/faults", methods=["GET", "PUT"])
    def fault_config():
        if request.method == "PUT":
            try:
                body = json.loads(request.get_data() or b"null")
            except (ValueError, RecursionError):
                body = None
            runtime.set_faults(replace(runtime.faults, **parse_fault_changes(body)))
        return asdict(runtime.faults)

    @app.post("/admin/reset")
    def reset():
        seed(db())
        runtime.reset()
        return {"status": "reset", **list_accounts()}

    @app.post("/admin/accounts")
    def create_account():
        key = optional_idempotency_key()
        account_id, owner, balance = account_body()
        status, body, replayed = open_account(db(), account_id, owner, balance, key)
        return {**body, "replayed": replayed}, status

    @app.get("/admin/stats")
    def get_stats():
        return runtime.stats()

    def carriers() -> list[dict]:
        return [carrier_json(row) for row in db().execute("SELECT * FROM carriers ORDER BY rowid")]

    @app.get("/admin/carriers")
    def list_carriers():
        return {"carriers": carriers()}

    @app.put("/admin/carriers/<name>")
    def switch_carrier(name: str):
        available = bool_field(json_body(EXAMPLE_CARRIER), "available", EXAMPLE_CARRIER)
        with transaction(db()):
            find_carrier(db(), name, 404)
            db().execute("UPDATE carriers SET available = ? WHERE name = ?", (int(available), name))
        return carrier_json(find_carrier(db(), name, 404))

    # The dashboard reads this rather than the resources' own endpoints, so it keeps showing the bank
    # while those are down or slow: watching that is the point of the fault modes.
    @app.get("/admin/overview")
    def overview():
        database = db()
        holds = database.execute("SELECT * FROM holds ORDER BY created_at DESC, rowid DESC LIMIT 15")
        approvals = database.execute("SELECT * FROM approvals WHERE status = 'pending' ORDER BY created_at, rowid"
                                     " LIMIT 50")
        reservations = database.execute("SELECT * FROM reservations WHERE status = 'active'"
                                        " ORDER BY created_at DESC, rowid DESC LIMIT 15")
        shipments = database.execute("SELECT * FROM shipments WHERE status = 'created'"
                                     " ORDER BY created_at DESC, rowid DESC LIMIT 15")
        return {"accounts": all_accounts(database), "ledger": recent_ledger(15),
                "holds": [hold_json(row) for row in holds],
                "approvals": [approval_json(row, with_token=False) for row in approvals],
                "inventory": inventory_items(),
                "reservations": [reservation_json(database, row) for row in reservations.fetchall()],
                "shipments": [shipment_json(row) for row in shipments], "carriers": carriers(),
                "faults": asdict(runtime.faults), "stats": runtime.stats()}

    description = openapi_description()

    @app.get("/openapi.json")
    def openapi():
        return description

    @app.get("/")
    def dashboard():
        # tojson escapes "<", ">", "&" and "'", so a reference such as "</script>" cannot end the script.
        g.csp_nonce = secrets.token_urlsafe(16)
        return render_template("dashboard.html", overview=overview(), nonce=g.csp_nonce)

    return app


def default_db_path() -> Path:
    return settings.state_dir() / "accounts.db"


class JsonErrorHandler(WSGIRequestHandler):
    """Werkzeug's request handler, with JSON instead of an HTML page for the errors it answers itself
    (a garbage request line, a URL or headers too large) before the application sees the request."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        short, long = self.responses.get(code, ("Error", ""))
        body = json.dumps({"error": short.lower().replace(" ", "_").replace("-", "_"),
                           "message": " ".join(part for part in (message or short, explain or long) if part)}).encode()
        self.log_error("code %d, message %s", code, message)
        self.close_connection = True
        # A request line that was not understood leaves the version at HTTP/0.9, which has no status line
        # or headers: answer it as HTTP/1.0, so the client can tell an error from a body.
        if not str(getattr(self, "request_version", "")).startswith("HTTP/1"):
            self.request_version = "HTTP/1.0"
        self.send_response(code, short)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if getattr(self, "command", None) != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)


class Server(ThreadedWSGIServer):
    # Werkzeug listens with a queue of 128; connections beyond it are dropped and the client only
    # retries a second later, so a burst of 200 concurrent requests would stall for a second.
    request_queue_size = 1024

    def __init__(self, host: str, port: int, app: Flask) -> None:
        super().__init__(host, port, app, handler=JsonErrorHandler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The workshop's account service (a small bank).")
    parser.add_argument("--host", default=settings.LOCALHOST,
                        help="address to listen on (default: %(default)s, this machine only)")
    parser.add_argument("--port", type=int, default=settings.DEFAULT_API_PORT, help="port (default: %(default)s)")
    parser.add_argument("--db", type=Path, help="SQLite file (default: <state folder>/accounts.db)")
    parser.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                        help="a host name under which clients reach this bank (e.g. a classroom's DNS name); "
                             "localhost, IP addresses and, off loopback, this machine's names are accepted anyway")
    args = parser.parse_args(argv)
    try:
        db_path = args.db or default_db_path()
    except settings.SettingsError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 2
    try:
        app = create_app(db_path, machine_names(args.host) | set(args.allowed_host))
    except sqlite3.DatabaseError as err:  # a file that is not a database, or one cut short
        print(f"error: {db_path} cannot be used as the bank's database ({err}).", file=sys.stderr, flush=True)
        return 2
    server = Server(args.host, args.port, app)  # exits with a clear message if the port is taken
    print(f"Account API on http://{args.host}:{args.port} (database {db_path})", flush=True)
    if not is_loopback_bind(args.host):
        token = "is set" if settings.current().admin_token else "is not set, so they are refused"
        print(f"Warning: the account API listens on {args.host}, so other machines can reach it and move money. "
              f"Admin changes (faults, reset, carriers) from them need WORKSHOP_ADMIN_TOKEN, which {token}.",
              file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
