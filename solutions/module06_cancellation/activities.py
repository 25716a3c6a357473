"""The batch's activities: the holds, the long settlement that heartbeats its progress, and the cleanup.

They are methods of a class that holds the worker's one bank client (workshop/bank.py). Every change at
the bank carries an idempotency key: the transfer's key, made by the workflow, plus the call's verb.
"""

from __future__ import annotations

import asyncio
import dataclasses

from temporalio import activity
from temporalio.exceptions import ApplicationError

from workshop.bank import HOLD_NOT_ACTIVE, BankClient, final_error

from .shared import Cleanup, HeldTransfer, Settled, Settlement, TransferBatch


class BankActivities:
    def __init__(self, bank: BankClient) -> None:
        self.bank = bank

    @activity.defn
    async def place_holds(self, transfers: list[HeldTransfer]) -> list[HeldTransfer]:
        """Hold the money of every transfer at its source: all of them, or, after a final refusal, none."""
        held: list[HeldTransfer] = []
        try:
            for transfer in transfers:
                hold = await self.bank.call(
                    "POST", f"/accounts/{transfer.transfer.source}/holds", key=f"{transfer.key}/hold",
                    json={"amount_cents": transfer.transfer.amount_cents, "reference": transfer.reference},
                )
                held.append(dataclasses.replace(transfer, hold_id=hold["hold_id"]))
        except ApplicationError:  # not enough money, no such account: no retry changes it
            for placed in held:
                await self.bank.call("POST", f"/holds/{placed.hold_id}/release", key=f"{placed.key}/release")
            raise
        return held

    @activity.defn
    async def settle_transfers(self, settlement: Settlement) -> Settled:
        """Settle the transfers one after another: a long activity, which reports its progress as it goes."""
        info = activity.info()
        # >>> Part A: Heartbeat the batch's progress, resume from it, and give the activity a heartbeat timeout
        # A retried attempt (its worker died, so its heartbeats stopped) starts after the transfers that the
        # last heartbeat the server received reported as settled.
        done = int(info.heartbeat_details[0]) if info.heartbeat_details else 0
        # --- exercise version:
        # done = 0
        # <<< Part A
        if done:
            activity.logger.warning("Attempt %d resumes after transfer %d", info.attempt, done)
        settled = done
        try:
            for transfer in settlement.transfers[done:]:
                await asyncio.sleep(settlement.seconds_per_transfer)  # the clearing network takes its time
                if not await self._settle(transfer):
                    # Its hold was released: the batch was called off and its cleanup ran (an activity the
                    # workflow abandoned, or did not wait for, can get here). Stop instead of failing.
                    activity.logger.warning("Transfer %d's hold was released: stopping", settled + 1)
                    break
                settled += 1
                # >>> Part A: Heartbeat the batch's progress, resume from it, and give the activity a heartbeat timeout
                activity.heartbeat(settled)  # "this many are settled": the details a retried attempt gets
                # --- exercise version:
                # <<< Part A
        except asyncio.CancelledError:
            # A cancellation arrives with the answer to a heartbeat, and is raised at whichever `await` the
            # activity is in: perhaps between the capture and the deposit (the cleanup finishes that transfer).
            details = activity.cancellation_details()
            why = "its workflow has closed" if details and details.not_found else "cancellation requested"
            activity.logger.warning("Stopped after %d of %d transfers: %s", settled, len(settlement.transfers), why)
            raise  # re-raised, so that Temporal records the activity as cancelled
        return Settled(settled, info.attempt, resumed_after=done)

    @activity.defn
    async def release_holds(self, transfers: list[HeldTransfer]) -> Cleanup:
        """The cleanup: release the hold of every transfer that was not settled.

        It asks the bank, not the workflow, how far the batch got, so it is right however the batch ended. A
        captured hold is a settled transfer, or one cancelled between its capture and its deposit: the
        deposit is sent again, which its idempotency key makes safe (a deposit made earlier is replayed).
        """
        released = settled = 0
        for transfer in transfers:
            response = await self.bank.send("POST", f"/holds/{transfer.hold_id}/release", key=f"{transfer.key}/release")
            error = final_error(response)
            if error is not None and error.type == HOLD_NOT_ACTIVE:
                await self._deposit(transfer)
                settled += 1
                continue
            if error is not None:
                raise error
            response.raise_for_status()
            released += 1
        activity.logger.info("Cleanup: %d holds released, %d transfers settled", released, settled)
        return Cleanup(released, settled)

    @activity.defn
    async def screen_transfers(self, batch: TransferBatch) -> int:
        """A local activity (see screening.py): looks up each transfer's target, and never heartbeats."""
        for number, transfer in enumerate(batch.transfers, start=1):
            try:
                await asyncio.sleep(batch.seconds_per_transfer)
                await self.bank.owner(transfer.target)
            except asyncio.CancelledError:
                activity.logger.info("Screening cancelled at transfer %d of %d", number, len(batch.transfers))
                raise
        return len(batch.transfers)

    async def _settle(self, transfer: HeldTransfer) -> bool:
        """Capture the hold (the money leaves the source), then pay the target; False if the hold was released."""
        response = await self.bank.send("POST", f"/holds/{transfer.hold_id}/capture", key=f"{transfer.key}/capture")
        error = final_error(response)  # a second capture of the same hold is answered as a replay, not refused
        if error is not None and error.type == HOLD_NOT_ACTIVE:
            return False
        if error is not None:
            raise error
        response.raise_for_status()
        await self._deposit(transfer)
        return True

    async def _deposit(self, transfer: HeldTransfer) -> None:
        await self.bank.deposit(transfer.transfer.target, transfer.transfer.amount_cents, key=f"{transfer.key}/deposit",
                                reference=transfer.reference)
