"""The account service: the "bank" that the course's Temporal activities call.

A small real service, not a mock. Balances live in SQLite (WAL, synchronous=FULL), so every committed
transaction survives `kill -9`. Money is integer cents. A withdraw or deposit is one transaction that
also records its Idempotency-Key, so a retried request gets the first answer instead of moving money
twice. Faults (errors, lost responses, delay, down) are switched at runtime through /admin/faults, to
show what Temporal's retries do about them.

Started by `python -m workshop up`, or alone: `python account_api.py [--port 8077] [--db PATH]`.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sqlite3
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from flask import Flask, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import ThreadedWSGIServer

from workshop import settings

MAX_AMOUNT_CENTS = 100_000_000_000  # one billion dollars: anything larger is a bug, not a payment
MAX_KEY_LENGTH = 200
MAX_REFERENCE_LENGTH = 200
MAX_LEDGER_LIMIT = 1000
MAX_DELAY_MS = 60_000
SEED_ACCOUNTS = [  # (id, owner, balance_cents)
    ("alice", "Alice", 100_000),
    ("bob", "Bob", 50_000),
    ("carol", "Carol", 25_000),
    ("dave", "Dave", 10_000),
    ("company", "Acme Payroll", 10_000_000),
]
EXAMPLE_BODY = '{"amount_cents": 500, "reference": "transfer T-1"}'

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id            TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    balance_cents INTEGER NOT NULL CHECK (balance_cents >= 0)
);
-- Each ledger row is also the idempotency record of the request that wrote it: the UNIQUE key makes a
-- second write with the same key impossible, and the row holds everything needed to replay the answer.
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
"""


