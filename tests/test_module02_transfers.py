"""Module 02 end to end: the solved transfer against the real account API, and the scripts it replaces."""

import subprocess
import sys

import pytest
from temporalio.client import WorkflowFailureError

from solutions.module02_retries import shared
from solutions.module02_retries.activities import BankActivities
from solutions.module02_retries.workflow import MoneyTransferWorkflow
from workshop.bank import BankClient
from workshop.paths import ROOT
from workshop.testing import failure_text, running_worker, unique_id


async def transfer(client, request: shared.TransferInput):
    async with BankClient() as bank:
        activities = BankActivities(bank)
        async with running_worker(client, [MoneyTransferWorkflow], [activities.withdraw, activities.deposit]) as queue:
            return await client.execute_workflow(
                MoneyTransferWorkflow.run, request, id=unique_id("transfer"), task_queue=queue
            )


def kinds(bank, account):
    return [entry["kind"] for entry in bank.ledger(account)]


async def test_transfer_under_faults_moves_money_exactly_once(client, bank):
    bank.faults(error_rate=0.4, lost_response_rate=0.4, seed=2)
    result = await transfer(client, shared.TransferInput("alice", "bob", 12_345))
    stats = bank.stats()
    bank.faults(error_rate=0, lost_response_rate=0)
    assert stats["injected_faults"] + stats["lost_responses"] > 0, "the fault mode should have struck"
    assert kinds(bank, "alice") == ["withdraw"] and kinds(bank, "bob") == ["deposit"]
    assert bank.balance("alice") == 100_000 - 12_345 and bank.balance("bob") == 50_000 + 12_345
    assert result.deposit.balance_cents == 50_000 + 12_345


async def test_insufficient_funds_fails_fast_and_moves_nothing(client, bank):
    with pytest.raises(WorkflowFailureError) as failure:
        await transfer(client, shared.TransferInput("dave", "bob", 10_001))
    assert "InsufficientFunds" in failure_text(failure.value) or "insufficient" in failure_text(failure.value).lower()
    assert bank.stats()["rejected"] == 1, "one attempt, no retries"
    assert bank.balance("dave") == 10_000 and bank.balance("bob") == 50_000


async def test_deposit_to_unknown_account_is_refunded(client, bank):
    with pytest.raises(WorkflowFailureError) as failure:
        await transfer(client, shared.TransferInput("alice", "nobody", 4_000))
    assert "refunded to alice" in failure_text(failure.value)
    assert kinds(bank, "alice") == ["deposit", "withdraw"]  # newest first: the refund after the withdraw
    assert bank.balance("alice") == 100_000


def run_script(env: dict, name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"solutions.module02_retries.{name}", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize("script", ["naive_transfer", "retry_by_hand"])
def test_scripts_without_temporal_lose_money_when_answers_are_lost(bank, services, script):
    bank.faults(lost_response_rate=1.0)
    completed = run_script(services.env(), script, "--amount", "5000")
    bank.faults(lost_response_rate=0)
    assert completed.returncode != 0, completed.stdout + completed.stderr
    withdrawals = kinds(bank, "alice").count("withdraw")
    assert withdrawals >= 1 and kinds(bank, "bob") == [], "money left alice and never reached bob"
    assert bank.balance("alice") == 100_000 - 5_000 * withdrawals
    if script == "retry_by_hand":
        assert withdrawals == 3, "each hand-written retry withdrew again"


def test_naive_script_works_when_the_bank_does(bank, services):
    completed = run_script(services.env(), "naive_transfer", "--amount", "5000")
    assert completed.returncode == 0, completed.stderr
    assert bank.balance("alice") == 95_000 and bank.balance("bob") == 55_000
