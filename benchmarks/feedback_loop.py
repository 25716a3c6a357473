"""The learner's feedback loop, measured: how long `workshop check NN` takes, and how long a stuck execution
takes to move on once fixed code runs.

1. `python -m workshop check NN`, as the learner types it, with `workshop up` running (the check borrows
   its server and a bank of its own), on the pristine exercise and on the solution: the median of a few
   runs per module, and whether the verdicts are the same every time.
2. Module 04's workflow bug: a transfer's workflow task fails for a while (--bug-seconds); then a worker
   with the fixed code starts. Seconds from that start to the transfer's completion, on the course's dev
   server (workflow-task retries capped at 2 s) and on a dev server with Temporal's defaults.
3. Module 04's activity bug: the withdraw fails for a while; seconds from the fixed worker's start to the
   transfer's completion.

    python benchmarks/feedback_loop.py [--runs 3] [--bug-seconds 60] [--modules 01,02]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from workshop import build, catalog, logs, servers
from workshop.bank import BankClient
from workshop.paths import ROOT, SOLUTIONS
from workshop.targets import Target

# --------------------------------------------------------------------------- 1. check


def check_once(number: str, env: dict[str, str], solution: bool) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "workshop", "check", number, *(["--solution"] if solution else [])],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - started
    verdict = "".join(line.split()[2] for line in done.stdout.splitlines() if line.startswith("  Part "))
    return seconds, verdict  # e.g. "passednot" per Part, compared between runs


def check_latency(numbers: list[str], runs: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        state = Path(folder) / "state"
        pristine = build.write_package(Path(folder) / "pristine" / "exercises")
        ports = [servers.free_port() for _ in range(3)]
        env = {**servers.local_env(), "WORKSHOP_STATE_DIR": str(state)}
        up = subprocess.Popen([sys.executable, "-m", "workshop", "up", "--port", str(ports[0]), "--ui-port", str(ports[1]),
                               "--api-port", str(ports[2])], cwd=ROOT, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            assert up.stdout is not None
            for line in up.stdout:
                if line.startswith("Ready."):
                    break
            learner_env = {**env, "WORKSHOP_MODULES_DIR": str(pristine), "PYTHONPATH": str(pristine.parent)}
            for number in numbers:
                row: dict[str, Any] = {"module": number}
                for kind, solution, use_env in (("pristine", False, learner_env), ("solution", True, env)):
                    results = [check_once(number, use_env, solution) for _ in range(runs)]
                    row[kind] = statistics.median(seconds for seconds, _ in results)
                    row[f"{kind}_stable"] = len({verdict for _, verdict in results}) == 1
                rows.append(row)
        finally:
            up.send_signal(2)
            up.wait(timeout=60)
    return rows


# --------------------------------------------------------------------------- 2 and 3. module 04, after a fix


def stand_ins(shared: Any) -> list[Any]:
    @activity.defn(name="check_account")
    async def check_account(account: str) -> str:
        return account

    @activity.defn(name="withdraw")
    async def withdraw(operation: Any) -> Any:
        return shared.BankReceipt(1, 0)

    @activity.defn(name="deposit")
    async def deposit(operation: Any) -> Any:
        return shared.BankReceipt(2, 0)

    return [check_account, withdraw, deposit]


async def workflow_fix_latency(server: servers.Service, bug_seconds: float, jerry: Target) -> float:
    client = await Client.connect(server.url)
    queue = f"fix-{uuid.uuid4().hex[:8]}"
    shared = jerry.load("04", "shared")
    fixed = Target("solutions", SOLUTIONS).load("04", "workflow").MoneyTransferWorkflow
    async with Worker(client, task_queue=queue, workflows=[jerry.load("04", "workflow").MoneyTransferWorkflow],
                      activities=stand_ins(shared)):
        # Started as the module's runner starts it (its options, e.g. the workflow task timeout, count here).
        runner = Target("solutions", SOLUTIONS).load("04", "run_workflow")
        handle = await runner.start_transfer(client, shared.example_transfer(), queue, queue)
        await asyncio.sleep(bug_seconds)
    started = time.perf_counter()
    async with Worker(client, task_queue=queue, workflows=[fixed], activities=stand_ins(shared)):
        await handle.result()
    return time.perf_counter() - started


async def activity_fix_latency(server: servers.Service, bank_url: str, bug_seconds: float, jerry: Target) -> float:
    client = await Client.connect(server.url)
    queue = f"fix-{uuid.uuid4().hex[:8]}"
    solution = Target("solutions", SOLUTIONS)
    workflow = solution.load("04", "workflow").MoneyTransferWorkflow
    async with BankClient(bank_url) as bank:
        buggy = jerry.load("04", "activities").BankActivities(bank)
        async with Worker(client, task_queue=queue, workflows=[workflow],
                          activities=[buggy.check_account, buggy.withdraw, buggy.deposit]):
            handle = await solution.load("04", "run_workflow").start_transfer(
                client, solution.load("04", "shared").example_transfer(), queue, queue)
            await asyncio.sleep(bug_seconds)
        fixed = solution.load("04", "activities").BankActivities(bank)
        started = time.perf_counter()
        async with Worker(client, task_queue=queue, workflows=[workflow],
                          activities=[fixed.check_account, fixed.withdraw, fixed.deposit]):
            await handle.result()
    return time.perf_counter() - started


async def fix_latencies(bug_seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        jerry = Target("jerry", build.write_package(Path(folder) / "jerry_exercises", (catalog.get("04"),)))
        course = servers.start_dev_server(headless=True)
        plain_args = [a for a in servers.COURSE_SERVER_SETTINGS]
        servers.COURSE_SERVER_SETTINGS.clear()  # a dev server with Temporal's own defaults, for comparison
        try:
            plain = servers.start_dev_server(headless=True)
        finally:
            servers.COURSE_SERVER_SETTINGS.extend(plain_args)
        bank = servers.start_account_api(db_file=Path(folder) / "bank.db")
        try:
            course_wf, plain_wf, course_act = await asyncio.gather(
                workflow_fix_latency(course, bug_seconds, jerry),
                workflow_fix_latency(plain, bug_seconds, jerry),
                activity_fix_latency(course, bank.url, bug_seconds, jerry),
            )
        finally:
            for service in (bank, plain, course):
                service.stop()
    return {"workflow_course": course_wf, "workflow_plain": plain_wf, "activity_course": course_act}


def main() -> None:
    logs.configure()  # the SDK core's account of each failing attempt stays out of the figures
    logging.getLogger("temporalio").setLevel(logging.CRITICAL)  # the failing attempts are the point, not news
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each check")
    parser.add_argument("--bug-seconds", type=float, default=60, help="how long the bug is live before the fix")
    parser.add_argument("--modules", help="comma-separated module numbers (default: every ready module)")
    args = parser.parse_args()
    numbers = args.modules.split(",") if args.modules else [m.number for m in catalog.ready_modules()]

    print(f"workshop check NN with `workshop up` running (median of {args.runs} runs; target <= 2 s):")
    print(f"  {'module':<8}{'pristine':>10}{'solution':>10}  verdicts stable")
    for row in check_latency(numbers, args.runs):
        stable = "yes" if row["pristine_stable"] and row["solution_stable"] else "NO"
        print(f"  {row['module']:<8}{row['pristine']:>9.2f}s{row['solution']:>9.2f}s  {stable}")
    figures = asyncio.run(fix_latencies(args.bug_seconds))
    print(f"Module 04, a bug live for {args.bug_seconds:.0f} s, then a worker with the fix (target <= 5 s):")
    print(f"  workflow bug, course dev server (retries capped at {servers.WORKFLOW_TASK_RETRY_CAP})  "
          f"{figures['workflow_course']:6.1f} s to complete")
    print(f"  workflow bug, dev server with Temporal's defaults        {figures['workflow_plain']:6.1f} s to complete")
    print(f"  activity bug, course dev server                          {figures['activity_course']:6.1f} s to complete")


if __name__ == "__main__":
    main()
