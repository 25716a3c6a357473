"""A transfer with a hand-written retry loop: better than nothing, still loses money.

    python -m solutions.module02_retries.retry_by_hand --amount 5000

Each retry is a new request to the bank. When an answer is lost after the bank applied the withdraw,
the loop withdraws again; when the attempts run out, it gives up between the withdraw and the deposit.
Compare with the workflow: retries by policy, one idempotency key per step, and a refund.
"""

from __future__ import annotations

import argparse
import time
import uuid

import httpx

from workshop.connection import account_api_url

ATTEMPTS = 3


def post_with_retries(http: httpx.Client, path: str, amount_cents: int) -> httpx.Response:
    for attempt in range(1, ATTEMPTS + 1):
        response = http.post(
            path,
            json={"amount_cents": amount_cents, "reference": "transfer retried by hand"},
            # A new key per attempt: the loop cannot tell "failed" from "applied, answer lost".
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        if response.status_code < 500:
            return response
        then = "retrying" if attempt < ATTEMPTS else "giving up"
        print(f"  attempt {attempt} of {ATTEMPTS}, {path}: {response.status_code}, {then}", flush=True)
        if attempt < ATTEMPTS:
            time.sleep(0.2 * attempt)
    return response


def transfer(source: str, target: str, amount_cents: int) -> None:
    with httpx.Client(base_url=account_api_url(), timeout=10) as http:
        for account, kind in ((source, "withdraw"), (target, "deposit")):
            response = post_with_retries(http, f"/accounts/{account}/{kind}", amount_cents)
            response.raise_for_status()
            print(f"{kind} {account}: ok", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A transfer with a hand-written retry loop.")
    parser.add_argument("--source", default="alice")
    parser.add_argument("--target", default="bob")
    parser.add_argument("--amount", type=int, default=5_000, help="in cents")
    args = parser.parse_args()
    try:
        transfer(args.source, args.target, args.amount)
    except httpx.HTTPStatusError as err:
        raise SystemExit(f"Stopped: {err.response.status_code} from {err.request.url.path}") from None
