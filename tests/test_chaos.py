"""The chaos run's short form (benchmarks/chaos.py): module 02's transfers while the worker is SIGKILLed
every few seconds, the bank is in fault mode and is kill -9'd once, and the Temporal server restarts once.
Money is never lost or duplicated. `python benchmarks/chaos.py --long --minutes 3` runs it for minutes."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from types import ModuleType

import pytest

from workshop.paths import ROOT


def load_chaos() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chaos", ROOT / "benchmarks" / "chaos.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


chaos = load_chaos()


def test_the_plan_is_fixed_by_the_seed_and_every_kind_is_in_it():
    balances = {"alice": 100_000, "bob": 50_000, "carol": 25_000, "dave": 10_000, "company": 10_000_000}
    config = chaos.ChaosConfig()
    plan = chaos.make_plan(config, balances)
    assert plan == chaos.make_plan(config, balances)
    kinds = {planned.kind for planned in plan.transfers}
    assert kinds == {chaos.ORDINARY, chaos.OVERSIZED, chaos.UNKNOWN_TARGET}
    assert len({planned.source for planned in plan.transfers} | {planned.target for planned in plan.transfers}) == 11
    # Whatever order they run in, ordinary transfers never overdraw, and oversized ones always do.
    opening = {**balances, **plan.opening}
    spent: dict[str, int] = {}
    received: dict[str, int] = {}
    for planned in plan.transfers:
        if planned.kind != chaos.OVERSIZED:
            spent[planned.source] = spent.get(planned.source, 0) + planned.amount_cents
        if planned.kind == chaos.ORDINARY:
            received[planned.target] = received.get(planned.target, 0) + planned.amount_cents
    assert all(spent[account] <= opening[account] for account in spent)
    for planned in plan.transfers:
        if planned.kind == chaos.OVERSIZED:
            assert planned.amount_cents > opening[planned.source] + received.get(planned.source, 0)


@pytest.mark.timeout(300)
@pytest.mark.long
def test_money_is_never_lost_or_duplicated_under_chaos(capsys, record_property):
    report = asyncio.run(chaos.run_chaos(chaos.ChaosConfig()))
    text = report.text()
    with capsys.disabled():  # the figures, in the test run's output (and in its JUnit report, as a property)
        print(f"\n{text}")
    record_property("chaos", text)

    assert report.problems == [], text
    assert len(report.outcomes) >= 200 and len({o.planned.source for o in report.outcomes}) == 10, text
    assert report.count(chaos.COMPLETED) > 0 and report.count(chaos.INSUFFICIENT) > 0, text
    assert report.count(chaos.REFUNDED) > 0, text
    assert report.worker_kills >= 3 and report.api_kills == 1 and report.server_restarts == 1, text
    assert report.injected_errors > 0 and report.lost_responses > 0 and report.activity_retries > 0, text
    assert report.money_before == report.money_after, text
