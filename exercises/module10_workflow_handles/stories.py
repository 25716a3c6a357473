"""The two stories the README shows, told through workflow handles (run by run_workflow.py):

    python -m workshop run 10 --embedded demo        # the whole life of one order
    python -m workshop run 10 --embedded old-handle  # an old handle meets a later order under the same ID
"""

from __future__ import annotations

import argparse

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from workshop.money import format_cents

from .client import cancel_order, next_run, open_order, order_ref, pay_now, runs_of_order, status_of
from .shared import OrderProgress, StandingOrder, order_workflow_id, task_queue
from .workflow import StandingOrderWorkflow


def show(progress: OrderProgress, name: str) -> str:
    return (f"{progress.paid} of {progress.payments} paid, {format_cents(progress.amount_cents)} each "
            f"(answered by {name})")


def refused(err: RPCError) -> str:
    return f"refused ({err.status.name if err.status else 'error'}: {err.message})"


class RunNames:
    """Short names for run IDs ("run 1", "A1"), so that the output says which run a call reached."""

    def __init__(self) -> None:
        self.names: dict[str | None, str] = {None: "None"}

    def add(self, run_id: str | None, name: str) -> None:
        self.names.setdefault(run_id, name)

    def __call__(self, run_id: str | None) -> str:
        return self.names.get(run_id, run_id or "None")


async def run_demo(client: Client, args: argparse.Namespace) -> None:
    """One order's whole life through handles: start, query, update, signal, describe, result, history."""
    name = RunNames()
    order = StandingOrder(args.source, args.destination, args.amount, payments=3)
    if await still_open(client, order):
        return
    handle = await open_order(client, order, task_queue())
    name.add(handle.result_run_id, "run 1")
    ref = order_ref(handle)
    print(f"Opened {handle.id}: {order.payments} payments of {format_cents(order.amount_cents)} "
          f"from {order.payer} to {order.payee}.")
    print(f"The handle from start_workflow: run_id {name(handle.run_id)}, result_run_id {name(handle.result_run_id)}, "
          f"first_execution_run_id {name(handle.first_execution_run_id)}.")
    progress = await handle.query(StandingOrderWorkflow.progress)
    print("query progress:", show(progress, name(progress.run_id)))
    payment = await pay_now(client, ref)
    print(f"update pay_now: payment {payment.number}, {format_cents(payment.amount_cents)}, made by "
          f"{name(payment.run_id)}.")

    again = await open_order(client, StandingOrder(order.payer, order.payee, args.amount + 500), task_queue())
    second_run = again.result_run_id
    name.add(second_run, "run 2")
    print(f"Signal-with-start again, amount {format_cents(args.amount + 500)}: result_run_id "
          f"{name(again.result_run_id)}, first_execution_run_id {name(again.first_execution_run_id)}.")
    description = await handle.describe()
    print(f"describe (first handle): {status_of(description)}, {name(description.run_id)}, "
          f"first run {name(description.raw_info.first_run_id)}.")
    progress = await handle.query(StandingOrderWorkflow.progress)
    print("query progress (first handle):", show(progress, name(progress.run_id)))

    first = client.get_workflow_handle_for(StandingOrderWorkflow.run, handle.id, run_id=ref.first_run_id)
    print(f"A handle pinned to run 1 (run_id {name(first.run_id)}):")
    print(f"  describe: {status_of(await first.describe())}")
    progress = await first.query(StandingOrderWorkflow.progress)
    print("  query progress:", show(progress, name(progress.run_id)))
    try:
        await first.signal(StandingOrderWorkflow.change_amount, 1)
        print("  signal: delivered")
    except RPCError as err:
        print("  signal:", refused(err))

    for run in ("run 2", "run 3"):
        payment = await pay_now(client, ref)
        name.add(payment.run_id, run)
        print(f"update pay_now: payment {payment.number}, {format_cents(payment.amount_cents)}, made by "
              f"{name(payment.run_id)}.")
    summary = await handle.result()
    print(f"result (first handle, follows the runs): {summary.paid} payments, {format_cents(summary.paid_cents)}, "
          f"ended in {name(summary.last_run_id)}.")

    steps: list[str] = []
    run_id: str | None = ref.first_run_id
    while run_id is not None:
        following = await next_run(client, handle.id, run_id)
        steps.append(f"{name(run_id)} -> {name(following)}")
        run_id = following
    print("next_run (result(follow_runs=False)):", ", ".join(steps))
    runs = await runs_of_order(client, ref)
    print("The order's runs:", ", ".join(f"{name(run.run_id)} {run.status}" for run in runs))
    if second_run:
        await show_history_ends(client, handle.id, second_run, name)


