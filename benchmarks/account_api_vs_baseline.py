"""The account API against a naive baseline (benchmarks/naive_bank.py: a JSON file rewritten behind a lock),
both measured in the same run, under the same load, on this machine.

- Burst: N withdrawals sent at once (default 200), each on its own connection.
- Steady load: C clients (default 8, 50 and 100), each sending withdrawals one after another for a few
  seconds.

For each: requests per second and lost updates (withdrawals that answered 200 but whose amount is missing
from the final balance). The bank also keeps every answered write across `kill -9` (benchmarks/README.md;
tests/test_account_api.py proves it); the baseline does not sync anything to disk.
"Where the time goes" compares the bank's withdraw with its cheapest request (GET /health: the HTTP layer
alone) and with a read of one account (HTTP plus one SQLite read).

    python benchmarks/account_api_vs_baseline.py [--seconds 4] [--clients 8,50,100] [--burst 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from workshop.servers import free_port, start_account_api

HERE = Path(__file__).resolve().parent
ACCOUNT = "company"
AMOUNT_CENTS = 1


@contextmanager
def bank() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="bench-bank-") as folder:
        service = start_account_api(db_file=Path(folder) / "accounts.db", log_path=Path(folder) / "api.log")
        try:
            yield service.url
        finally:
            service.stop()


@contextmanager
def baseline() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="bench-naive-") as folder:
        port = free_port()
        process = subprocess.Popen([sys.executable, str(HERE / "naive_bank.py"), "--port", str(port),
                                    "--file", str(Path(folder) / "balances.json")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the baseline bank did not start")
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            process.wait(10)


async def withdraw(client: httpx.AsyncClient) -> bool:
    try:
        response = await client.post(f"/accounts/{ACCOUNT}/withdraw", json={"amount_cents": AMOUNT_CENTS},
                                     headers={"Idempotency-Key": uuid.uuid4().hex})
    except httpx.HTTPError:
        return False
    return response.status_code == 200


async def balance(url: str) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return int((await client.get(f"/accounts/{ACCOUNT}")).json()["balance_cents"])


def figures(requests: int, succeeded: int, seconds: float, before: int, after: int) -> dict[str, Any]:
    expected = before - succeeded * AMOUNT_CENTS
    return {"requests": requests, "succeeded": succeeded, "seconds": round(seconds, 2),
            "per_second": round(succeeded / seconds), "lost_updates": (after - expected) // AMOUNT_CENTS}


async def burst(url: str, size: int) -> dict[str, Any]:
    before = await balance(url)
    limits = httpx.Limits(max_connections=size, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        started = time.perf_counter()
        results = await asyncio.gather(*(withdraw(client) for _ in range(size)))
        seconds = time.perf_counter() - started
    return figures(size, sum(results), seconds, before, await balance(url))


async def steady(url: str, clients: int, seconds: float, path: str | None = None) -> dict[str, Any]:
    """``clients`` connections, each sending requests back to back for ``seconds``; withdrawals by default,
    or GETs of ``path``."""
    before = await balance(url)
    counts = [0, 0]  # sent, succeeded
    deadline = time.perf_counter() + seconds

    async def one_client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            while time.perf_counter() < deadline:
                counts[0] += 1
                # Await first, then add: `counts[1] += await ...` would read counts[1] before the await.
                ok = await withdraw(client) if path is None else (await client.get(path)).status_code == 200
                counts[1] += ok

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    return figures(counts[0], counts[1], time.perf_counter() - started, before, await balance(url))


def measure(args: argparse.Namespace) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for label, clients in [("burst", args.burst), *[("steady", c) for c in args.clients]]:
        row: dict[str, Any] = {"load": f"{label} {clients}"}
        for side, server in (("bank", bank), ("baseline", baseline)):
            with server() as url:
                if label == "burst":
                    row[side] = asyncio.run(burst(url, clients))
                else:
                    row[side] = asyncio.run(steady(url, clients, args.seconds))
        row["ratio"] = round(row["bank"]["per_second"] / max(row["baseline"]["per_second"], 1), 2)
        rows.append(row)
    with bank() as url:
        cost = {"health": asyncio.run(steady(url, 8, args.seconds, "/health"))["per_second"],
                "read": asyncio.run(steady(url, 8, args.seconds, f"/accounts/{ACCOUNT}"))["per_second"],
                "withdraw": asyncio.run(steady(url, 8, args.seconds))["per_second"]}
    return {"rows": rows, "cost": cost}


def failed(side: dict[str, Any]) -> str:
    return f"{side['requests'] - side['succeeded']} of {side['requests']}"


def report(result: dict[str, Any]) -> str:
    lines = ["| load | bank req/s | baseline req/s | ratio | bank: failed, lost updates | baseline: failed, lost updates |",
             "|---|---|---|---|---|---|"]
    for row in result["rows"]:
        bank_, base = row["bank"], row["baseline"]
        lines.append(f"| {row['load']} | {bank_['per_second']} | {base['per_second']} | {row['ratio']}x | "
                     f"{failed(bank_)}, {bank_['lost_updates']} | {failed(base)}, {base['lost_updates']} |")
    cost = result["cost"]
    per_ms = {name: 1000 / max(rate, 1) for name, rate in cost.items()}
    lines.append("")
    lines.append(f"Where a withdrawal's time goes (8 clients): the HTTP layer alone (GET /health) {cost['health']} req/s, "
                 f"a read of one account {cost['read']} req/s, a withdrawal {cost['withdraw']} req/s; that is "
                 f"{per_ms['health']:.2f} ms of server time per request for HTTP and Flask, "
                 f"{per_ms['read'] - per_ms['health']:.2f} ms for a read, "
                 f"{per_ms['withdraw'] - per_ms['read']:.2f} ms more for the write transaction (fsync included).")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each steady-load run")
    parser.add_argument("--clients", type=lambda s: [int(c) for c in s.split(",")], default=[8, 50, 100])
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    result = measure(args)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0 if all(row["bank"]["lost_updates"] == 0 for row in result["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
