"""Chaos run: module 02's transfers while everything under them fails. Money is never lost or duplicated.

Starts the Temporal dev server (with its database file, as `workshop up` does), the account API and module
02's solution worker (`python -m solutions.module02_retries.worker`), each as a process of its own. Opens
five accounts next to the bank's five and starts transfers between the ten, with random amounts from a
fixed seed: most within what the source holds, some larger than it can ever hold, a few to an account that
does not exist (those are refunded). Meanwhile:

- the bank is in fault mode: injected 503s, responses lost after the change was applied, slow answers;
- the worker is SIGKILLed and restarted every few seconds;
- the account API is kill -9'd once and restarted on its database;
- the dev server is restarted once on its database.

When the chaos is over (the faults with it), it waits for the last transfers to close, then checks, and prints
with the figures:

- every transfer is closed: completed, failed for insufficient funds, or refunded;
- a transfer over the balance failed on the bank's insufficient_funds answer, which was not retried;
- the bank holds the same money to the cent, and every balance is its ledger's;
- the ledger holds every completed transfer's withdraw and deposit once, under the transfer's own
  idempotency keys, every refunded one's withdraw and refund, and nothing else: no orphan withdraw.

    python benchmarks/chaos.py                       # the short form, under a minute (tests/test_chaos.py)
    python benchmarks/chaos.py --long --minutes 3    # minutes of it, for instructors
    python benchmarks/chaos.py --long --minutes 10 --transfers 2000 --kill-every 2 --seed 7 --keep /tmp/chaos
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import httpx
from temporalio.api.enums.v1 import EventType, RetryState
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError

from account_api import SEED_ACCOUNTS
from solutions.module02_retries.shared import TransferInput, task_queue
from solutions.module02_retries.workflow import MoneyTransferWorkflow
from workshop import settings
from workshop.money import format_cents
from workshop.paths import ROOT
from workshop.servers import Service, free_port, start_account_api, start_dev_server

OPENED_ACCOUNTS = [("erin", "Erin"), ("frank", "Frank"), ("grace", "Grace"), ("heidi", "Heidi"), ("ivan", "Ivan")]
MIN_WORKER_UPTIME = 1.0  # seconds a worker polls before it is killed
# The chaos lasts until the bank has injected at least this many faults (a quiet machine sees about 100 and 35).
MIN_INJECTED_ERRORS = 20
MIN_LOST_RESPONSES = 5
NO_SUCH_ACCOUNT = "nobody"  # a deposit there fails for good, so the transfer refunds
ORDINARY, OVERSIZED, UNKNOWN_TARGET = "ordinary", "oversized", "unknown target"
COMPLETED, INSUFFICIENT, REFUNDED = "completed", "insufficient funds", "refunded"
EXPECTED = {ORDINARY: (COMPLETED, REFUNDED), OVERSIZED: (INSUFFICIENT,), UNKNOWN_TARGET: (REFUNDED,)}
# A werkzeug request line in the bank's log, e.g. `"POST /accounts/dave/withdraw HTTP/1.1" 409 -` (maybe coloured).
REQUEST_LINE = re.compile(r'"(?:\x1b\[[\d;]*m)*([A-Z]+) (\S+) HTTP/[\d.]+(?:\x1b\[[\d;]*m)*" (\d{3})')


@dataclass(frozen=True)
class ChaosConfig:
    transfers: int = 200
    seconds: float = 16.0  # how long the chaos lasts (worker kills; the bank and the server restart within it)
    kill_every: float = 3.0  # seconds between two SIGKILLs of the worker
    seed: int = 2024
    error_rate: float = 0.25  # the bank's fault mode, on while the chaos lasts
    lost_response_rate: float = 0.2
    delay_ms: int = 50
    oversized_share: float = 0.1  # transfers larger than the source can ever hold
    unknown_target_share: float = 0.03  # transfers to an account that does not exist
    drain_seconds: float = 120.0  # after the chaos, how long the last transfers may take to close
    keep: Path | None = None  # where the databases and logs go (default: a temporary folder, removed)

    @classmethod
    def long(cls, minutes: float) -> ChaosConfig:
        return cls(transfers=max(200, round(200 * minutes)), seconds=minutes * 60, kill_every=5.0)


# --------------------------------------------------------------------------- the plan, from the seed


@dataclass(frozen=True)
class Planned:
    number: int
    kind: str
    source: str
    target: str
    amount_cents: int

    @property
    def workflow_id(self) -> str:
        return f"chaos-transfer-{self.number:05d}"


@dataclass(frozen=True)
class Plan:
    opening: dict[str, int]  # the opened accounts' opening balances
    transfers: list[Planned]


def make_plan(config: ChaosConfig, seed_balances: dict[str, int]) -> Plan:
    """Transfers that either cannot fail for want of money, whatever order they run in, or cannot succeed."""
    rng = random.Random(config.seed)
    opening = {account: rng.randrange(5_000, 200_000) for account, _owner in OPENED_ACCOUNTS}
    balances = {**seed_balances, **opening}
    accounts = sorted(balances)
    shapes = []
    for _ in range(config.transfers):
        draw = rng.random()
        kind = OVERSIZED if draw < config.oversized_share else (
            UNKNOWN_TARGET if draw < config.oversized_share + config.unknown_target_share else ORDINARY)
        source, target = rng.sample(accounts, 2)
        shapes.append((kind, source, NO_SUCH_ACCOUNT if kind == UNKNOWN_TARGET else target))
    if config.transfers >= 10:  # every kind at least once, whatever the seed
        shapes[0] = (OVERSIZED, shapes[0][1], shapes[0][2] if shapes[0][2] != NO_SUCH_ACCOUNT else shapes[1][1])
        shapes[1] = (UNKNOWN_TARGET, shapes[1][1], NO_SUCH_ACCOUNT)
    # An ordinary transfer (and one to the unknown account, whose money is out until refunded) takes at most
    # its share of the source's opening balance: all of them together never overdraw it, in any order.
    spenders = Counter(source for kind, source, _ in shapes if kind != OVERSIZED)
    amounts: list[int] = []
    for kind, source, _target in shapes:
        amounts.append(0 if kind == OVERSIZED else rng.randint(1, max(1, balances[source] // spenders[source])))
    incoming: Counter[str] = Counter()
    for (kind, _source, target), amount in zip(shapes, amounts, strict=True):
        if kind == ORDINARY:
            incoming[target] += amount
    transfers = []
    for number, ((kind, source, target), amount) in enumerate(zip(shapes, amounts, strict=True)):
        if kind == OVERSIZED:  # more than the source holds even if every other transfer paid it first
            amount = balances[source] + incoming[source] + rng.randint(1, 1_000_000)
        transfers.append(Planned(number, kind, source, target, amount))
    return Plan(opening, transfers)


# --------------------------------------------------------------------------- the processes


class Processes:
    """The dev server, the bank and the worker, each restartable on its own port and database."""

    def __init__(self, folder: Path, config: ChaosConfig) -> None:
        self.folder, self.config = folder, config
        self.temporal_port, self.api_port = free_port(), free_port()
        self.temporal: Service | None = None
        self.api: Service | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_log: IO[bytes] | None = None
        self.worker_ready = threading.Event()
        self.worker_lock = threading.Lock()  # kills run in threads of their own, revivals in the event loop
        self.worker_start_ups: list[float] = []  # seconds from a worker's start to its first poll
        self.worker_kills = self.worker_exits = self.api_kills = self.server_restarts = 0
        self.bank_counts: Counter[str] = Counter()  # the counters of bank processes that were killed

    def start_temporal(self) -> Service:
        self.temporal = start_dev_server(self.temporal_port, headless=True, db_file=self.folder / "temporal.db",
                                         log_path=self.folder / "temporal.log", timeout=90)
        return self.temporal

    def start_api(self) -> Service:
        self.api = start_account_api(self.api_port, db_file=self.folder / "accounts.db",
                                     log_path=self.folder / "account_api.log")
        self.set_faults()
        return self.api

    def bank(self) -> httpx.Client:
        assert self.api is not None
        return httpx.Client(base_url=self.api.url, timeout=10)

    def set_faults(self, on: bool = True) -> None:
        config = self.config
        faults = {"error_rate": config.error_rate, "delay_ms": config.delay_ms,
                  "lost_response_rate": config.lost_response_rate, "seed": config.seed} if on else {
                  "error_rate": 0, "delay_ms": 0, "lost_response_rate": 0}
        with self.bank() as bank:
            bank.put("/admin/faults", json=faults).raise_for_status()

    def bank_stats(self) -> Counter[str]:
        with self.bank() as bank:
            return Counter(bank.get("/admin/stats").json())

    def enough_faults_seen(self) -> bool:
        """Whether the bank (this process and the killed ones) has injected enough faults to prove anything."""
        try:
            counts = self.bank_counts + self.bank_stats()
        except httpx.HTTPError:
            return False
        return counts["injected_faults"] >= MIN_INJECTED_ERRORS and counts["lost_responses"] >= MIN_LOST_RESPONSES

    def worker_env(self) -> dict[str, str]:
        assert self.temporal is not None and self.api is not None
        no_profiles = self.folder / "temporal.toml"  # a learner's temporal.toml must not point the worker elsewhere
        no_profiles.touch()
        chosen = settings.Settings(learner=settings.current().learner, state_dir=self.folder / "state",
                                   account_api_url=self.api.url)
        return settings.child_env(chosen, temporal={"TEMPORAL_ADDRESS": self.temporal.url,
                                                    "TEMPORAL_NAMESPACE": "default",
                                                    "TEMPORAL_CONFIG_FILE": str(no_profiles)})

    def start_worker(self) -> None:
        if self.worker_log is None:
            self.worker_log = open(self.folder / "worker.log", "ab")  # closed in stop()
        started, ready = time.monotonic(), threading.Event()
        worker = subprocess.Popen([sys.executable, "-m", "solutions.module02_retries.worker"], cwd=ROOT,
                                  env=self.worker_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, start_new_session=True)

        def copy_output(log: IO[bytes]) -> None:  # to the log, noting when the worker polls
            assert worker.stdout is not None
            for line in worker.stdout:
                with suppress(ValueError):  # the log was closed at the end of the run
                    log.write(line)
                if not ready.is_set() and line.startswith(b"Worker polling task queue"):
                    self.worker_start_ups.append(time.monotonic() - started)
                    ready.set()

        threading.Thread(target=copy_output, args=(self.worker_log,), daemon=True).start()
        self.worker, self.worker_ready = worker, ready

    def kill_worker(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no graceful shutdown, tasks in flight are lost. A worker
        that is still starting gets to poll for a second first, so that every worker does some work."""
        if self.worker_ready.wait(timeout=20):
            time.sleep(MIN_WORKER_UPTIME)
        with self.worker_lock:
            if self.worker is not None and self.worker.poll() is None:
                self.worker.kill()
                self.worker.wait()
                self.worker_kills += 1
            self.start_worker()

    def revive_worker(self) -> None:
        """Start the worker again if it stopped by itself (it does when no server answers as it starts)."""
        with self.worker_lock:
            if self.worker is not None and self.worker.poll() is not None:
                self.worker_exits += 1
                self.start_worker()

    def kill_api(self) -> None:
        """kill -9 the bank and start it again on the same database and port."""
        assert self.api is not None
        with suppress(httpx.HTTPError):
            self.bank_counts += self.bank_stats()  # its counters live in memory: keep what it counted
        self.api.kill()
        self.api_kills += 1
        self.start_api()

    def restart_temporal(self) -> None:
        assert self.temporal is not None
        self.temporal.stop()
        self.server_restarts += 1
        self.start_temporal()

    def stop(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.kill()
            self.worker.wait()
        time.sleep(0.2)  # the last lines reach the log
        if self.worker_log is not None:
            self.worker_log.close()
        for service in (self.api, self.temporal):
            if service is not None:
                service.stop()


# --------------------------------------------------------------------------- what happened to each transfer


@dataclass
class Activity:
    name: str  # withdraw / deposit
    account: str
    amount_cents: int
    key: str
    attempt: int = 0  # the attempt that ended it (1 = no retry)
    outcome: str = "scheduled"  # completed / failed / timed out
    failure_type: str = ""
    retry_state: int = RetryState.RETRY_STATE_UNSPECIFIED
    seconds: float = 0.0  # from scheduled to completed, failed or timed out, all attempts together


@dataclass
class Outcome:
    planned: Planned
    started: bool = False
    status: str = "not started"  # completed / insufficient funds / refunded / running / failed: <type> / ...
    first_run_id: str = ""
    activities: list[Activity] = field(default_factory=list)
    seconds: float = 0.0  # from the start of the workflow to its close
    workflow_task_timeouts: int = 0


def failure_type(failure: Failure) -> str:
    """The type of the outermost application failure: the workflow's own (TransferRefunded), else its
    activity's cause (InsufficientFunds)."""
    while not failure.HasField("application_failure_info") and failure.HasField("cause"):
        failure = failure.cause
    return failure.application_failure_info.type if failure.HasField("application_failure_info") else ""


CLOSE_EVENTS = frozenset({EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
                          EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
                          EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
                          EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED})


def read_history(outcome: Outcome, events: list[HistoryEvent]) -> None:
    """What the transfer's history says: how it ended, each activity's attempts, failure and retry state."""
    scheduled: dict[int, Activity] = {}
    scheduled_at: dict[int, datetime] = {}
    started_at = events[0].event_time.ToDatetime()
    for event in events:
        kind = event.event_type
        for closing in ("activity_task_completed_event_attributes", "activity_task_failed_event_attributes",
                        "activity_task_timed_out_event_attributes"):
            if event.HasField(closing):
                ended = getattr(event, closing).scheduled_event_id
                scheduled[ended].seconds = (event.event_time.ToDatetime() - scheduled_at[ended]).total_seconds()
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            outcome.first_run_id = event.workflow_execution_started_event_attributes.first_execution_run_id
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            request = json.loads(attributes.input.payloads[0].data)
            activity = Activity(attributes.activity_type.name, request["account"], request["amount_cents"],
                                request["key"])
            scheduled[event.event_id] = activity
            scheduled_at[event.event_id] = event.event_time.ToDatetime()
            outcome.activities.append(activity)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            scheduled[event.activity_task_started_event_attributes.scheduled_event_id].attempt = \
                event.activity_task_started_event_attributes.attempt
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            scheduled[event.activity_task_completed_event_attributes.scheduled_event_id].outcome = "completed"
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            failed = event.activity_task_failed_event_attributes
            activity = scheduled[failed.scheduled_event_id]
            activity.outcome, activity.retry_state = "failed", failed.retry_state
            activity.failure_type = failure_type(failed.failure)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
            timed_out = event.activity_task_timed_out_event_attributes
            scheduled[timed_out.scheduled_event_id].outcome = "timed out"
            scheduled[timed_out.scheduled_event_id].retry_state = timed_out.retry_state
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
            outcome.workflow_task_timeouts += 1
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            outcome.status = COMPLETED
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            reason = failure_type(event.workflow_execution_failed_event_attributes.failure)
            outcome.status = {"InsufficientFunds": INSUFFICIENT, "TransferRefunded": REFUNDED}.get(
                reason, f"failed: {reason or 'no type'}")
        elif kind in (EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
                      EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED):
            outcome.status = EventType.Name(kind).removeprefix("EVENT_TYPE_WORKFLOW_EXECUTION_").lower()
        if event.event_type in CLOSE_EVENTS:
            outcome.seconds = (event.event_time.ToDatetime() - started_at).total_seconds()
    if outcome.status == "not started":
        outcome.status = "running"



# --------------------------------------------------------------------------- the invariants


@dataclass
class LedgerRow:
    transaction_id: int
    account: str
    kind: str
    amount_cents: int
    balance_cents: int
    key: str


def read_bank(database: Path) -> tuple[dict[str, int], list[LedgerRow]]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        balances = dict(db.execute("SELECT id, balance_cents FROM accounts"))
        rows = [LedgerRow(*row) for row in db.execute(
            "SELECT transaction_id, account_id, kind, amount_cents, balance_cents, idempotency_key FROM ledger"
            " ORDER BY transaction_id")]
    return balances, rows


def check_invariants(outcomes: list[Outcome], opening: dict[str, int], final: dict[str, int],
                     ledger: list[LedgerRow]) -> list[str]:
    """Every way money could have been lost or made; empty when none happened."""
    problems: list[str] = []
    for outcome in outcomes:
        planned = outcome.planned
        where = f"{planned.workflow_id} ({planned.kind}, {planned.source} -> {planned.target}, {planned.amount_cents} cents)"
        if not outcome.started:
            problems.append(f"{where}: never started")
            continue
        if outcome.status not in (COMPLETED, INSUFFICIENT, REFUNDED):
            problems.append(f"{where}: not in a terminal state of a transfer: {outcome.status}")
        elif outcome.status not in EXPECTED[planned.kind]:
            problems.append(f"{where}: ended as {outcome.status}, expected {' or '.join(EXPECTED[planned.kind])}")
        if outcome.status == INSUFFICIENT:
            withdraws = [a for a in outcome.activities if a.name == "withdraw"]
            if len(withdraws) != 1 or withdraws[0].failure_type != "InsufficientFunds" or \
                    withdraws[0].retry_state != RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE:
                problems.append(f"{where}: the insufficient_funds answer was retried or not final: {withdraws}")
            if any(a.name == "deposit" for a in outcome.activities):
                problems.append(f"{where}: a deposit was attempted after insufficient funds")

    # The ledger: each transfer's rows, under its own keys, once; nothing else.
    by_transfer: dict[str, list[LedgerRow]] = {}
    for row in ledger:
        by_transfer.setdefault(row.key.split("/", 1)[0], []).append(row)
    for outcome in outcomes:
        planned = outcome.planned
        keys = f"{planned.workflow_id}/{outcome.first_run_id}"
        expected = {COMPLETED: [(f"{keys}/withdraw", planned.source, "withdraw"), (f"{keys}/deposit", planned.target, "deposit")],
                    REFUNDED: [(f"{keys}/withdraw", planned.source, "withdraw"), (f"{keys}/refund", planned.source, "deposit")],
                    }.get(outcome.status, [])
        found = by_transfer.pop(planned.workflow_id, [])
        seen = sorted((row.key, row.account, row.kind) for row in found)
        if seen != sorted(expected) or any(row.amount_cents != planned.amount_cents for row in found):
            problems.append(f"{planned.workflow_id} ({outcome.status}): ledger has {seen}, expected {sorted(expected)}")
        steps = Counter(row.key.rsplit("/", 1)[-1] for row in found)
        if steps["withdraw"] and not (steps["deposit"] or steps["refund"]):
            problems.append(f"{planned.workflow_id}: orphan withdraw (no deposit, no refund)")
    for stray in by_transfer.values():
        problems.append(f"ledger rows of no transfer: {[(r.key, r.account, r.kind, r.amount_cents) for r in stray]}")

    # Money: conserved in total, and every balance is its opening balance plus its ledger.
    if sum(final.values()) != sum(opening.values()):
        problems.append(f"money not conserved: {sum(opening.values())} cents before, {sum(final.values())} after")
    running = dict(opening)
    for row in ledger:
        running[row.account] += row.amount_cents if row.kind == "deposit" else -row.amount_cents
        if running[row.account] != row.balance_cents:
            problems.append(f"ledger row {row.transaction_id} says {row.account} has {row.balance_cents}, "
                            f"its history adds up to {running[row.account]} (a lost update)")
            running[row.account] = row.balance_cents
    for account, balance in final.items():
        if running.get(account) != balance:
            problems.append(f"{account} holds {balance} cents, its ledger adds up to {running.get(account)}")
    return problems


# --------------------------------------------------------------------------- the run


@dataclass
class ChaosReport:
    config: ChaosConfig
    outcomes: list[Outcome]
    problems: list[str]
    money_before: int
    money_after: int
    ledger_rows: int
    worker_kills: int
    worker_exits: int
    api_kills: int
    server_restarts: int
    injected_errors: int
    lost_responses: int
    insufficient_answers: int  # 409s the bank logged for withdrawals
    worker_start_up: float  # median seconds from a worker's start to its first poll
    seconds: dict[str, float]  # per phase, and "total"

    def count(self, status: str) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)

    @property
    def activities(self) -> list[Activity]:
        return [activity for outcome in self.outcomes for activity in outcome.activities]

    @property
    def activity_retries(self) -> int:
        return sum(max(activity.attempt - 1, 0) for activity in self.activities)

    @property
    def retried_before_insufficient(self) -> int:
        return sum(activity.attempt > 1 for outcome in self.outcomes if outcome.status == INSUFFICIENT
                   for activity in outcome.activities if activity.name == "withdraw")

    @property
    def insufficient_withdraw_seconds(self) -> float:
        times = [activity.seconds for outcome in self.outcomes if outcome.status == INSUFFICIENT
                 for activity in outcome.activities if activity.name == "withdraw"]
        return statistics.median(times) if times else 0.0

    def median_seconds(self, status: str) -> float:
        times = [outcome.seconds for outcome in self.outcomes if outcome.status == status]
        return statistics.median(times) if times else 0.0

    def text(self) -> str:
        config, seconds = self.config, self.seconds
        refunded_ordinary = sum(o.status == REFUNDED and o.planned.kind == ORDINARY for o in self.outcomes)
        insufficient = self.count(INSUFFICIENT)
        lines = [
            f"Chaos run, seed {config.seed}: {len(self.outcomes)} transfers between {len(OPENED_ACCOUNTS) + len(SEED_ACCOUNTS)} "
            f"accounts in {seconds['total']:.1f} s (start-up {seconds['start-up']:.1f} s, chaos {seconds['chaos']:.1f} s, "
            f"last transfers {seconds['drain']:.1f} s, checks {seconds['checks']:.1f} s)",
            f"  outcomes          {self.count(COMPLETED)} completed, {insufficient} failed for insufficient funds, "
            f"{self.count(REFUNDED)} refunded ({refunded_ordinary} of them ordinary transfers), "
            f"{len(self.outcomes) - self.count(COMPLETED) - insufficient - self.count(REFUNDED)} other",
            f"  worker            SIGKILLed {self.worker_kills} times (every {config.kill_every:g} s) and restarted; "
            f"{self.worker_exits} exits of its own; a worker polls {self.worker_start_up:.1f} s after it starts (median)",
            f"  account API       kill -9 {self.api_kills} time(s), restarted on its database; faults: "
            f"{self.injected_errors} errors injected (503), {self.lost_responses} responses lost (504), every answer "
            f"{config.delay_ms} ms late",
            f"  Temporal server   restarted {self.server_restarts} time(s) on its database",
            f"  activity retries  {self.activity_retries} (over {len(self.activities)} activities; "
            f"{sum(o.workflow_task_timeouts for o in self.outcomes)} workflow tasks timed out on a killed worker)",
            f"  over the balance  {insufficient} failed on the bank's insufficient_funds answer, none retried after it "
            f"(retry state NON_RETRYABLE_FAILURE); {self.retried_before_insufficient} needed more than one attempt to "
            f"get that answer (a 503, or a worker killed before it reported); the bank answered 409 to "
            f"{self.insufficient_answers} withdrawals",
            f"  latency           such a withdraw failed {self.insufficient_withdraw_seconds:.2f} s (median) after it "
            f"was scheduled; a transfer took {self.median_seconds(INSUFFICIENT):.1f} s (median) from start to failure, "
            f"{self.median_seconds(COMPLETED):.1f} s to complete (waits for killed workers included)",
            f"  money             {format_cents(self.money_before)} before, {format_cents(self.money_after)} after; "
            f"{self.ledger_rows} ledger rows",
        ]
        if self.problems:
            lines.append(f"  INVARIANTS BROKEN ({len(self.problems)}):")
            lines += [f"    {problem}" for problem in self.problems[:30]]
        else:
            lines.append("  invariants        all hold: every transfer closed, over-the-balance ones failed fast, "
                         "money conserved to the cent, each transfer applied once, no orphan withdraw")
        return "\n".join(lines)


