"""Module 06's failure moment for heartbeats, for real: SIGKILL the worker in the middle of a batch.

The server notices the dead attempt when its heartbeats stop (the heartbeat timeout), retries it, and the
restarted worker's attempt starts after the last transfer a heartbeat reported to the server. Transfers
settled after that heartbeat (heartbeats are throttled) are sent again: their idempotency keys keep the
bank from applying any of them twice.
"""

import os
import signal
import subprocess
import sys

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from solutions.module06_cancellation import shared
from solutions.module06_cancellation.client import start_batch
from workshop.paths import ROOT
from workshop.testing import Bank, eventually, unique_id

pytestmark = pytest.mark.skipif(os.name != "posix", reason="kills the worker's process group with a POSIX signal")

WORKER = "solutions.module06_cancellation.worker"
PAYEES = ("alice", "bob", "carol", "dave")


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    worker = subprocess.Popen([sys.executable, "-m", WORKER], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    first_line = worker.stdout.readline()
    assert first_line.startswith("Worker polling task queue"), first_line + worker.stdout.read()
    return worker


def kill(worker: subprocess.Popen) -> None:
    os.killpg(worker.pid, signal.SIGKILL)  # no graceful shutdown: the process just dies
    worker.wait()


async def heartbeat_details(client: Client, handle: WorkflowHandle) -> list:
    """The details of the last heartbeat the server received from the settling activity (empty: none yet)."""
    pending = (await handle.describe()).raw_description.pending_activities
    settling = [p for p in pending if p.activity_type.name == "settle_transfers"]
    if not settling or not settling[0].heartbeat_details.payloads:
        return []
    return await client.data_converter.decode(settling[0].heartbeat_details.payloads)


async def settle_result(client: Client, handle: WorkflowHandle) -> shared.Settled | None:
    """The settling activity's result, once it has completed."""
    settling = None
    async for event in handle.fetch_history_events():
        if event.activity_task_scheduled_event_attributes.activity_type.name == "settle_transfers":
            settling = event.event_id
        completed = event.activity_task_completed_event_attributes
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED and completed.scheduled_event_id == settling:
            [result] = await client.data_converter.decode(completed.result.payloads, [shared.Settled])
            return result
    return None


async def test_the_retried_attempt_resumes_after_the_last_heartbeat(client, bank: Bank, services, monkeypatch):
    learner = unique_id("resume")  # a task queue of its own, as in a classroom
    env = services.env(learner=learner)
    monkeypatch.setenv("WORKSHOP_LEARNER", learner)  # task_queue() reads it now, as the worker does
    transfers = [shared.Transfer("company", PAYEES[n % len(PAYEES)], 1_000 + n) for n in range(8)]
    batch = shared.TransferBatch(transfers, reference=unique_id("resume"), seconds_per_transfer=0.2)
    before = {payee: bank.balance(payee) for payee in PAYEES}

    first = start_worker(env)
    try:
        handle = await start_batch(client, batch, unique_id("batch"), shared.task_queue())

        async def progress_reported():
            return (await heartbeat_details(client, handle) or [0])[0] >= 1

        await eventually(progress_reported, 30, "the server received a heartbeat with a transfer settled")
    finally:
        kill(first)
    resume_point = (await heartbeat_details(client, handle))[0]  # no heartbeat can arrive after the kill
    assert 1 <= resume_point < len(transfers)

    second = start_worker(env)
    try:
        settled = await eventually(lambda: settle_result(client, handle), 30, "the retried attempt settled the batch")
    finally:
        second.terminate()
        second.wait(timeout=30)
        # The workflow's next task goes first to the killed worker's sticky queue: the server hands it to
        # another worker only after that queue's schedule-to-start timeout (10 s). Not worth waiting for here.
        await handle.terminate(reason="test over")

    assert settled.attempt == 2, "the heartbeat timeout failed the dead worker's attempt; the second one finished"
    assert settled.resumed_after == resume_point, "the retried attempt started after the last heartbeat received"
    holds = [h for h in bank.http.get("/accounts/company/holds", params={"limit": 1000}).json()["holds"]
             if h["reference"].startswith(f"{batch.reference} #")]
    assert sorted(h["status"] for h in holds) == ["captured"] * 8
    ours = [e for e in bank.ledger("company") if (e["reference"] or "").startswith(f"{batch.reference} #")]
    assert sorted(e["reference"] for e in ours) == sorted(f"{batch.reference} #{n} of 8" for n in range(1, 9)), \
        "every transfer was taken from company exactly once"
    for payee in PAYEES:
        paid = [e for e in bank.ledger(payee) if (e["reference"] or "").startswith(f"{batch.reference} #")]
        expected = [t.amount_cents for t in transfers if t.target == payee]
        assert sorted(e["amount_cents"] for e in paid) == sorted(expected), f"{payee} was paid each transfer once"
        assert bank.balance(payee) == before[payee] + sum(expected)
