"""Records histories/transfer_before_change.json from the workflow as it was before Part C's change.

    python -m solutions.module04_bug_handling.record_history

The course ships the recorded file; run this again only if the workflow before the change is changed.
The transfer is a small one, below LARGE_TRANSFER_CENTS.
"""

from __future__ import annotations

import json
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Worker

from workshop.bank import BankClient
from workshop.connection import run_script
from workshop.settings import temporal_connect_config

from .activities import BankActivities
from .shared import TransferInput, transfer_workflow_id
from .workflow_before_change import MoneyTransferWorkflowBeforeChange

HISTORY_FILE = Path(__file__).with_name("histories") / "transfer_before_change.json"


async def record(path: Path = HISTORY_FILE) -> Path:
    # A fixed identity keeps the machine's name out of the committed file.
    client = await Client.connect(**temporal_connect_config(), identity="module04-recorder")
    queue = "module04-record-history"
    activities = BankActivities(BankClient())
    async with Worker(client, task_queue=queue, workflows=[MoneyTransferWorkflowBeforeChange],
                      activities=[activities.withdraw, activities.deposit], identity="module04-recorder"):
        handle = await client.start_workflow(
            MoneyTransferWorkflowBeforeChange.run,
            TransferInput("carol", "dave", 4_200, "lunch"),
            id=transfer_workflow_id(),
            task_queue=queue,
        )
        await handle.result()
    save(await handle.fetch_history(), path)
    return path


def save(history: WorkflowHistory, path: Path) -> None:
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(json.loads(history.to_json()), indent=2) + "\n", encoding="utf-8")


async def main() -> None:
    print(f"Recorded {await record()}")


if __name__ == "__main__":
    run_script(main())
