"""What the bank's app does with a standing order through workflow handles: open it, pay now, follow its
runs, cancel it. Which run each call reaches is decided by the run IDs the handle carries.

The runner (run_workflow.py) turns these into commands; the checks call them directly.
"""

from __future__ import annotations

from temporalio.client import Client, WorkflowExecutionDescription, WorkflowHandle

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
    # TODO Part A: Keep the order's first run ID from the handle that signal-with-start returns
    first_run_id = handle.result_run_id
    if first_run_id is None:  # a signal that reached an open run, on a server before 1.32 (README: The failure moment)
        raise RuntimeError(f"The server did not say which run began {handle.id}.")
    return OrderRef(handle.id, first_run_id)


async def next_run(client: Client, workflow_id: str, run_id: str) -> str | None:
    """The run that carried the order on after `run_id`, or None if the order ended in that run.

    Waits for the run to close; raises WorkflowFailureError if it was cancelled, terminated or failed.
    """
    run = client.get_workflow_handle_for(StandingOrderWorkflow.run, workflow_id, run_id=run_id)
    # TODO Part B: Tell one run's own outcome from the order's with result(follow_runs=False)
    await run.result()
    return None


def status_of(description: WorkflowExecutionDescription) -> str:
    return description.status.name if description.status else "UNKNOWN"


async def runs_of_order(client: Client, ref: OrderRef) -> list[RunInfo]:
    """Every run of the order, from the first to the latest, with its status."""
    # TODO Part C: List the order's runs with a handle pinned to each run
    description = await client.get_workflow_handle(ref.workflow_id).describe()
    return [RunInfo(description.run_id, status_of(description))]


def order_handle(client: Client, ref: OrderRef) -> OrderHandle:
    """A handle for update, cancel and terminate that reaches the order's current run, and no later order."""
    # TODO Part D: Reach only your own order with a handle pinned to its first run
    return client.get_workflow_handle_for(StandingOrderWorkflow.run, ref.workflow_id)


async def pay_now(client: Client, ref: OrderRef) -> Payment:
    """Make the order's current payment now (an update): answers with the payment and the run that made it."""
    return await order_handle(client, ref).execute_update(StandingOrderWorkflow.pay_now)


async def cancel_order(client: Client, ref: OrderRef) -> None:
    """Ask the order to stop. Raises RPCError (NOT_FOUND) if the workflow ID holds another order by now."""
    await order_handle(client, ref).cancel()
