"""The approver: the bank's approvals desk, where a person decides large transfers from the terminal.

    python -m exercises.module07_async_completion.approver list               # what waits for a person
    python -m exercises.module07_async_completion.approver approve [ID] [--by NAME] [--comment TEXT]
    python -m exercises.module07_async_completion.approver reject [ID] --reason TEXT [--by NAME]
    python -m exercises.module07_async_completion.approver watch              # keep the desk open (heartbeats)

ID is an approval ID from `list`, or a transfer's workflow ID; without one, the module's transfer.
The approver is a process of its own. It reads the approval and its task token from the bank, records the
decision there, and answers the waiting activity through the Temporal server (client.py): it never talks
to a worker.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from typing import Any

from temporalio.client import AsyncActivityCancelledError, Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from workshop.bank import ALREADY_DECIDED, UNKNOWN_APPROVAL, BankClient
from workshop.connection import connect, run_script
from workshop.money import format_cents

from .client import send_approval, send_rejection, transfer_activity
from .shared import ApprovalDecision, transfer_workflow_id

# --------------------------------------------------------------------------- one decision, from start to end


@dataclass
class Answer:
    delivered: bool  # True: the waiting transfer got the decision
    message: str  # one line for the person at the terminal


async def find_approval(bank: BankClient, which: str) -> dict[str, Any] | None:
    """The approval `which` names: an approval ID, or a transfer's workflow ID (its pending approval first)."""
    if which.startswith("approval-"):
        try:
            return await bank.call("GET", f"/approvals/{which}")
        except ApplicationError as err:
            if err.type == UNKNOWN_APPROVAL:
                return None
            raise
    approvals = (await bank.call("GET", "/approvals?limit=1000"))["approvals"]  # newest first
    of_transfer = [approval for approval in approvals if approval["transfer_id"] == which]
    of_transfer.sort(key=lambda approval: approval["status"] != "pending")
    return of_transfer[0] if of_transfer else None


def already_answered(approval: dict[str, Any]) -> str:
    """Why a decision for `approval` comes too late, in one line."""
    if approval["status"] != "pending":
        return (f"{approval['transfer_id']} was already {approval['status']} by {approval['decided_by']} "
                f"({approval['comment'] or 'no comment'}): a decision cannot be changed.")
    return (f"{approval['transfer_id']} does not wait for this answer: its approval step timed out or ended. "
            "(A retry of the step files a new task token: try again in a moment.)")


async def decide(client: Client, bank: BankClient, which: str, approve: bool, decision: ApprovalDecision) -> Answer:
    """Decide an approval: make sure its transfer still waits, record the decision at the bank, answer the activity.

    Each step is safe to repeat: the same decision again is recognised by the bank (same idempotency key)
    and by Temporal (an activity is answered once); a different one is refused by the bank.
    """
    approval = await find_approval(bank, which)
    if approval is None:
        return Answer(False, f"The bank has no approval for {which!r}. `approver list` shows the pending ones.")
    name, transfer, token = approval["approval_id"], approval["transfer_id"], approval["task_token"]
    if not token:
        return Answer(False, f"{name} has no task token: no activity waits for it.")
    handle = transfer_activity(client, token)
    try:
        # Tell Temporal that a person is at work on it. If the activity has closed, the server says NOT_FOUND.
        await handle.heartbeat(f"{decision.approver} is deciding")
        verb = "approve" if approve else "reject"
        await bank.call("POST", f"/approvals/{name}/decision",
                        json={"approved": approve, "decided_by": decision.approver, "comment": decision.comment},
                        key=f"{name}/{verb}/{decision.approver}")
        await (send_approval if approve else send_rejection)(handle, decision)
    except (ApplicationError, RPCError) as err:
        refused = isinstance(err, ApplicationError) and err.type == ALREADY_DECIDED  # by the bank
        closed = isinstance(err, RPCError) and err.status == RPCStatusCode.NOT_FOUND  # by Temporal
        if not (refused or closed):
            raise
        return Answer(False, already_answered(await find_approval(bank, name) or approval))
    except AsyncActivityCancelledError as stop:
        # Still open, but asked to stop. The server accepts report_cancellation only after a cancel request;
        # a paused or reset activity (Web UI, `temporal activity pause`) waits to be resumed instead.
        if stop.details is None or stop.details.cancel_requested:
            await handle.report_cancellation()
            return Answer(False, f"{transfer} is being cancelled; nothing was decided.")
        return Answer(False, f"{transfer}'s approval step is paused or was reset; nothing was decided. Try again later.")
    what = f"{format_cents(approval['amount_cents'])} from {approval['from_account']} to {approval['to_account']}"
    if approve:
        return Answer(True, f"Approved {transfer}: {what} goes ahead.")
    return Answer(True, f"Rejected {transfer}: {what} will not move.")