async def still_open(client: Client, order: StandingOrder) -> bool:
    """True (and says so) when an order of the same payer and payee runs: the story needs the ID to itself."""
    workflow_id = order_workflow_id(order.payer, order.payee)
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    if description.status != WorkflowExecutionStatus.RUNNING:
        return False
    print(f"An order {workflow_id} is open already. Cancel it first (python -m workshop run 10 cancel "
          f"--from {order.payer} --to {order.payee}), or choose other accounts with --from and --to.")
    return True


async def show_history_ends(client: Client, workflow_id: str, run_id: str, name: RunNames) -> None:
    """What the first and the last event of one run's history say about the chain."""
    events = [event async for event in client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history_events()]
    started = events[0].workflow_execution_started_event_attributes
    closed = events[-1].workflow_execution_continued_as_new_event_attributes
    print(f"History of {name(run_id)}: started continued from {name(started.continued_execution_run_id)} "
          f"(first run {name(started.first_execution_run_id)}), ended continued as new as "
          f"{name(closed.new_execution_run_id)}.")


async def run_old_handle(client: Client, args: argparse.Namespace) -> None:
    """The failure moment: a later order takes the workflow ID, and an old handle reaches it."""
    name = RunNames()
    order = StandingOrder(args.source, args.destination, args.amount)
    if await still_open(client, order):
        return
    old = await open_order(client, order, task_queue())
    old_ref = order_ref(old)
    name.add(old_ref.first_run_id, "A1")
    await cancel_order(client, old_ref)
    try:
        await old.result()
    except WorkflowFailureError as err:
        print(f"Order A opened (first run A1) and cancelled with cancel_order: it ended with {type(err.cause).__name__}.")
    new = await open_order(client, order, task_queue())
    name.add(new.first_execution_run_id, "B1")
    print(f"Order B opened under the same ID, {new.id}: first run {name(new.first_execution_run_id)}.")

    print(f"Order A's handle (run_id {name(old.run_id)}, first_execution_run_id {name(old.first_execution_run_id)}):")
    description = await old.describe()
    print(f"  describe: {status_of(description)}, run {name(description.run_id)}, "
          f"first run {name(description.raw_info.first_run_id)}: order B")
    await old.signal(StandingOrderWorkflow.change_amount, 100)
    progress = await new.query(StandingOrderWorkflow.progress)
    print(f"  signal change_amount(1.00): order B now pays {format_cents(progress.amount_cents)}")
    for call in ("cancel", "terminate"):
        try:
            await (old.cancel() if call == "cancel" else old.terminate(reason="old handle"))
            print(f"  {call}: reached order B")
        except RPCError as err:
            print(f"  {call}:", refused(err))
    try:
        await cancel_order(client, old_ref)
        print("cancel_order(order A): reached order B")
    except RPCError as err:
        print("cancel_order(order A):", refused(err))
    await client.get_workflow_handle(old.id).cancel()
    try:
        await new.result()
    except WorkflowFailureError as err:
        print(f"A handle from the workflow ID alone, cancel: order B ends with {type(err.cause).__name__}.")