async def start_transfer(client: Client, planned: Planned, deadline: float) -> bool:
    while True:
        try:
            await client.start_workflow(
                MoneyTransferWorkflow.run,
                TransferInput(planned.source, planned.target, planned.amount_cents, reference=f"chaos {planned.number}"),
                id=planned.workflow_id, task_queue=task_queue(),
                # A retried start whose first answer was lost must not start the transfer a second time.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
            return True
        except WorkflowAlreadyStartedError:
            return True  # an earlier attempt started it (the server went away before it answered)
        except RPCError:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.5)


async def connect(address: str, deadline: float) -> Client:
    # The SDK's core logs a warning for each call it retries while the server restarts: hundreds of lines.
    quiet = Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR",
                                                                                           other_level="ERROR"))))
    while True:
        try:
            return await Client.connect(address, runtime=quiet)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def until_all_closed(client: Client, deadline: float) -> None:
    while time.monotonic() < deadline:
        with suppress(RPCError):
            if (await client.count_workflows("ExecutionStatus = 'Running'")).count == 0:
                return
        await asyncio.sleep(0.5)


async def read_outcomes(client: Client, started: dict[int, bool], transfers: list[Planned]) -> list[Outcome]:
    limit = asyncio.Semaphore(16)

    async def one(planned: Planned) -> Outcome:
        outcome = Outcome(planned, started=started.get(planned.number, False))
        if not outcome.started:
            return outcome
        async with limit:
            for _ in range(20):
                try:
                    history = await client.get_workflow_handle(planned.workflow_id).fetch_history()
                    break
                except RPCError:
                    await asyncio.sleep(0.5)
            else:
                outcome.status = "history unreadable"
                return outcome
        read_history(outcome, list(history.events))
        return outcome

    return list(await asyncio.gather(*(one(planned) for planned in transfers)))


