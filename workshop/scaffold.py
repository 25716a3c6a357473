"""`python -m workshop new NN`: the files of a new module, already in the course's patterns.

What it makes runs from the first minute: a workflow with one activity that calls the bank through
the worker's one BankClient, a worker, a runner with --embedded, a README with one Part, a check suite
with one check per target, and a notebook. CONTRIBUTING.md's checklist goes on from there.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from workshop import catalog
from workshop.paths import CHECKS, NOTEBOOKS, SOLUTIONS


class ScaffoldError(ValueError):
    """The module cannot be scaffolded; the message says why."""


def _class_name(topic: str) -> str:
    return "".join(word.title() for word in topic.split("_")) + "Workflow"


FILES: dict[str, str] = {
    "__init__.py": '"""Module {number}: {title_lower}."""\n',
    "shared.py": '''"""What the workflow, its activities, the worker and the runner of module {number} agree on."""

from __future__ import annotations

from dataclasses import dataclass

from workshop import connection


def task_queue() -> str:
    """This module's task queue, read when a worker or a runner starts (so WORKSHOP_LEARNER counts)."""
    return connection.task_queue(__package__)


@dataclass
class DepositRequest:
    account: str
    amount_cents: int
    key: str  # made by the workflow with workshop.bank.idempotency_key(step)
    reference: str = ""


@dataclass
class {workflow}Input:
    account: str
    amount_cents: int


@dataclass
class {workflow}Result:
    transaction_id: int
    balance_cents: int
''',
    "activities.py": '''"""The activities of module {number}: calls to the bank through the worker's one BankClient."""

from __future__ import annotations

from temporalio import activity

from workshop.bank import BankClient

from .shared import DepositRequest, {workflow}Result


class BankActivities:
    def __init__(self, bank: BankClient) -> None:
        self.bank = bank

    @activity.defn
    async def deposit(self, request: DepositRequest) -> {workflow}Result:
        receipt = await self.bank.deposit(request.account, request.amount_cents, key=request.key,
                                          reference=request.reference)
        return {workflow}Result(receipt.transaction_id, receipt.balance_cents)
''',
    "workflow.py": '''"""The workflow of module {number}: {title_lower}."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workshop.bank import idempotency_key

    from .activities import BankActivities
    from .shared import DepositRequest, {workflow}Input, {workflow}Result


@workflow.defn
class {workflow}:
    @workflow.run
    async def run(self, request: {workflow}Input) -> {workflow}Result:
        # >>> Part A: Deposit the amount.
        return await workflow.execute_activity_method(
            BankActivities.deposit,
            DepositRequest(request.account, request.amount_cents, idempotency_key("deposit"), "module {number}"),
            start_to_close_timeout=timedelta(seconds=10),
        )
        # <<< Part A
''',
    "worker.py": '''"""Runs the worker of module {number} until Ctrl-C: `python -m workshop worker {number}`."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from workshop.bank import BankClient
from workshop.connection import connect, run_script, serve

from .activities import BankActivities
from .shared import task_queue
from .workflow import {workflow}


def build_worker(client: Client, bank: BankClient | None = None) -> Worker:
    activities = BankActivities(bank or BankClient())
    return Worker(client, task_queue=task_queue(), workflows=[{workflow}], activities=[activities.deposit])


async def main() -> None:
    client = await connect()
    async with BankClient() as bank:
        await serve(build_worker(client, bank))


if __name__ == "__main__":
    run_script(main())
''',
    "run_workflow.py": '''"""Starts the workflow of module {number} and prints its result.

    python -m workshop run {number}              # needs a worker: python -m workshop worker {number}
    python -m workshop run {number} --embedded   # runs a worker in this process too
"""

from __future__ import annotations

import argparse
import uuid
from contextlib import nullcontext

from workshop.connection import connect, run_script, workflow_id

from .shared import {workflow}Input, task_queue
from .worker import build_worker
from .workflow import {workflow}


async def main(args: argparse.Namespace) -> None:
    client = await connect()
    async with build_worker(client) if args.embedded else nullcontext():
        result = await client.execute_workflow(
            {workflow}.run, {workflow}Input(args.account, args.amount),
            id=workflow_id(__package__, f"{topic_id}-{{uuid.uuid4().hex[:8]}}"), task_queue=task_queue(),
        )
    print(f"Done: transaction {{result.transaction_id}}.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedded", action="store_true", help="run a worker in this process as well")
    parser.add_argument("--account", default="alice")
    parser.add_argument("--amount", type=int, default=1_000, help="in cents")
    run_script(main(parser.parse_args()))
''',
    "README.md": '''# Module {number}: {title}

**Goal:** {goal}
**Timebox:** {timebox} minutes.

(The story, the files, and what the learner will break on purpose.)

## Part A: Deposit the amount.

1. (A numbered step: the goal, the API to look up, what the learner will observe. No answer code.)

