"""Module 07 end to end: the solved transfer, the real account API, and the approver as a process of its own.

The README's console blocks already show a transfer approved while no worker runs, one rejected, a silent
approver's transfer expiring, and a late answer refused; the checks, each Part's behaviour. Here: the
approvals desk (`approver watch`, a subprocess) keeps a transfer's first attempt waiting past its heartbeat
timeout; the transfer's second attempt re-arms the same approval at the bank with its new task token, while
the first attempt's token is refused; and an approver cut off between the bank and Temporal finishes by
repeating its decision, while a different one is refused.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
from typing import Any

import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from solutions.module07_async_completion import approver
from solutions.module07_async_completion.shared import ApprovalDecision, TransferRequest
from solutions.module07_async_completion.worker import build_worker
from solutions.module07_async_completion.workflow import LargeTransferWorkflow
from workshop.bank import BankClient
from workshop.paths import ROOT
from workshop.testing import Bank, eventually, unique_id

APPROVER = "solutions.module07_async_completion.approver"


def approvals_of(bank: Bank, transfer_id: str) -> list[dict[str, Any]]:
    approvals = bank.http.get("/approvals", params={"limit": 1000}).json()["approvals"]
    return [approval for approval in approvals if approval["transfer_id"] == transfer_id]


@pytest.mark.skipif(os.name != "posix", reason="stops the desk's process group with a POSIX signal")
async def test_the_desk_keeps_the_transfer_waiting_past_its_heartbeat_timeout(client: Client, bank: Bank, services):
    desk = subprocess.Popen([sys.executable, "-m", APPROVER, "watch", "--every", "0.25"], cwd=ROOT, env=services.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        async with BankClient(bank.url) as bank_client, build_worker(client, bank_client) as worker:
            request = TransferRequest("company", "bob", 250_000, "relocation bonus", approver_heartbeat_timeout_seconds=1)
            handle = await client.start_workflow(LargeTransferWorkflow.run, request, id=unique_id("transfer"),
                                                 task_queue=worker.task_queue)
            try:
                assert "approvals desk is open" in await asyncio.to_thread(desk.stdout.readline)
                on_desk = await asyncio.wait_for(asyncio.to_thread(desk.stdout.readline), 15)
                assert on_desk.startswith("On the desk:") and handle.id in on_desk, on_desk
                await asyncio.sleep(1.5)  # longer than the heartbeat timeout
                description = await handle.describe()
                assert description.status == WorkflowExecutionStatus.RUNNING, "kept alive by the desk"
                [pending] = description.raw_description.pending_activities
                assert (pending.state, pending.attempt) == (PendingActivityState.PENDING_ACTIVITY_STATE_STARTED, 1), (
                    "the first attempt never timed out")
                details = client.data_converter.payload_converter.from_payloads(pending.heartbeat_details.payloads)
                assert details == ["on the approvals desk"]
            finally:
                await handle.terminate("test finished")
        # The transfer has ended, but its approval is still pending at the bank: the desk says so, once.
        gone = await asyncio.wait_for(asyncio.to_thread(desk.stdout.readline), 15)
        assert gone.strip() == f"{approvals_of(bank, handle.id)[0]['approval_id']}: no activity waits for it now."
        os.killpg(desk.pid, signal.SIGINT)  # Ctrl-C
        assert desk.wait(timeout=15) == 130
    finally:
        if desk.poll() is None:
            os.killpg(desk.pid, signal.SIGKILL)
            desk.wait()


async def test_a_retried_attempt_re_arms_the_same_approval_and_the_old_token_is_refused(client: Client, bank: Bank):
    async with BankClient(bank.url) as bank_client, build_worker(client, bank_client) as worker:
        request = TransferRequest("company", "bob", 250_000, "relocation bonus")
        handle = await client.start_workflow(LargeTransferWorkflow.run, request, id=unique_id("transfer"),
                                             task_queue=worker.task_queue)

        async def asked():
            return approvals_of(bank, handle.id)

        first_token = (await eventually(asked, 15, "the approval at the bank"))[0]["task_token"]
        first_attempt = client.get_async_activity_handle(task_token=base64.b64decode(first_token))
        await first_attempt.fail(ApplicationError("the desk lost it; ask again"))  # retryable: the second attempt

        async def re_armed():
            approvals = approvals_of(bank, handle.id)
            return approvals if approvals[0]["task_token"] != first_token else None

        approvals = await eventually(re_armed, 15, "the second attempt's token at the bank")
        assert len(approvals) == 1, "the second attempt found the first one's approval (same key)"
        [pending] = (await handle.describe()).raw_description.pending_activities
        assert pending.attempt == 2
        with pytest.raises(RPCError) as stale:
            await first_attempt.complete(ApprovalDecision("mallory"))
        assert stale.value.status == RPCStatusCode.NOT_FOUND

        answer = await approver.decide(client, bank_client, handle.id, True, ApprovalDecision("carol", "fine"))
        assert answer.delivered, answer.message
        outcome = await asyncio.wait_for(handle.result(), 15)
        assert (outcome.status, outcome.approver, outcome.comment) == ("completed", "carol", "fine")
    assert [entry["kind"] for entry in bank.ledger("company")] == ["withdraw"], "the money moved once"


async def test_an_answer_cut_off_between_the_bank_and_temporal_is_finished_by_repeating_it(
        client: Client, bank: Bank, monkeypatch: pytest.MonkeyPatch):
    async def cut_off(handle, decision):
        raise ConnectionError("the approver's laptop went to sleep")

    async with BankClient(bank.url) as bank_client, build_worker(client, bank_client) as worker:
        request = TransferRequest("company", "bob", 250_000, "relocation bonus")
        handle = await client.start_workflow(LargeTransferWorkflow.run, request, id=unique_id("transfer"),
                                             task_queue=worker.task_queue)

        async def asked():
            return approvals_of(bank, handle.id)

        await eventually(asked, 15, "the approval at the bank")
        carol = ApprovalDecision("carol", "checked with payroll")
        with monkeypatch.context() as patch:
            patch.setattr(approver, "send_approval", cut_off)
            with pytest.raises(ConnectionError):
                await approver.decide(client, bank_client, handle.id, True, carol)
        assert approvals_of(bank, handle.id)[0]["status"] == "approved", "the bank has the decision"
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING, "the transfer does not"

        other = await approver.decide(client, bank_client, handle.id, False, ApprovalDecision("dave", "no"))
        assert not other.delivered and other.message == (
            f"{handle.id} was already approved by carol (checked with payroll): a decision cannot be changed.")

        again = await approver.decide(client, bank_client, handle.id, True, carol)  # the same decision: the bank replays it
        assert again.delivered, again.message
        outcome = await asyncio.wait_for(handle.result(), 15)
        assert (outcome.status, outcome.approver) == ("completed", "carol")
    assert [entry["kind"] for entry in bank.ledger("company")] == ["withdraw"], "the money moved once"