def insufficient_answers(log: Path) -> int:
    text = log.read_text(errors="replace") if log.exists() else ""
    return sum(1 for method, path, status in REQUEST_LINE.findall(text)
               if method == "POST" and path.endswith("/withdraw") and status == "409")


async def run_chaos(config: ChaosConfig, progress: Callable[[str], None] = lambda line: None) -> ChaosReport:
    began = time.monotonic()
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="chaos-") as scratch:
        folder = config.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        processes = Processes(folder, config)
        watchdog: asyncio.Task[None] | None = None
        try:
            temporal = processes.start_temporal()
            processes.start_api()
            with processes.bank() as bank:
                seed_balances = {a["id"]: a["balance_cents"] for a in bank.get("/accounts").json()["accounts"]}
                plan = make_plan(config, seed_balances)
                for account, owner in OPENED_ACCOUNTS:
                    bank.post("/admin/accounts", json={"id": account, "owner": owner,
                                                       "balance_cents": plan.opening[account]}).raise_for_status()
                opening = {a["id"]: a["balance_cents"] for a in bank.get("/accounts").json()["accounts"]}
            processes.start_worker()
            client = await connect(temporal.url, time.monotonic() + 30)
            seconds["start-up"] = time.monotonic() - began
            progress(f"servers up in {seconds['start-up']:.1f} s; {len(plan.transfers)} transfers, "
                     f"{config.seconds:g} s of chaos")

            # The chaos: transfers start over its first 60 %, while processes die on a schedule.
            chaos_began = time.monotonic()
            start_deadline = chaos_began + config.seconds + 60
            spread = 0.6 * config.seconds / max(len(plan.transfers), 1)

            async def start_all() -> dict[int, bool]:
                tasks = {}
                for planned in plan.transfers:
                    await asyncio.sleep(max(0.0, chaos_began + planned.number * spread - time.monotonic()))
                    tasks[planned.number] = asyncio.create_task(start_transfer(client, planned, start_deadline))
                return {number: await task for number, task in tasks.items()}

            async def at(seconds: float, action: Callable[[], None]) -> None:
                await asyncio.sleep(max(0.0, chaos_began + seconds - time.monotonic()))
                progress(f"  {time.monotonic() - chaos_began:5.1f} s  {action.__name__.replace('_', ' ')}")
                await asyncio.to_thread(action)

            async def watch_worker() -> None:
                while True:
                    processes.revive_worker()
                    await asyncio.sleep(1.0)

            async def kill_workers() -> None:
                for seconds in _every(config.kill_every, config.seconds):
                    await at(seconds, processes.kill_worker)

            watchdog = asyncio.create_task(watch_worker())
            starting = asyncio.create_task(start_all())
            await asyncio.gather(kill_workers(), at(0.3 * config.seconds, processes.kill_api),
                                 at(0.55 * config.seconds, processes.restart_temporal))
            started = await starting
            await asyncio.sleep(max(0.0, chaos_began + config.seconds - time.monotonic()))
            # On a slow or busy machine little work may have met the faults in the planned time (workers that
            # take long to start, a server that takes long to restart): the chaos goes on, faults on and
            # workers still killed, until the bank has injected enough of them, for at most twice as long again.
            overtime_ends = time.monotonic() + 2 * config.seconds
            while not processes.enough_faults_seen() and time.monotonic() < overtime_ends:
                await asyncio.sleep(config.kill_every)
                progress(f"  {time.monotonic() - chaos_began:5.1f} s  kill worker (overtime)")
                await asyncio.to_thread(processes.kill_worker)
            # The chaos ends: the last transfers close on a calm bank (with faults on, the slowest would wait
            # out their retry schedule, up to 10 s between attempts, and the run would end at random).
            processes.set_faults(on=False)
            seconds["chaos"] = time.monotonic() - chaos_began

            drain_began = time.monotonic()
            await until_all_closed(client, drain_began + config.drain_seconds)
            seconds["drain"] = time.monotonic() - drain_began
            progress(f"transfers closed {seconds['drain']:.1f} s after the chaos; checking")

            checks_began = time.monotonic()
            outcomes = await read_outcomes(client, started, plan.transfers)
            with suppress(httpx.HTTPError):
                processes.bank_counts += processes.bank_stats()
        finally:
            if watchdog is not None:
                watchdog.cancel()
            processes.stop()
        final, ledger = read_bank(folder / "accounts.db")
        problems = check_invariants(outcomes, opening, final, ledger)
        seconds["checks"] = time.monotonic() - checks_began
        seconds["total"] = time.monotonic() - began
        return ChaosReport(
            config=config, outcomes=outcomes, problems=problems, money_before=sum(opening.values()),
            money_after=sum(final.values()), ledger_rows=len(ledger), worker_kills=processes.worker_kills,
            worker_exits=processes.worker_exits, api_kills=processes.api_kills,
            worker_start_up=statistics.median(processes.worker_start_ups or [0.0]),
            server_restarts=processes.server_restarts, injected_errors=processes.bank_counts["injected_faults"],
            lost_responses=processes.bank_counts["lost_responses"],
            insufficient_answers=insufficient_answers(folder / "account_api.log"), seconds=seconds)