class ApiError(Exception):
    """An answer with an error status; the handler turns it into `{"error", "message"}` JSON."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# --- Storage --------------------------------------------------------------------------------------


def connect(db_path: Path) -> sqlite3.Connection:
    # isolation_level=None: we open transactions ourselves, so each one is exactly one BEGIN..COMMIT.
    # The generous timeout lets writers queue behind each other instead of failing with "locked".
    db = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA synchronous = FULL")  # in WAL mode NORMAL may lose the last commits on power loss
    db.execute("PRAGMA foreign_keys = ON")
    return db


# SQLite lets one writer in at a time and makes the others poll with sleeps of up to 100 ms. Queuing
# this process's writers on a lock first is several times faster under load. Correctness does not
# depend on it: BEGIN IMMEDIATE below is what keeps concurrent writers (even other processes) apart.
_writer_queue = threading.Lock()


@contextmanager
def transaction(db: sqlite3.Connection):
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


def restore_seed_accounts(db: sqlite3.Connection) -> None:
    with transaction(db):
        db.execute("DELETE FROM ledger")
        db.execute("DELETE FROM accounts")
        db.executemany("INSERT INTO accounts (id, owner, balance_cents) VALUES (?, ?, ?)", SEED_ACCOUNTS)


def init_db(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    db = connect(db_path)
    try:
        db.execute("PRAGMA journal_mode = WAL")  # stored in the file, so once is enough
        db.executescript(SCHEMA)
        if db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0] == 0:
            restore_seed_accounts(db)
    finally:
        db.close()


def receipt(row: sqlite3.Row) -> dict:
    return {"transaction_id": row["transaction_id"], "account": row["account_id"], "kind": row["kind"],
            "amount_cents": row["amount_cents"], "balance_cents": row["balance_cents"],
            "idempotency_key": row["idempotency_key"]}


def ledger_entry(row: sqlite3.Row) -> dict:
    return {**receipt(row), "reference": row["reference"], "created_at": row["created_at"]}


def account_json(row: sqlite3.Row) -> dict:
    return {"id": row["id"], "owner": row["owner"], "balance_cents": row["balance_cents"]}


def find_account(db: sqlite3.Connection, account_id: str) -> sqlite3.Row:
    row = db.execute("SELECT * FROM accounts WHERE id = ?", (account_id,)).fetchone()
    if row is None:
        known = ", ".join(r["id"] for r in db.execute("SELECT id FROM accounts ORDER BY id"))
        raise ApiError(404, "unknown_account", f"There is no account {account_id!r}. Accounts: {known}.")
    return row


def move_money(db: sqlite3.Connection, account_id: str, kind: str, amount: int, key: str,
               reference: str | None) -> tuple[dict, bool]:
    """Apply a withdraw or deposit once per key; returns (receipt, replayed)."""
    with transaction(db):
        earlier = db.execute("SELECT * FROM ledger WHERE idempotency_key = ?", (key,)).fetchone()
        if earlier is not None:
            if (earlier["account_id"], earlier["kind"], earlier["amount_cents"]) != (account_id, kind, amount):
                raise ApiError(422, "idempotency_key_reused",
                               f"Idempotency-Key {key!r} was already used for a {earlier['kind']} of "
                               f"{earlier['amount_cents']} cents on {earlier['account_id']!r}. "
                               "Use a new key for a different request.")
            return receipt(earlier), True
        balance = find_account(db, account_id)["balance_cents"]
        if kind == "withdraw" and amount > balance:
            raise ApiError(409, "insufficient_funds",
                           f"Account {account_id!r} has {balance} cents; cannot withdraw {amount} cents.")
        balance = balance - amount if kind == "withdraw" else balance + amount
        db.execute("UPDATE accounts SET balance_cents = ? WHERE id = ?", (balance, account_id))
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        cursor = db.execute(
            "INSERT INTO ledger (account_id, kind, amount_cents, balance_cents, reference, idempotency_key,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", (account_id, kind, amount, balance, reference, key, now))
        row = db.execute("SELECT * FROM ledger WHERE transaction_id = ?", (cursor.lastrowid,)).fetchone()
    return receipt(row), False


# --- Faults and counters (in memory: a restart clears them, like a reset) -------------------------


@dataclass(frozen=True)
class Faults:
    error_rate: float = 0.0
    lost_response_rate: float = 0.0
    delay_ms: int = 0
    down: bool = False
    seed: int | None = None


def _is_int(value) -> bool:
    return type(value) is int  # bool is a subclass of int, and true is not a number here


def _is_rate(value) -> bool:
    return (_is_int(value) or type(value) is float) and math.isfinite(value) and 0 <= value <= 1


FAULT_RULES = {  # field: (accepts, what is accepted)
    "error_rate": (_is_rate, "a number from 0 to 1"),
    "lost_response_rate": (_is_rate, "a number from 0 to 1"),
    "delay_ms": (lambda v: _is_int(v) and 0 <= v <= MAX_DELAY_MS, f"a whole number from 0 to {MAX_DELAY_MS}"),
    "down": (lambda v: type(v) is bool, "true or false"),
    "seed": (lambda v: v is None or _is_int(v), "a whole number or null"),
}


def parse_fault_changes(body) -> dict:
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_fault_config",
                       f"Send a JSON object with any of: {', '.join(FAULT_RULES)}.")
    for name, value in body.items():
        if name not in FAULT_RULES:
            raise ApiError(400, "invalid_fault_config",
                           f"Unknown fault setting {name!r}. Accepted: {', '.join(FAULT_RULES)}.")
        accepts, accepted = FAULT_RULES[name]
        if not accepts(value):
            raise ApiError(400, "invalid_fault_config",
                           f"{name} must be {accepted}; got {json.dumps(value)}.")
    return body


class Runtime:
    """The fault settings and the counters, shared by the request threads."""

    COUNTERS = ("mutations_applied", "replays", "rejected", "injected_faults", "lost_responses")

    def __init__(self):
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


def idempotency_key() -> str:
    key = request.headers.get("Idempotency-Key", "")
    if not key.strip():
        raise ApiError(428, "missing_idempotency_key",
                       "Send an Idempotency-Key header (a string that names this one operation, e.g. the "
                       "workflow ID plus the step), so that a retried request is applied only once.")
    if len(key) > MAX_KEY_LENGTH:
        raise ApiError(400, "malformed_idempotency_key",
                       f"The Idempotency-Key has {len(key)} characters; at most {MAX_KEY_LENGTH} are accepted.")
    return key


def mutation_body() -> tuple[int, str | None]:
    """(amount_cents, reference) from the JSON body, or an ApiError saying what is wrong."""
    raw = request.get_data()
    if not raw.strip():
        raise ApiError(400, "malformed_body", f"The request has no body. Send JSON like {EXAMPLE_BODY}.")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "malformed_body",
                       f"The body is not valid JSON. Send JSON like {EXAMPLE_BODY}.") from None
    if not isinstance(body, dict) or "amount_cents" not in body:
        raise ApiError(400, "malformed_body",
                       f'The body must be a JSON object with an "amount_cents" field, like {EXAMPLE_BODY}.')
    amount, reference = body["amount_cents"], body.get("reference")
    # json.loads accepts NaN and Infinity (floats) and true (a bool, i.e. an int): only a real int passes.
    if not _is_int(amount) or not 0 < amount <= MAX_AMOUNT_CENTS:
        raise ApiError(422, "invalid_amount",
                       f"amount_cents must be a whole number of cents (no decimal point, no quotes) from 1 to "
                       f"{MAX_AMOUNT_CENTS}; got {json.dumps(amount)[:40]}.")
    if reference is not None and not (isinstance(reference, str) and len(reference) <= MAX_REFERENCE_LENGTH):
        raise ApiError(400, "malformed_body",
                       f"reference must be a string of at most {MAX_REFERENCE_LENGTH} characters.")
    return amount, reference


def ledger_limit() -> int:
    raw = request.args.get("limit", "50")
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LEDGER_LIMIT:
        raise ApiError(400, "invalid_limit",
                       f"limit must be a whole number from 1 to {MAX_LEDGER_LIMIT}; got {raw!r}.")
    return limit


# --- The application ------------------------------------------------------------------------------


def create_app(db_path: Path | str) -> Flask:
    db_path = Path(db_path)
    init_db(db_path)
    app = Flask(__name__)
    app.json.sort_keys = False  # keep fields in the order they are documented
    runtime = Runtime()

    def db() -> sqlite3.Connection:
        if "db" not in g:
            g.db = connect(db_path)
        return g.db

    @app.teardown_request
    def close_db(_error) -> None:
        if "db" in g:
            g.pop("db").close()

    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        if request.method == "POST" and error.status < 500 and request.path.startswith("/accounts/"):
            runtime.count("rejected")
        return jsonify(error=error.code, message=error.message), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        # Unknown routes, wrong methods: JSON like every other error, never an HTML page.
        code = error.name.lower().replace(" ", "_")
        message = f"{error.name}: {request.method} {request.path}. {error.description}"
        return jsonify(error=code, message=message), error.code

    @app.before_request
    def inject_faults() -> None:
        if not request.path.startswith(("/accounts", "/ledger")):
            return  # /health, /admin/* and the dashboard must keep working to switch faults off again
        faults = runtime.faults
        if faults.down:
            runtime.count("injected_faults")
            raise ApiError(503, "service_unavailable", "The account service is down (fault mode 'down').")
        if faults.delay_ms:
            time.sleep(faults.delay_ms / 1000)
        if request.method == "POST" and runtime.strikes(faults.error_rate):
            runtime.count("injected_faults")
            raise ApiError(503, "injected_fault", "Injected fault: nothing was applied. Retrying is safe.")

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.get("/accounts")
    def list_accounts():
        return {"accounts": [account_json(r) for r in db().execute("SELECT * FROM accounts ORDER BY rowid")]}

    @app.get("/accounts/<account_id>")
    def get_account(account_id: str):
        return account_json(find_account(db(), account_id))

    @app.post("/accounts/<account_id>/<any(withdraw, deposit):kind>")
    def withdraw_or_deposit(account_id: str, kind: str):
        key = idempotency_key()
        amount, reference = mutation_body()
        result, replayed = move_money(db(), account_id, kind, amount, key, reference)
        runtime.count("replays" if replayed else "mutations_applied")
        # Only fresh changes lose their answer, so that a retry with the same key always gets through.
        if not replayed and runtime.strikes(runtime.faults.lost_response_rate):
            runtime.count("lost_responses")
            raise ApiError(504, "response_lost", f"Injected fault: the {kind} WAS applied, but its response was "
                           "lost. Retry with the same Idempotency-Key to get its result.")
        return {**result, "replayed": replayed}

    @app.get("/accounts/<account_id>/ledger")
    def account_ledger(account_id: str):
        limit = ledger_limit()
        find_account(db(), account_id)
        rows = db().execute("SELECT * FROM ledger WHERE account_id = ? ORDER BY transaction_id DESC LIMIT ?",
                            (account_id, limit))
        return {"account": account_id, "entries": [ledger_entry(r) for r in rows]}

    def recent_ledger(limit: int) -> list[dict]:
        rows = db().execute("SELECT * FROM ledger ORDER BY transaction_id DESC LIMIT ?", (limit,))
        return [ledger_entry(r) for r in rows]

    @app.get("/ledger")
    def all_ledger():
        return {"entries": recent_ledger(ledger_limit())}

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
        restore_seed_accounts(db())
        runtime.reset()
        return {"status": "reset", **list_accounts()}

    @app.get("/admin/stats")
    def get_stats():
        return runtime.stats()

    # The dashboard reads this rather than /accounts and /ledger, so it keeps showing balances while
    # the account endpoints are down or slow: watching that is the point of the fault modes.
    @app.get("/admin/overview")
    def overview():
        return {"accounts": list_accounts()["accounts"], "ledger": recent_ledger(15),
                "faults": asdict(runtime.faults), "stats": runtime.stats()}

    @app.get("/")
    def dashboard():
        # tojson escapes "<", ">", "&" and "'", so a reference such as "</script>" cannot end the script.
        return render_template("dashboard.html", overview=overview())

    return app


def default_db_path() -> Path:
    return settings.state_dir() / "accounts.db"


class Server(ThreadedWSGIServer):
    # Werkzeug listens with a queue of 128; connections beyond it are dropped and the client only
    # retries a second later, so a burst of 200 concurrent requests would stall for a second.
    request_queue_size = 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The workshop's account service (a small bank).")
    parser.add_argument("--host", default=settings.LOCALHOST, help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=settings.DEFAULT_API_PORT, help="port (default: %(default)s)")
    parser.add_argument("--db", type=Path, help="SQLite file (default: <state folder>/accounts.db)")
    args = parser.parse_args(argv)
    db_path = args.db or default_db_path()
    app = create_app(db_path)
    server = Server(args.host, args.port, app)  # exits with a clear message if the port is taken
    print(f"Account API on http://{args.host}:{args.port} (database {db_path})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
