"""Three workflows that talk through signals.

TransferApprovalWorkflow   waits for a `decide` signal, then moves the money (or not)
FraudReviewWorkflow        decides a transfer and signals the decision to it, workflow to workflow
AccountEntityWorkflow      one long-lived workflow per account; events arrive as signals, in a queue
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workshop.bank import INSUFFICIENT_FUNDS, idempotency_key
    from workshop.money import format_cents

    from .activities import BankActivities
    from .shared import (
        AUTO_APPROVAL_LIMIT_CENTS,
        AccountEvent,
        AccountState,
        Approval,
        LegacyPosting,
        MoneyMovement,
        Posting,
        ReviewRequest,
        TransferOutcome,
        TransferRequest,
    )

BANK_RETRIES = RetryPolicy(maximum_interval=timedelta(seconds=10))


@workflow.defn
class TransferApprovalWorkflow:
    def __init__(self) -> None:
        self._approval: Approval | None = None

    @workflow.signal
    def decide(self, approval: Approval) -> None:
        # >>> Part A: Store the decide signal's approval and wait for it with workflow.wait_condition
        if self._approval is None:
            self._approval = approval
        else:  # the first decision counts; a late second one changes nothing
            workflow.logger.info("Ignoring a later decision by %s", approval.approver)
        # <<< Part A

    @workflow.run
    async def run(self, request: TransferRequest) -> TransferOutcome:
        workflow.logger.info("Transfer of %d cents waits for approval", request.amount_cents)
        # >>> Part A: Store the decide signal's approval and wait for it with workflow.wait_condition
        try:
            # The workflow sleeps until a signal makes the condition true: no polling, nothing in the history.
            await workflow.wait_condition(
                lambda: self._approval is not None, timeout=timedelta(seconds=request.approval_timeout_seconds)
            )
        except asyncio.TimeoutError:
            return TransferOutcome(status="expired", comment="nobody decided in time")
        # --- exercise version:
        # # Busy-waiting: every pass around this loop adds a timer to the history.
        # while self._approval is None:  # noqa: ASYNC110 - the linter sees it too
        #     await asyncio.sleep(1)
        # <<< Part A
        approval = self._approval
        assert approval is not None  # the wait above ends only once a decision has arrived
        if not approval.approved:
            return TransferOutcome(status="rejected", approver=approval.approver, comment=approval.comment)

        reference = f"transfer {workflow.info().workflow_id} approved by {approval.approver}"
        withdrawn = await workflow.execute_activity_method(
            BankActivities.withdraw,
            MoneyMovement(request.from_account, request.amount_cents, reference, idempotency_key("withdraw")),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=BANK_RETRIES,
        )
        deposited = await workflow.execute_activity_method(
            BankActivities.deposit,
            MoneyMovement(request.to_account, request.amount_cents, reference, idempotency_key("deposit")),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=BANK_RETRIES,
        )
        return TransferOutcome("completed", approval.approver, approval.comment,
                               withdrawn.transaction_id, deposited.transaction_id)


@workflow.defn
class FraudReviewWorkflow:
    """An automatic reviewer: small transfers pass, big ones are turned down for a person to look at."""

    @workflow.run
    async def run(self, review: ReviewRequest) -> Approval:
        if review.amount_cents <= AUTO_APPROVAL_LIMIT_CENTS:
            approval = Approval(review.reviewer, True, "within the automatic approval limit")
        else:
            approval = Approval(review.reviewer, False,
                                f"above the automatic limit of {format_cents(AUTO_APPROVAL_LIMIT_CENTS)}")
        # >>> Part C: Signal the decision to the transfer workflow with get_external_workflow_handle
        transfer = workflow.get_external_workflow_handle_for(
            TransferApprovalWorkflow.run, review.transfer_workflow_id
        )
        # Returns once the server has recorded the signal in the transfer's history.
        await transfer.signal(TransferApprovalWorkflow.decide, approval)
        # <<< Part C
        return approval


@workflow.defn
class AccountEntityWorkflow:
    """One execution per account (workflow ID "account-<id>"), running for as long as the account lives."""

    @workflow.init
    def __init__(self, state: AccountState) -> None:
        self._state = state
        self._inbox: asyncio.Queue[AccountEvent] = asyncio.Queue()
        for event in state.pending:  # received by the previous run, not processed yet
            self._inbox.put_nowait(event)
        state.pending = []

    # >>> Part E: Queue each event in the signal handlers and process the queue one at a time
    @workflow.signal
    def post_event(self, event: AccountEvent) -> None:
        # A handler only queues: `run` takes the events off in the order they arrived.
        self._inbox.put_nowait(event)

    @workflow.signal(dynamic=True)
    def legacy_posting(self, name: str, args: Sequence[RawValue]) -> None:
        # The old branch system names its signals "deposit" / "withdraw"; any other name is a mistake.
        if name not in ("deposit", "withdraw"):
            workflow.logger.warning("Ignoring a signal named %r", name)
            return
        posting = workflow.payload_converter().from_payload(args[0].payload, LegacyPosting)
        self._inbox.put_nowait(AccountEvent(posting.event_id, name, posting.amount_cents, note="legacy"))
    # --- exercise version:
    # @workflow.signal
    # async def post_event(self, event: AccountEvent) -> None:
    #     # Each signal processes its own event, at once: many can be in progress at the same time.
    #     await self._process(event)
    #
    # @workflow.signal(dynamic=True)
    # async def legacy_posting(self, name: str, args: Sequence[RawValue]) -> None:
    #     if name not in ("deposit", "withdraw"):
    #         workflow.logger.warning("Ignoring a signal named %r", name)
    #         return
    #     posting = workflow.payload_converter().from_payload(args[0].payload, LegacyPosting)
    #     await self._process(AccountEvent(posting.event_id, name, posting.amount_cents, note="legacy"))
    # <<< Part E

    @workflow.run
    async def run(self, state: AccountState) -> None:
        processed_before = state.processed

        def time_to_continue_as_new() -> bool:
            # A run's history and its signal count are limited: hand over to a fresh run well before.
            return (workflow.info().is_continue_as_new_suggested()
                    or self._state.processed - processed_before >= state.events_per_run)

        # >>> Part E: Queue each event in the signal handlers and process the queue one at a time
        while not time_to_continue_as_new():
            await workflow.wait_condition(lambda: not self._inbox.empty() or time_to_continue_as_new())
            if not self._inbox.empty():
                await self._process(self._inbox.get_nowait())
        # --- exercise version:
        # await workflow.wait_condition(time_to_continue_as_new)
        # <<< Part E
        # Let running handlers finish, then carry the state and the unprocessed events into the next run.
        await workflow.wait_condition(workflow.all_handlers_finished)
        while not self._inbox.empty():
            self._state.pending.append(self._inbox.get_nowait())
        workflow.logger.info("Continuing as new after %d events", self._state.processed)
        workflow.continue_as_new(self._state)

    async def _process(self, event: AccountEvent) -> None:
        try:
            receipt = await workflow.execute_activity_method(
                BankActivities.apply_account_event,
                # The event's own ID names it at the bank: a continue-as-new keeps the first run's ID in
                # the key, so an event handed to the next run is still applied only once.
                Posting(self._state.account_id, event, idempotency_key(f"event/{event.event_id}")),
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=BANK_RETRIES,
            )
            self._state.balance_cents = receipt.balance_cents
        except ActivityError as err:
            if not (isinstance(err.cause, ApplicationError) and err.cause.type == INSUFFICIENT_FUNDS):
                raise
            workflow.logger.warning("The bank declined event %s: insufficient funds", event.event_id)
            self._state.declined.append(event.event_id)
        self._state.processed += 1