# --------------------------------------------------------------------------- the desk


def summary(approval: dict[str, Any]) -> str:
    note = f' "{approval["note"]}"' if approval["note"] else ""
    return (f"{approval['approval_id']}  {approval['transfer_id']}  {format_cents(approval['amount_cents'])} "
            f"{approval['from_account']} -> {approval['to_account']}{note}  (asked {approval['created_at']})")


async def pending_approvals(bank: BankClient) -> list[dict[str, Any]]:
    return list((await bank.call("GET", "/approvals?status=pending&limit=1000"))["approvals"])


async def list_pending(client: Client, bank: BankClient) -> None:
    pending = await pending_approvals(bank)
    for approval in pending:
        try:
            running = (await client.get_workflow_handle(approval["transfer_id"]).describe()).status \
                == WorkflowExecutionStatus.RUNNING
        except RPCError:
            running = False
        print(summary(approval) + ("" if running else "  (its transfer has ended)"))
    if not pending:
        print("No approval waits for a person.")


async def keep_desk_open(client: Client, bank: BankClient, every: float) -> None:
    """Heartbeat the activity of every pending approval every `every` seconds, until stopped."""
    on_desk: set[str] = set()
    stale: set[str] = set()  # task tokens that no activity attempt answers to any more
    while True:
        pending = await pending_approvals(bank)
        for approval in pending:
            name, token = approval["approval_id"], approval["task_token"]
            if not token or token in stale:
                continue  # a retry of the step would file a new token: the approval is heartbeaten again then
            try:
                await transfer_activity(client, token).heartbeat("on the approvals desk")
            except AsyncActivityCancelledError:
                continue  # open, but paused or being cancelled: not the desk's to decide
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                print(f"{name}: no activity waits for it now.", flush=True)
                stale.add(token)
                on_desk.discard(name)
                continue
            if name not in on_desk:
                print(f"On the desk: {summary(approval)}", flush=True)
                on_desk.add(name)
        for name in on_desk - {approval["approval_id"] for approval in pending}:
            print(f"{name}: decided.", flush=True)
            on_desk.discard(name)
        await asyncio.sleep(every)


# --------------------------------------------------------------------------- the commands


async def main(args: argparse.Namespace) -> int:
    client = await connect()
    async with BankClient() as bank:
        try:
            if args.command == "list":
                await list_pending(client, bank)
                return 0
            if args.command == "watch":
                print(f"The approvals desk is open: it heartbeats every waiting approval every {args.every:g} s. "
                      "Ctrl-C closes it, and the approvers fall silent.", flush=True)
                await keep_desk_open(client, bank, args.every)
            decision = ApprovalDecision(args.by, args.comment if args.command == "approve" else args.reason)
            answer = await decide(client, bank, args.id or transfer_workflow_id(), args.command == "approve", decision)
        except ConnectionError as err:
            print(f"error: {err}")
            return 2
    print(answer.message)
    return 0 if answer.delivered else 1


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the approvals that wait for a person")
    watch = commands.add_parser("watch", help="keep the desk open: heartbeat every waiting approval")
    watch.add_argument("--every", type=float, default=2.0, help="seconds between two rounds of heartbeats")
    for name in ("approve", "reject"):
        command = commands.add_parser(name, help=f"{name} a transfer")
        command.add_argument("id", nargs="?", help="an approval ID, or a transfer's workflow ID "
                                                   "(default: the module's transfer)")
        command.add_argument("--by", default="carol", help="who decides")
        if name == "approve":
            command.add_argument("--comment", default="")
        else:
            command.add_argument("--reason", required=True, help="why not: the transfer's outcome says it")
    return parser.parse_args(argv)


if __name__ == "__main__":
    import sys

    run_script(main(parse_args(sys.argv[1:])))
