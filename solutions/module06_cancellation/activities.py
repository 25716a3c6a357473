"""The batch's activities: the holds, the long settlement that heartbeats its progress, and the cleanup.

They are methods of a class that holds the worker's one bank client (workshop/bank.py). Every change at
the bank carries an idempotency key: the transfer's key, made by the workflow, plus the call's verb.
"""

from __future__ import annotations

import asyncio
import dataclasses

from temporalio import activity
from temporalio.exceptions import ApplicationError

from workshop.bank import HOLD_NOT_ACTIVE, BankClient

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
                await self._finish_hold(placed, "release")
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
                if not await self._finish_hold(transfer, "capture"):
                    # Released: the batch was called off and its cleanup ran while this attempt ran on (the
                    # workflow did not wait for it). Nothing is left to settle: stop, and do not fail.
                    activity.logger.warning("Transfer %d's hold was released: stopping", settled + 1)
                    break
                await self._deposit(transfer)
                settled += 1
                # >>> Part A: Heartbeat the batch's progress, resume from it, and give the activity a heartbeat timeout
                activity.heartbeat(settled)  # "this many are settled": the details a retried attempt gets
                # --- exercise version:
                # <<< Part A
        except asyncio.CancelledError:
            # Raised at whichever `await` the activity was in, perhaps between a capture and its deposit: the
            # cleanup finishes such a transfer. Re-raised, so that Temporal records the activity as cancelled.
            activity.logger.warning("Stopped after %d of %d transfers: %s", settled, len(settlement.transfers),
                                    why_cancelled())
            raise
        return Settled(settled, info.attempt, resumed_after=done)

    @activity.defn
    async def release_holds(self, transfers: list[HeldTransfer]) -> Cleanup:
        """The cleanup: release the hold of every transfer that was not settled.

        It asks the bank, not the workflow, how far the batch got, so it is right however the batch ended. A
        captured hold is a settled transfer, or one stopped between its capture and its deposit: its deposit
        is sent again, and the deposit's idempotency key makes that safe.
        """
        released = settled = 0
        for transfer in transfers:
            if await self._finish_hold(transfer, "release"):
                released += 1
            else:
                await self._deposit(transfer)
                settled += 1
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

    async def _finish_hold(self, transfer: HeldTransfer, action: str) -> bool:
        """Capture or release the transfer's hold; False if it was already finished the other way."""
        try:  # doing it again is answered as a replay, doing the opposite is refused
            await self.bank.call("POST", f"/holds/{transfer.hold_id}/{action}", key=f"{transfer.key}/{action}")
        except ApplicationError as error:
            if error.type != HOLD_NOT_ACTIVE:
                raise
            return False
        return True

    async def _deposit(self, transfer: HeldTransfer) -> None:
        await self.bank.deposit(transfer.transfer.target, transfer.transfer.amount_cents, key=f"{transfer.key}/deposit",
                                reference=transfer.reference)


def why_cancelled() -> str:
    """What the activity's cancellation means, from the details the SDK gives with it."""
    details = activity.cancellation_details()
    if details and details.not_found:
        return "its workflow has closed"  # a heartbeat was answered "not found": terminated, or closed meanwhile
    if details and details.worker_shutdown:
        return "the worker is shutting down"
    return "cancellation requested"
