"""A classroom on one dev server: N learners, each with a worker process of their own (module 02's worker,
their own task queue through WORKSHOP_LEARNER), each running M transfers one after another, all at once.

Prints the transfers' latency (start to result: p50, p95) and where the time went, read from the
histories: waiting for a worker to take a workflow task, waiting for a worker to take an activity, the
activities themselves (the bank's HTTP calls), and the rest (the server and the client).

    python benchmarks/classroom_load.py [--learners 30] [--transfers 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from solutions.module02_retries.shared import TransferInput
from solutions.module02_retries.workflow import MoneyTransferWorkflow
from workshop import settings
from workshop.servers import start_account_api, start_dev_server

WORKER = "solutions.module02_retries.worker"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def where_the_time_went(handle: WorkflowHandle) -> dict[str, float]:
    """Seconds spent by one transfer waiting for workers, in activities, and elsewhere."""
    events = [event async for event in handle.fetch_history_events()]
    at = {event.event_id: event.event_time.ToDatetime() for event in events}
    spent: dict[str, float] = defaultdict(float)
    for event in events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            scheduled = event.workflow_task_started_event_attributes.scheduled_event_id
            spent["workflow task waits for a worker"] += (at[event.event_id] - at[scheduled]).total_seconds()
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            scheduled = event.activity_task_started_event_attributes.scheduled_event_id
            spent["activity waits for a worker"] += (at[event.event_id] - at[scheduled]).total_seconds()
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            started = event.activity_task_completed_event_attributes.started_event_id
            spent["activities (the bank)"] += (at[event.event_id] - at[started]).total_seconds()
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            started = event.workflow_task_completed_event_attributes.started_event_id
            spent["workflow code on a worker"] += (at[event.event_id] - at[started]).total_seconds()
    spent["total in the server's clock"] = (at[events[-1].event_id] - at[events[0].event_id]).total_seconds()
    return spent


async def learner(client: Client, name: str, transfers: int) -> list[tuple[float, WorkflowHandle]]:
    queue = f"{name}-solution-module02-retries"  # what the worker computes from WORKSHOP_LEARNER
    done = []
    for number in range(transfers):
        started = time.perf_counter()
        handle = await client.start_workflow(MoneyTransferWorkflow.run, TransferInput("company", "alice", 100 + number),
                                             id=f"{name}-transfer-{number}", task_queue=queue)
        await handle.result()
        done.append((time.perf_counter() - started, handle))
    return done


async def measure(learners: int, transfers: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as state:
        temporal = start_dev_server(headless=True, log_path=Path(state) / "temporal.log")
        bank = start_account_api(db_file=Path(state) / "bank.db", log_path=Path(state) / "bank.log")
        workers: list[subprocess.Popen[str]] = []
        try:
            temporal_env = {"TEMPORAL_ADDRESS": temporal.url, "TEMPORAL_NAMESPACE": "default"}
            for number in range(learners):
                env = settings.child_env(settings.Settings(learner=f"learner{number:02d}", account_api_url=bank.url,
                                                           state_dir=Path(state)), temporal=temporal_env)
                workers.append(subprocess.Popen([sys.executable, "-m", WORKER], env=env, text=True,
                                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
            for worker in workers:  # every learner's worker is polling before the class starts
                assert worker.stdout is not None
                line = worker.stdout.readline()
                if not line.startswith("Worker polling"):
                    raise SystemExit(f"a worker did not start: {line}")
            client = await Client.connect(temporal.url)
            started = time.perf_counter()
            results = await asyncio.gather(*(learner(client, f"learner{n:02d}", transfers) for n in range(learners)))
            wall = time.perf_counter() - started
            latencies = [seconds for done in results for seconds, _ in done]
            parts: dict[str, list[float]] = defaultdict(list)
            for done in results:
                for _, handle in done:
                    for name, seconds in (await where_the_time_went(handle)).items():
                        parts[name].append(seconds)
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait()
            bank.stop()
            temporal.stop()
    return {"learners": learners, "transfers": len(latencies), "wall_s": wall,
            "p50_s": statistics.median(latencies), "p95_s": percentile(latencies, 0.95),
            "parts": {name: statistics.median(values) for name, values in parts.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=30)
    parser.add_argument("--transfers", type=int, default=10, help="per learner, one after another")
    args = parser.parse_args()
    figures = asyncio.run(measure(args.learners, args.transfers))
    print(f"Classroom load: {figures['learners']} learners, {figures['transfers']} transfers in "
          f"{figures['wall_s']:.1f} s on one dev server")
    print(f"  transfer latency   p50 {figures['p50_s']:.2f} s   p95 {figures['p95_s']:.2f} s   (target p95 <= 2 s)")
    print("  where a transfer's time goes (median per transfer):")
    for name, seconds in figures["parts"].items():  # type: ignore[attr-defined]
        print(f"    {name:<34} {seconds:6.3f} s")


if __name__ == "__main__":
    main()
