"""Transfers per second: module 02's transfer with its real activities (the bank over HTTP), against the
same workflow with activities that do nothing, on one dev server, in the same run.

The ratio is the cost of the course's own code (the bank client, the bank) on top of Temporal's.

    python benchmarks/transfer_throughput.py [--transfers 200] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from solutions.module02_retries.activities import BankActivities
from solutions.module02_retries.shared import BankRequest, Receipt, TransferInput
from solutions.module02_retries.workflow import MoneyTransferWorkflow
from workshop import logs
from workshop.bank import BankClient
from workshop.servers import start_account_api, start_dev_server


@activity.defn(name="withdraw")
async def no_op_withdraw(request: BankRequest) -> Receipt:
    return Receipt(request.account, request.amount_cents, 0, 0)


@activity.defn(name="deposit")
async def no_op_deposit(request: BankRequest) -> Receipt:
    return Receipt(request.account, request.amount_cents, 0, 0)


class ClientPerCall:
    """The pattern the course used before: a new HTTP client (and TLS context) for every bank call."""

    def __init__(self, url: str) -> None:
        self.url = url

    @activity.defn(name="withdraw")
    async def withdraw(self, request: BankRequest) -> Receipt:
        async with BankClient(self.url) as bank:
            return await BankActivities(bank).withdraw(request)

    @activity.defn(name="deposit")
    async def deposit(self, request: BankRequest) -> Receipt:
        async with BankClient(self.url) as bank:
            return await BankActivities(bank).deposit(request)


async def run_transfers(client: Client, activities: Sequence[Any], transfers: int) -> float:
    """Transfers per second for ``transfers`` concurrent transfers on one worker."""
    queue = f"throughput-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[MoneyTransferWorkflow], activities=list(activities),
                      max_concurrent_activities=transfers, max_concurrent_workflow_tasks=transfers):
        started = time.perf_counter()
        handles = await asyncio.gather(*(
            client.start_workflow(MoneyTransferWorkflow.run, TransferInput("company", "alice", 100 + n),
                                  id=f"{queue}-{n}", task_queue=queue)
            for n in range(transfers)
        ))
        await asyncio.gather(*(handle.result() for handle in handles))
        return transfers / (time.perf_counter() - started)


async def measure(transfers: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as state:
        temporal = start_dev_server(headless=True, log_path=Path(state) / "temporal.log")
        bank_process = start_account_api(db_file=Path(state) / "bank.db", log_path=Path(state) / "bank.log")
        try:
            client = await Client.connect(temporal.url)
            async with BankClient(bank_process.url) as bank:
                real = BankActivities(bank)
                await run_transfers(client, [no_op_withdraw, no_op_deposit], 20)  # warm up both sides
                await run_transfers(client, [real.withdraw, real.deposit], 20)
                per_call = ClientPerCall(bank_process.url)
                no_op_rates, real_rates, per_call_rates = [], [], []
                for _ in range(rounds):  # interleaved, so a busy moment of the machine hits every side
                    no_op_rates.append(await run_transfers(client, [no_op_withdraw, no_op_deposit], transfers))
                    real_rates.append(await run_transfers(client, [real.withdraw, real.deposit], transfers))
                    per_call_rates.append(await run_transfers(client, [per_call.withdraw, per_call.deposit], transfers))
        finally:
            bank_process.stop()
            temporal.stop()
    no_op, real_rate = statistics.median(no_op_rates), statistics.median(real_rates)
    per_call_rate = statistics.median(per_call_rates)
    return {"transfers": transfers, "no_op_per_s": no_op, "real_per_s": real_rate, "ratio": real_rate / no_op,
            "per_call_per_s": per_call_rate, "per_call_ratio": per_call_rate / no_op}


def main() -> None:
    # The client-per-call side overruns its activities' timeouts: the SDK core's warnings stay out of the figures.
    logs.configure()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    figures = asyncio.run(measure(args.transfers, args.rounds))
    print(f"Transfer throughput, {figures['transfers']} concurrent transfers on one worker (median of {args.rounds} rounds):")
    print(f"  no-op activities      {figures['no_op_per_s']:7.1f} transfers/s")
    print(f"  bank over HTTP        {figures['real_per_s']:7.1f} transfers/s")
    print(f"  ratio                 {figures['ratio']:7.2f}   (target >= 0.8)")
    print(f"  a client per call     {figures['per_call_per_s']:7.1f} transfers/s, ratio {figures['per_call_ratio']:.2f} "
          "(the pattern before one BankClient per worker)")


if __name__ == "__main__":
    main()