def _every(interval: float, until: float) -> list[float]:
    return [interval * n for n in range(1, int(until / interval) + 1) if interval * n < until]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true", help="the instructors' form: --minutes of chaos")
    parser.add_argument("--minutes", type=float, default=3.0, help="with --long: how long the chaos lasts")
    parser.add_argument("--transfers", type=int, help="how many transfers (default 200; with --long, 200 a minute)")
    parser.add_argument("--kill-every", type=float, help="seconds between worker SIGKILLs (default 3; --long 5)")
    parser.add_argument("--seed", type=int, help="the seed of accounts, amounts and faults (default 2024)")
    parser.add_argument("--error-rate", type=float, help="share of bank changes refused with 503 (default 0.25)")
    parser.add_argument("--lost-response-rate", type=float, help="share of applied changes whose answer is lost "
                        "(default 0.2)")
    parser.add_argument("--delay-ms", type=int, help="delay of every bank answer (default 50)")
    parser.add_argument("--keep", type=Path, help="keep the databases and logs in this folder")
    args = parser.parse_args(argv)
    config = ChaosConfig.long(args.minutes) if args.long else ChaosConfig()
    changes: dict[str, Any] = {name: value for name, value in (
        ("transfers", args.transfers), ("kill_every", args.kill_every), ("seed", args.seed),
        ("error_rate", args.error_rate), ("lost_response_rate", args.lost_response_rate),
        ("delay_ms", args.delay_ms), ("keep", args.keep)) if value is not None}
    config = replace(config, **changes)
    report = asyncio.run(run_chaos(config, progress=lambda line: print(line, flush=True)))
    print(report.text())
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())

