"""Check suite of module 05, queries: `python -m workshop check 05`.

No `from __future__ import annotations` in check suites: the stand-in activities' and workflows' type
hints name classes of the target module and must be evaluated where they are defined.
"""

import asyncio

import pytest
from temporalio import activity, workflow
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)

from workshop.testing import (
    history_events,
    result_within,
    root_cause,
    running_worker,
    unique_id,
    until_first_task_completed,
)

MODULE = "05"


@workflow.defn(name="TransferWorkflow", sandboxed=False)
class StandInTransfer:
    """A transfer of the check's own with a working `progress` query, so Parts B and D are checked alone.

    Its input names the steps it reports (the target's constants); its answers are plain JSON objects, which
    the target's typed query decodes into its TransferProgress.
    """

    def __init__(self) -> None:
        self._confirmed = False
        self._steps: dict = {}

    @workflow.run
    async def run(self, steps: dict) -> None:
        self._steps = steps
        await workflow.wait_condition(lambda: self._confirmed)

    @workflow.signal
    def confirm(self) -> None:
        self._confirmed = True

    @workflow.query
    def progress(self) -> dict:
        if not self._confirmed:
            return {"step": self._steps["open"], "balances_seen": {}, "attempts": {}}
        return {"step": self._steps["closed"], "balances_seen": {"alice": 97_500}, "attempts": {"withdraw": 1}}


async def start_stand_in(client: Client, shared, queue: str) -> WorkflowHandle:
    steps = {"open": shared.AWAITING_CONFIRMATION, "closed": shared.COMPLETED}
    return await client.start_workflow(StandInTransfer.run, steps, id=unique_id("transfer"), task_queue=queue)


async def ask(handle: WorkflowHandle, part: str, *args, **kwargs):
    """A query whose failure is reported as a failure of the Part."""
    try:
        return await handle.query(*args, **kwargs)
    except WorkflowQueryFailedError as err:
        name = getattr(args[0], "__name__", args[0])
        raise AssertionError(f"Part {part}: the query {name!r} failed: {err.message}") from err


@pytest.mark.part("A")
async def test_progress_answers_in_each_state_and_queries_add_no_events(target, client):
    shared = target.load(MODULE, "shared")
    workflows = target.load(MODULE, "workflow")
    withdraw_started, let_withdraw_finish = asyncio.Event(), asyncio.Event()

    @activity.defn(name="withdraw")
    async def slow_withdraw(movement: shared.MoneyMovement) -> shared.Receipt:
        withdraw_started.set()
        await let_withdraw_finish.wait()
        return shared.Receipt(1, 97_500, activity.info().attempt)

    @activity.defn(name="deposit")
    async def deposit_on_second_attempt(movement: shared.MoneyMovement) -> shared.Receipt:
        if activity.info().attempt == 1:
            raise RuntimeError("the bank is busy, try again")
        return shared.Receipt(2, 52_500, activity.info().attempt)

    transfer = workflows.TransferWorkflow
    async with running_worker(client, [transfer], [slow_withdraw, deposit_on_second_attempt]) as queue:
        handle = await client.start_workflow(
            transfer.run, shared.TransferRequest("alice", "bob", 2_500), id=unique_id("transfer"), task_queue=queue
        )
        try:
            await until_first_task_completed(handle)
            expected = shared.TransferProgress(shared.AWAITING_CONFIRMATION, {}, {})
            answer = await ask(handle, "A", transfer.progress)
            assert answer == expected, f"Part A: before the confirmation, progress should be {expected}; it is {answer}."

            length = len(await history_events(handle))
            for _ in range(5):
                await ask(handle, "A", transfer.progress)
            added = len(await history_events(handle)) - length
            assert added == 0, f"Part A: five queries added {added} events to the history; a query must add none."

            await handle.signal(transfer.confirm)
            await asyncio.wait_for(withdraw_started.wait(), 10)
            expected = shared.TransferProgress(shared.WITHDRAWING, {}, {})
            answer = await ask(handle, "A", transfer.progress)
            assert answer == expected, f"Part A: while withdrawing, progress should be {expected}; it is {answer}."
        finally:
            let_withdraw_finish.set()
        try:
            await result_within(handle, 15, "A", "moving the money")
        except WorkflowFailureError as err:
            raise AssertionError(f"Part A: the transfer failed: {root_cause(err)}") from err
        expected = shared.TransferProgress(shared.COMPLETED, {"alice": 97_500, "bob": 52_500}, {"withdraw": 1, "deposit": 2})
        answer = await ask(handle, "A", transfer.progress)
        assert answer == expected, f"Part A: once completed, progress should be {expected}; it is {answer}."


