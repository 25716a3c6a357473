"""The same payroll without Temporal: a loop in one process.

    python -m exercises.module01_durable_execution.plain_script

Kill it (Ctrl-C) after a payment or two and run it again: it has no memory of where it was, so it starts
over and pays the first employees a second time.
"""

from __future__ import annotations

import time
import uuid

import httpx

from workshop.connection import account_api_url
from workshop.money import format_cents

from .shared import monthly_payroll


def run_payroll(pause_seconds: float) -> None:
    payroll = monthly_payroll("november", pause_seconds)
    with httpx.Client(base_url=account_api_url(), timeout=10) as http:
        for number, payment in enumerate(payroll.payments, start=1):
            if number > 1:
                time.sleep(payroll.pause_seconds)  # everything the script knows lives in this process
            # A fresh key per request: the script has nowhere to keep the keys it used before a crash.
            response = http.post(
                f"/accounts/{payment.employee}/deposit",
                json={"amount_cents": payment.amount_cents, "reference": "salary (plain script)"},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            response.raise_for_status()
            print(f"paid {payment.employee:<6} {format_cents(payment.amount_cents):>10}", flush=True)
    print("Payroll complete.", flush=True)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="The payroll as a plain script, without Temporal.")
    parser.add_argument("--pause", type=float, default=5.0, help="seconds between payments")
    try:
        run_payroll(parser.parse_args().pause)
    except KeyboardInterrupt:
        print("\nInterrupted. Run the script again and see where it starts.")
