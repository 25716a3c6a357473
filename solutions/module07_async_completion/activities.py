"""The transfer's activities: one that puts the transfer in front of a person, and the bank's money moves.

All of them share the worker's one client of the bank (see workshop/bank.py).
"""

from __future__ import annotations

import base64

from temporalio import activity
from temporalio.exceptions import ApplicationError

from workshop.bank import ALREADY_DECIDED, BankClient

from .shared import ApprovalDecision, ApprovalExpiry, ApprovalRequest, MoneyMovement, Receipt


class BankActivities:
    def __init__(self, bank: BankClient) -> None:
        self.bank = bank

    @activity.defn
    async def request_approval(self, request: ApprovalRequest) -> ApprovalDecision:
        """Ask the bank for a person's approval. The result arrives later, from the approver, not from here."""
        # >>> Part A: Hand the task token to the bank and leave the activity open with raise_complete_async
        # The token names this attempt of this activity. It is bytes; JSON carries it as base64 text.
        token = base64.b64encode(activity.info().task_token).decode()
        approval = await self.bank.call(
            "POST", "/approvals",
            json={"transfer_id": request.transfer_id, "from_account": request.from_account,
                  "to_account": request.to_account, "amount_cents": request.amount_cents, "note": request.note,
                  "task_token": token},
            # The same key on every attempt: a retried request finds the same approval (and gives it the
            # newer attempt's token) instead of asking the approver a second time.
            key=request.idempotency_key,
        )
        activity.logger.info("Approval %s requested; the approver will answer", approval["approval_id"])
        # Not a failure: the worker sends the server nothing for this attempt and forgets it. The server keeps
        # the activity open, its timeouts running, until the token's holder answers.
        activity.raise_complete_async()
        # <<< Part A

    @activity.defn
    async def expire_approval(self, expiry: ApprovalExpiry) -> None:
        """Close the transfer's pending approval requests at the bank, so that nobody approves them any more.

        The bank knows a request by the transfer's workflow ID; one left pending by an earlier execution under
        the same ID (ended without an answer) is closed as well: nothing waits for it either.
        """
        pending = await self.bank.call("GET", "/approvals?status=pending&limit=1000")
        for approval in pending["approvals"]:
            if approval["transfer_id"] != expiry.transfer_id:
                continue
            try:
                await self.bank.call(
                    "POST", f"/approvals/{approval['approval_id']}/decision",
                    json={"approved": False, "decided_by": "the transfer workflow", "comment": expiry.reason},
                    key=f"{expiry.idempotency_key}/{approval['approval_id']}",
                )
            except ApplicationError as err:
                if err.type != ALREADY_DECIDED:
                    raise
                activity.logger.info("Approval %s was decided in the meantime", approval["approval_id"])

    @activity.defn
    async def withdraw(self, movement: MoneyMovement) -> Receipt:
        receipt = await self.bank.withdraw(movement.account, movement.amount_cents, key=movement.idempotency_key,
                                           reference=movement.reference)
        return Receipt(receipt.transaction_id, receipt.balance_cents)

    @activity.defn
    async def deposit(self, movement: MoneyMovement) -> Receipt:
        receipt = await self.bank.deposit(movement.account, movement.amount_cents, key=movement.idempotency_key,
                                          reference=movement.reference)
        return Receipt(receipt.transaction_id, receipt.balance_cents)
