"""What the bank's app does with a standing order through workflow handles: open it, pay now, follow its
runs, cancel it. Which run each call reaches is decided by the run IDs the handle carries.

The runner (run_workflow.py) turns these into commands; the checks call them directly.
"""

from __future__ import annotations

from temporalio.client import (
    Client,
    WorkflowContinuedAsNewError,
    WorkflowExecutionDescription,
    WorkflowHandle,
    WorkflowHistoryEventFilterType,
)

from .shared import OrderRef, OrderSummary, Payment, RunInfo, StandingOrder, order_workflow_id
from .workflow import StandingOrderWorkflow

OrderHandle = WorkflowHandle[StandingOrderWorkflow, OrderSummary]


async def open_order(client: Client, order: StandingOrder, task_queue: str) -> OrderHandle:
    """Open the standing order from order.payer to order.payee or, while one runs, change its amount."""
    return await client.start_workflow(
        StandingOrderWorkflow.run, order, id=order_workflow_id(order.payer, order.payee), task_queue=task_queue,
        # Signal-with-start: the server starts the order unless a run of this ID is open; the signal arrives either way.
        start_signal="change_amount", start_signal_args=[order.amount_cents],
    )


def order_ref(handle: OrderHandle) -> OrderRef:
    """What the app stores to find this order again, in whichever run it is by then."""
    # >>> Part A: Keep the order's first run ID from the handle that signal-with-start returns
    # The run that began the order: the same in all its runs, and another one for a later order under this ID.
    first_run_id = handle.first_execution_run_id
    # --- exercise version:
    # first_run_id = handle.result_run_id
    # <<< Part A
    if first_run_id is None:  # a signal that reached an open run, on a server before 1.32 (README: The failure moment)
        raise RuntimeError(f"The server did not say which run began {handle.id}.")
    return OrderRef(handle.id, first_run_id)


async def next_run(client: Client, workflow_id: str, run_id: str) -> str | None:
    """The run that carried the order on after `run_id`, or None if the order ended in that run.

    Waits for the run to close; raises WorkflowFailureError if it was cancelled, terminated or failed.
    """
    run = client.get_workflow_handle_for(StandingOrderWorkflow.run, workflow_id, run_id=run_id)
    # >>> Part B: Tell one run's own outcome from the order's with result(follow_runs=False)
    try:
        await run.result(follow_runs=False)  # this run's own outcome, not the chain's
    except WorkflowContinuedAsNewError as err:
        return err.new_execution_run_id
    return None
    # --- exercise version:
    # await run.result()
    # return None
    # <<< Part B


def status_of(description: WorkflowExecutionDescription) -> str:
    return description.status.name if description.status else "UNKNOWN"


async def runs_of_order(client: Client, ref: OrderRef) -> list[RunInfo]:
    """Every run of the order, from the first to the latest, with its status."""
    # >>> Part C: List the order's runs with a handle pinned to each run
    runs: list[RunInfo] = []
    run_id: str | None = ref.first_run_id
    while run_id:
        # Pinned to one run: describe and the history are that run's, whatever runs under the ID now.
        run = client.get_workflow_handle(ref.workflow_id, run_id=run_id)
        status = status_of(await run.describe())
        runs.append(RunInfo(run_id, status))
        run_id = None
        if status == "CONTINUED_AS_NEW":
            # The run's closing event names the run that carries the order on.
            async for event in run.fetch_history_events(event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT):
                run_id = event.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return runs
    # --- exercise version:
    # description = await client.get_workflow_handle(ref.workflow_id).describe()
    # return [RunInfo(description.run_id, status_of(description))]
    # <<< Part C


def order_handle(client: Client, ref: OrderRef) -> OrderHandle:
    """A handle for update, cancel and terminate that reaches the order's current run, and no later order."""
    # >>> Part D: Reach only your own order with a handle pinned to its first run
    # The server acts on the latest run of the chain that began with this run, and refuses (NOT_FOUND)
    # when the ID's latest run belongs to another chain.
    return client.get_workflow_handle_for(StandingOrderWorkflow.run, ref.workflow_id,
                                          first_execution_run_id=ref.first_run_id)
    # --- exercise version:
    # return client.get_workflow_handle_for(StandingOrderWorkflow.run, ref.workflow_id)
    # <<< Part D


async def pay_now(client: Client, ref: OrderRef) -> Payment:
    """Make the order's current payment now (an update): answers with the payment and the run that made it."""
    return await order_handle(client, ref).execute_update(StandingOrderWorkflow.pay_now)


async def cancel_order(client: Client, ref: OrderRef) -> None:
    """Ask the order to stop. Raises RPCError (NOT_FOUND) if the workflow ID holds another order by now."""
    await order_handle(client, ref).cancel()
