"""Load figure for the account API: a burst of concurrent withdrawals from one account.

Every withdrawal reads and writes the same balance, which is where a missing transaction shows up as a
lost update. The script starts the API on a fresh database, fires the burst with httpx, and checks that
the final balance and the ledger account for every request.

    python benchmarks/account_api_load.py [--concurrency 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

# Run as a script, this file's folder is on sys.path, not the repository root with `workshop` in it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workshop.servers import start_account_api

ACCOUNT = "company"
AMOUNT_CENTS = 100


async def _timed_withdrawal(client: httpx.AsyncClient, number: int) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await client.post(f"/accounts/{ACCOUNT}/withdraw", json={"amount_cents": AMOUNT_CENTS},
                                 headers={"Idempotency-Key": f"load-{number}"})
    return response, time.perf_counter() - started


async def _burst(url: str, concurrency: int) -> dict:
    limits = httpx.Limits(max_connections=concurrency)  # httpx allows 100 by default
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        start_balance = (await client.get(f"/accounts/{ACCOUNT}")).json()["balance_cents"]
        started = time.perf_counter()
        results = await asyncio.gather(*(_timed_withdrawal(client, n) for n in range(concurrency)))
        seconds = time.perf_counter() - started
        final_balance = (await client.get(f"/accounts/{ACCOUNT}")).json()["balance_cents"]
        ledger = await client.get(f"/accounts/{ACCOUNT}/ledger", params={"limit": 1000})
    succeeded = sum(response.status_code == 200 for response, _ in results)
    latencies_ms = sorted(latency * 1000 for _, latency in results)
    expected_balance = start_balance - succeeded * AMOUNT_CENTS
    return {
        "requests": concurrency,
        "succeeded": succeeded,
        "seconds": round(seconds, 3),
        "requests_per_second": round(concurrency / seconds),
        "latency_p50_ms": round(statistics.median(latencies_ms)),
        "latency_max_ms": round(latencies_ms[-1]),
        "expected_balance_cents": expected_balance,
        "actual_balance_cents": final_balance,
        # A lost update is a withdrawal that answered 200 but whose amount is missing from the balance.
        "lost_updates": (final_balance - expected_balance) // AMOUNT_CENTS,
        "ledger_rows": len(ledger.json()["entries"]),
    }


def run_load(concurrency: int = 200) -> dict:
    """Start the API on a temporary database, fire the burst, stop the API; returns the figures."""
    with tempfile.TemporaryDirectory(prefix="account-api-load-") as folder:
        service = start_account_api(db_file=Path(folder) / "accounts.db", log_path=Path(folder) / "api.log")
        try:
            return asyncio.run(_burst(service.url, concurrency))
        finally:
            service.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=200, help="withdrawals in flight at once")
    figures = run_load(parser.parse_args().concurrency)
    print(f"account API: {figures['requests']} concurrent withdrawals in {figures['seconds']:.2f} s "
          f"= {figures['requests_per_second']} req/s, lost updates: {figures['lost_updates']}")
    print(f"  succeeded: {figures['succeeded']}, latency median {figures['latency_p50_ms']} ms, "
          f"max {figures['latency_max_ms']} ms")
    print(f"  balance of {ACCOUNT!r}: expected {figures['expected_balance_cents']} cents, "
          f"actual {figures['actual_balance_cents']} cents; ledger rows: {figures['ledger_rows']}")
    ok = figures["lost_updates"] == 0 and figures["succeeded"] == figures["ledger_rows"] == figures["requests"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