Check your work at any point: `python -m workshop check {number}`.

## Run it

```console
$ python -m workshop run {number} --embedded
Done: transaction 1.
```

## What just happened

## Web UI and CLI
''',
}

CHECKS_TEMPLATE = '''"""Check suite of module {number}, {title_lower}: `python -m workshop check {number}`.

No `from __future__ import annotations` in check suites: stand-in activities' type hints name classes of
the target module and must be evaluated where they are defined.
"""

import pytest
from temporalio import activity

from workshop.testing import result_within, running_worker, unique_id

MODULE = "{number}"


@pytest.mark.part("A")
async def test_the_workflow_deposits_the_amount(target, time_skipping_env):
    shared = target.load(MODULE, "shared")
    workflow_module = target.load(MODULE, "workflow")
    deposits: list[int] = []

    @activity.defn(name="deposit")  # stands in for the bank, so this check is about the workflow alone
    async def deposit(request: shared.DepositRequest) -> shared.{workflow}Result:
        deposits.append(request.amount_cents)
        return shared.{workflow}Result(len(deposits), 0)

    client = time_skipping_env.client
    async with running_worker(client, [workflow_module.{workflow}], [deposit]) as queue:
        handle = await client.start_workflow(
            workflow_module.{workflow}.run, shared.{workflow}Input("alice", 1_000), id=unique_id("check"),
            task_queue=queue,
        )
        try:
            await result_within(handle, 30, "A", "depositing")
        except Exception as err:
            raise AssertionError(f"Part A: the workflow failed: {{err}}") from err
    assert deposits == [1_000], f"Part A: expected one deposit of 1000 cents, saw {{deposits}}."
'''


def _notebook(number: str, title: str, folder: str) -> str:
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": [f"# Module {number}: {title}\n"]},
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
         "source": [f"from solutions.{folder}.workflow import *  # noqa: F403 - the module's solution code\n"]},
    ]
    notebook = {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                                            "name": "python3"}},
                "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(notebook, indent=1) + "\n"


def _append_metadata(number: str, folder: str, title: str, goal: str) -> None:
    text = catalog.METADATA.read_text(encoding="utf-8")
    text += (f'\n[[module]]\nnumber = "{number}"\nfolder = "{folder}"\ntitle = "{title}"\ngoal = "{goal}"\n'
             f'timebox_minutes = 30\nready = false\nnotebook = "{number}_{folder.split("_", 1)[1]}.ipynb"\n\n'
             f'  [[module.part]]\n  letter = "A"\n  title = "Deposit the amount."\n'
             f'  hints = ["Run the deposit activity with workflow.execute_activity_method."]\n')
    catalog.parse(text)  # refuse to write a file the toolkit could not read
    catalog.METADATA.write_text(text, encoding="utf-8")
    catalog.modules.cache_clear()


def new_module(number: str, topic: str | None = None, title: str | None = None, goal: str | None = None,
               solutions_root: Path = SOLUTIONS, checks_root: Path = CHECKS, notebooks_root: Path = NOTEBOOKS) -> list[Path]:
    """Create the files of module ``number``; returns them. Refuses to overwrite anything."""
    if not re.fullmatch(r"\d\d", number):
        raise ScaffoldError(f"A module number is two digits, like 11; got {number!r}.")
    existing = next((m for m in catalog.modules() if m.number == number), None)
    if existing is None:
        if not (topic and title and goal):
            raise ScaffoldError(f"modules.toml has no module {number}: give --topic, --title and --goal.")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", topic):
            raise ScaffoldError(f"--topic must be lower case letters, digits and '_', like 'timers'; got {topic!r}.")
        folder = f"module{number}_{topic}"
        _append_metadata(number, folder, title.replace('"', "'"), goal.replace('"', "'"))
        existing = next(m for m in catalog.modules() if m.number == number)
    folder, title = existing.folder, existing.title
    names = {"number": number, "title": title, "title_lower": title.lower(), "goal": existing.goal,
             "timebox": existing.timebox_minutes, "workflow": _class_name(existing.topic),
             "topic_id": existing.topic.replace("_", "-")}
    planned = {solutions_root / folder / name: template.format(**names) for name, template in FILES.items()}
    planned[checks_root / f"test_module{number}.py"] = CHECKS_TEMPLATE.format(**names)
    planned[notebooks_root / f"{number}_{existing.topic}.ipynb"] = _notebook(number, title, folder)
    taken = [path for path in planned if path.exists()]
    if taken:
        raise ScaffoldError("Not overwriting what exists: " + ", ".join(str(p) for p in taken))
    for path, content in planned.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    # The templates' import lists depend on the module's name; let the linter put them in order.
    python_files = [str(path) for path in planned if path.suffix == ".py"]
    subprocess.run([sys.executable, "-m", "ruff", "check", "--quiet", "--fix", "--select", "I", *python_files],
                   capture_output=True, check=False)
    return list(planned)
