"""A transfer without Temporal and without retries: two HTTP calls and hope.

    python -m solutions.module02_retries.naive_transfer --amount 5000

Switch the bank to a fault mode first (`python -m workshop faults --lost-response-rate 0.5`) and run it a
few times: sometimes the withdraw is applied but its answer is lost, the script stops, and the money
has left alice without reaching bob.
"""

from __future__ import annotations

import argparse
import uuid

import httpx

from workshop.connection import account_api_url


def transfer(source: str, target: str, amount_cents: int) -> None:
    with httpx.Client(base_url=account_api_url(), timeout=10) as http:
        for account, kind in ((source, "withdraw"), (target, "deposit")):
            response = http.post(
                f"/accounts/{account}/{kind}",
                json={"amount_cents": amount_cents, "reference": "naive transfer"},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            response.raise_for_status()  # one failed call and the script is gone, halfway or not
            print(f"{kind} {account}: ok", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A transfer as two plain HTTP calls.")
    parser.add_argument("--source", default="alice")
    parser.add_argument("--target", default="bob")
    parser.add_argument("--amount", type=int, default=5_000, help="in cents")
    args = parser.parse_args()
    try:
        transfer(args.source, args.target, args.amount)
    except httpx.HTTPStatusError as err:
        raise SystemExit(f"Transfer failed halfway? {err.response.status_code} from {err.request.url.path}") from None
