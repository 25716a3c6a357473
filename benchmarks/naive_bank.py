"""The baseline for benchmarks/account_api_vs_baseline.py: a bank written the way many course repositories
write theirs, and NOT the way to write one.

Balances live in a JSON file. A withdrawal reads the file, changes the balance and writes the file back;
a lock guards the write, not the read-modify-write, so two requests that read the same balance both
write it back and one withdrawal disappears (a lost update). Nothing is synced to disk. It answers the
same withdraw request as account_api.py, so the same load can be sent to both.

    python benchmarks/naive_bank.py --port 8090 --file /tmp/naive.json
"""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

from flask import Flask, request
from werkzeug.serving import run_simple

SEED = {"alice": 100_000, "bob": 50_000, "company": 10_000_000}


def make_app(path: Path) -> Flask:
    app = Flask(__name__)
    lock = threading.Lock()
    path.write_text(json.dumps(SEED))

    def load() -> dict[str, int]:
        return json.loads(path.read_text())

    def save(balances: dict[str, int]) -> None:
        with lock:
            path.write_text(json.dumps(balances))

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.get("/accounts/<account>")
    def account(account: str):
        balances = load()
        if account not in balances:
            return {"error": "unknown_account", "message": f"No account {account!r}."}, 404
        return {"id": account, "balance_cents": balances[account]}

    @app.post("/accounts/<account>/withdraw")
    def withdraw(account: str):
        amount = int((request.get_json(silent=True) or {}).get("amount_cents", 0))
        balances = load()
        if account not in balances:
            return {"error": "unknown_account", "message": f"No account {account!r}."}, 404
        if balances[account] < amount:
            return {"error": "insufficient_funds", "message": "Not enough money."}, 409
        balances[account] -= amount
        save(balances)
        return {"balance_cents": balances[account]}

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file", type=Path, required=True)
    args = parser.parse_args()
    run_simple("127.0.0.1", args.port, make_app(args.file), threaded=True)
