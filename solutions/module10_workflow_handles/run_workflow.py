"""Opens a standing order and drives its life through workflow handles.

    python -m workshop run 10                  # open the order alice -> bob (or change its amount: --amount)
    python -m workshop run 10 pay              # pay now (an update); the run continues as new
    python -m workshop run 10 status           # describe and query the order's current run
    python -m workshop run 10 runs             # the order's runs, first to latest
    python -m workshop run 10 cancel           # cancel the order
    python -m workshop run 10 --embedded demo        # the whole life of one order (stories.py)
    python -m workshop run 10 --embedded old-handle  # an old handle meets a later order under the same ID

pay, status, runs and cancel act on the order that holds the workflow ID now, or on the order that began
with --first-run RUN_ID. Add --embedded (before the command) to run a worker in this process as well.
"""

from __future__ import annotations

import argparse
from contextlib import nullcontext

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workshop.connection import connect, run_script
from workshop.money import format_cents

from .client import cancel_order, open_order, order_ref, pay_now, runs_of_order, status_of
from .shared import MONTH_SECONDS, OrderRef, StandingOrder, order_workflow_id, task_queue
from .stories import refused, run_demo, run_old_handle, show
from .worker import build_worker
from .workflow import StandingOrderWorkflow


async def ref_for(client: Client, args: argparse.Namespace) -> OrderRef:
    """The order that began with --first-run, or the one whose run holds the workflow ID now."""
    workflow_id = order_workflow_id(args.source, args.destination)
    if args.first_run:
        return OrderRef(workflow_id, args.first_run)
    description = await client.get_workflow_handle(workflow_id).describe()
    return OrderRef(workflow_id, description.raw_info.first_run_id)


async def run_open(client: Client, args: argparse.Namespace) -> None:
    order = StandingOrder(args.source, args.destination, args.amount, args.payments, args.every)
    handle = await open_order(client, order, task_queue())
    print(f"Standing order {handle.id}: {format_cents(order.amount_cents)} per payment from {order.payer} "
          f"to {order.payee}.")
    print(f"The handle: run_id {handle.run_id}, result_run_id {handle.result_run_id}, "
          f"first_execution_run_id {handle.first_execution_run_id}")
    print(f"Kept by the app: {order_ref(handle)}")


async def run_pay(client: Client, args: argparse.Namespace) -> None:
    payment = await pay_now(client, await ref_for(client, args))
    print(f"Payment {payment.number}, {format_cents(payment.amount_cents)}, made by run {payment.run_id}.")


async def run_status(client: Client, args: argparse.Namespace) -> None:
    ref = await ref_for(client, args)
    description = await client.get_workflow_handle(ref.workflow_id).describe()
    if description.raw_info.first_run_id != ref.first_run_id:
        print(f"{ref.workflow_id} holds another order now (first run {description.raw_info.first_run_id}); "
              f"see the runs of yours with: python -m workshop run 10 runs --first-run {ref.first_run_id}")
        return
    # Pinned to the run just described: the answer comes from that run, even if a later one starts meanwhile.
    run = client.get_workflow_handle_for(StandingOrderWorkflow.run, ref.workflow_id, run_id=description.run_id)
    try:
        answer = show(await run.query(StandingOrderWorkflow.progress), "that run")
    except RPCError as err:  # a query needs a worker, also for a closed run
        answer = f"no answer to the query ({err.message})"
    print(f"{ref.workflow_id}: {status_of(description)} in run {description.run_id} "
          f"(first run {ref.first_run_id}); {answer}.")


async def run_runs(client: Client, args: argparse.Namespace) -> None:
    ref = await ref_for(client, args)
    print(f"The runs of {ref.workflow_id} that began with {ref.first_run_id}:")
    for number, run in enumerate(await runs_of_order(client, ref), start=1):
        print(f"  {number}. {run.run_id} {run.status}")


async def run_cancel(client: Client, args: argparse.Namespace) -> None:
    ref = await ref_for(client, args)
    try:
        await cancel_order(client, ref)
    except RPCError as err:
        print(f"Cancel of the order that began with {ref.first_run_id}: {refused(err)}")
        return
    print(f"Asked the order that began with {ref.first_run_id} to cancel.")


COMMANDS = {"open": run_open, "pay": run_pay, "status": run_status, "runs": run_runs, "cancel": run_cancel,
            "demo": run_demo, "old-handle": run_old_handle}


async def main(args: argparse.Namespace) -> None:
    client = await connect()
    async with build_worker(client) if args.embedded else nullcontext():
        try:
            await COMMANDS[args.command](client, args)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            print(f"No open standing order to reach ({err.message}). Open one with: python -m workshop run 10 open")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedded", action="store_true", help="run a worker in this process as well")
    commands = parser.add_subparsers(dest="command")
    for command, help, payee in (
        ("open", "open the standing order, or change the amount of the running one (the default)", "bob"),
        ("pay", "pay now: an update to the order's current run", "bob"),
        ("status", "describe and query the order's current run", "bob"),
        ("runs", "list the order's runs", "bob"),
        ("cancel", "cancel the order", "bob"),
        ("demo", "the whole life of one order", "bob"),
        ("old-handle", "a later order under the same ID, and an old handle", "dave"),
    ):
        sub = commands.add_parser(command, help=help)
        sub.add_argument("--from", dest="source", default="carol" if payee == "dave" else "alice")
        sub.add_argument("--to", dest="destination", default=payee)
        sub.add_argument("--amount", type=int, default=2_500, help="in cents")
        if command == "open":
            sub.add_argument("--payments", type=int, default=3)
            sub.add_argument("--every", type=float, default=MONTH_SECONDS,
                             help="seconds between two payments (default: 30 days)")
        if command in ("pay", "status", "runs", "cancel"):
            sub.add_argument("--first-run", help="the run ID that began the order (default: the current order)")
    args = parser.parse_args(argv)
    if args.command is None:  # `python -m workshop run 10` alone opens the order
        args = parser.parse_args([*argv, "open"])
    return args


if __name__ == "__main__":
    import sys

    run_script(main(parse_args(sys.argv[1:])))