@pytest.mark.part("B")
async def test_a_completed_transfer_is_queried_by_its_id(target, client):
    shared = target.load(MODULE, "shared")
    client_code = target.load(MODULE, "client")
    async with running_worker(client, [StandInTransfer]) as queue:
        handle = await start_stand_in(client, shared, queue)
        await handle.signal(StandInTransfer.confirm)
        await result_within(handle, 15, "B", "finishing the transfer")
        try:
            answer = await client_code.progress_of(client, handle.id)
        except WorkflowQueryFailedError as err:
            raise AssertionError(f"Part B: querying the completed transfer failed: {err.message}") from err
        expected = shared.TransferProgress(shared.COMPLETED, {"alice": 97_500}, {"withdraw": 1})
        assert answer == expected, (
            f"Part B: progress_of should return the completed transfer's progress {expected}; it returned {answer!r}."
        )


@pytest.mark.part("C")
async def test_the_dynamic_handler_answers_fields_and_names_unknown_queries(target, client):
    shared = target.load(MODULE, "shared")
    workflows = target.load(MODULE, "workflow")

    @activity.defn(name="withdraw")
    async def quick_withdraw(movement: shared.MoneyMovement) -> shared.Receipt:
        return shared.Receipt(1, 97_500, 1)

    @activity.defn(name="deposit")
    async def quick_deposit(movement: shared.MoneyMovement) -> shared.Receipt:
        return shared.Receipt(2, 52_500, 1)

    transfer = workflows.TransferWorkflow
    async with running_worker(client, [transfer], [quick_withdraw, quick_deposit]) as queue:
        handle = await client.start_workflow(
            transfer.run, shared.TransferRequest("alice", "bob", 2_500), id=unique_id("transfer"), task_queue=queue
        )
        await until_first_task_completed(handle)
        answer = await ask(handle, "C", "step")
        assert answer == shared.AWAITING_CONFIRMATION, (
            f"Part C: the query 'step' should answer {shared.AWAITING_CONFIRMATION!r} before the confirmation; "
            f"it answered {answer!r}."
        )
        await handle.signal(transfer.confirm)
        await result_within(handle, 15, "C", "moving the money")
        for args, expected in (
            (("step",), shared.COMPLETED),
            (("balances_seen",), {"alice": 97_500, "bob": 52_500}),
            (("balances_seen", "bob"), 52_500),
            (("attempts", "withdraw"), 1),
            (("balances_seen", "nobody"), None),
        ):
            answer = await ask(handle, "C", *args)
            assert answer == expected, f"Part C: the query {args} should answer {expected!r}; it answered {answer!r}."

        try:
            answer = await handle.query("no_such_query")
        except WorkflowQueryFailedError as err:
            assert "no_such_query" in err.message and "balances_seen" in err.message, (
                "Part C: a query with an unknown name should fail with a message that names it and lists the "
                f"queries you can ask (step, balances_seen, attempts); it failed with: {err.message}"
            )
        else:
            raise AssertionError(f"Part C: the unknown query 'no_such_query' should fail; it answered {answer!r}.")


@pytest.mark.part("D")
async def test_a_query_on_a_closed_transfer_is_rejected_when_asked(target, client):
    shared = target.load(MODULE, "shared")
    client_code = target.load(MODULE, "client")
    async with running_worker(client, [StandInTransfer]) as queue:
        handle = await start_stand_in(client, shared, queue)
        await until_first_task_completed(handle)
        try:
            answer = await client_code.progress_if_open(client, handle.id)
        except WorkflowQueryRejectedError as err:
            raise AssertionError("Part D: the query on the running transfer was rejected; only a closed one "
                                 "should be (QueryRejectCondition.NOT_OPEN).") from err
        assert answer.step == shared.AWAITING_CONFIRMATION, (
            f"Part D: progress_if_open should answer while the transfer runs; it returned {answer!r}."
        )
        await handle.signal(StandInTransfer.confirm)
        await result_within(handle, 15, "D", "finishing the transfer")
        try:
            answer = await client_code.progress_if_open(client, handle.id)
        except WorkflowQueryRejectedError as err:
            assert err.status == WorkflowExecutionStatus.COMPLETED, (
                f"Part D: the rejection should report the status COMPLETED; it reported {err.status}."
            )
        else:
            raise AssertionError(
                f"Part D: the completed transfer answered ({answer.step!r}); progress_if_open should have the query "
                "rejected with reject_condition=QueryRejectCondition.NOT_OPEN, raising WorkflowQueryRejectedError."
            )
