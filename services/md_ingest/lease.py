"""Who holds a venue's session: a lease in the KV bucket ``md_leases``, key ``<venue>``.

The key is taken, renewed and given back by the one lease primitive (:mod:`tradebus.bus.kv_lease`): a
standby takes another instance's key only once its revision has not moved for ``lease_s`` by its own
monotonic clock, this instance's own key (killed and restarted) at once when its writer's pid is gone
from this host, else once it has not moved for half a lease, and every write is revision-checked. What is
md_ingest's own:

* **Publishing.** The holder may publish until ``publish_deadline``: the send time of the last confirmed
  renewal + ``lease_s`` − a margin. A standby starts counting no earlier than that renewal reached the
  server, so the holder stops before any standby can take over, even when it was frozen (SIGSTOP, a long
  GC, a VM pause) in between.
* **Losing it.** A renewal refused because someone else wrote the key means another instance holds the
  venue now: ``on_deposed`` is called (md_ingest exits 3 and its supervisor restarts it as a standby).
* **Giving it back.** A graceful stop deletes the key, so a standby takes over at once.

The lease alone is advisory; the fence in the MD stream (:mod:`md_ingest.fence`) is what makes a late
write of a deposed holder fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.kv import KeyValue

from tradebus.bus.kv_lease import KeyLease, margin
from tradebus.logs import get_logger

log = get_logger("md_ingest.lease")
LEASE_BUCKET = "md_leases"


class VenueLease:
    def __init__(
        self, kv: KeyValue, venue: str, holder: str, lease_s: float, on_deposed: Callable[[str], None]
    ) -> None:
        # Every call to the bucket is bounded by one renewal period: a slower answer is no answer.
        self.key = KeyLease(kv, venue, holder, lease_s, timeout=lease_s / 3)
        self.venue = venue
        self.holder = holder
        self.lease_s = lease_s
        self.on_deposed = on_deposed
        self.publish_deadline = 0.0  # time.monotonic(): no publishing from then on unless renewed
        self.renewals = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def held(self) -> bool:
        return self.key.held

    @property
    def epoch(self) -> int:
        """The key's revision when this instance took it: what its fences carry."""
        return self.key.epoch

    def may_publish(self, now: float) -> bool:
        return now < self.publish_deadline

    def _confirmed(self) -> None:
        self.publish_deadline = self.key.confirmed_at + self.lease_s - margin(self.lease_s)

    # --- taking ---------------------------------------------------------------------------------

    async def acquire(self) -> None:
        """Return once this instance holds the lease (waits as a standby as long as it takes)."""
        poll = max(0.02, self.lease_s / 20)
        while True:  # a standby reads the key at this pace: the lapse is judged on what it reads
            if await self._try_take(self.lease_s):
                return
            await asyncio.sleep(poll)

    async def take_if_free(self) -> bool:
        """One look: take the lease when nobody holds it, or when it names this instance id and its
        writer is provably gone (:meth:`KeyLease.lapsed`); :meth:`acquire` waits for anything else."""
        return await self._try_take(math.inf)

    async def _try_take(self, wait: float) -> bool:
        """One look at the key: take it when absent, ours, or unmoved for ``wait``; whether we hold it now."""
        seen = await self.key.look()
        if seen is None or (seen.holder and not self.key.lapsed(seen, time.monotonic(), wait)):
            return False
        try:
            if not await self.key.take(seen):
                return False  # someone else wrote it first: look again
        except (TimeoutError, NatsTimeoutError):
            return False
        self._confirmed()
        log.info(
            "venue lease taken",
            venue=self.venue,
            holder=self.holder,
            epoch=self.epoch,
            previous_holder=seen.holder or None,
        )
        return True

    # --- holding --------------------------------------------------------------------------------

    def start_renewing(self, on_renewed: Callable[[int], object] | None = None) -> None:
        self._task = asyncio.get_running_loop().create_task(self._renew_loop(on_renewed), name=f"md-lease-{self.venue}")

    async def _renew_loop(self, on_renewed: Callable[[int], object] | None) -> None:
        while self.held:
            await asyncio.sleep(self.lease_s / 3)
            if not await self.renew():
                return
            if on_renewed is not None:
                result = on_renewed(self.renewals)
                if asyncio.iscoroutine(result):
                    await result

    async def renew(self) -> bool:
        """One renewal; False once deposed (on_deposed has been called, now or before)."""
        if not self.held:
            return False
        try:
            renewed = await self.key.renew()
        except (TimeoutError, NatsTimeoutError) as exc:
            log.warning(
                "venue lease not renewed",
                venue=self.venue,
                error=type(exc).__name__,
                publish_deadline_in_s=round(self.publish_deadline - time.monotonic(), 3),
            )
            return True
        except Exception as exc:  # NATS away: the deadline runs out by itself
            log.warning("venue lease not renewed", venue=self.venue, error=str(exc) or type(exc).__name__)
            return True
        if not renewed:
            self._deposed("the lease was taken by another instance")
            return False
        self.renewals += 1
        self._confirmed()
        return True

    def _deposed(self, why: str) -> None:
        log.warning("venue lease lost", venue=self.venue, epoch=self.epoch, reason=why)
        self.key.drop()
        self.publish_deadline = 0.0
        self.on_deposed(self.venue)

    def deposed(self, why: str) -> None:
        """Someone else's fence refused our write: stop at once."""
        if self.held:
            self._deposed(why)

    # --- giving back ------------------------------------------------------------------------------

    async def release(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if not self.held:
            return
        self.publish_deadline = 0.0
        try:
            await self.key.release(timeout=self.lease_s)
            log.info("venue lease released", venue=self.venue, epoch=self.epoch)
        except Exception as exc:  # taken meanwhile, or NATS away: the standby waits out the lease instead
            log.warning("venue lease not released", venue=self.venue, error=str(exc) or type(exc).__name__)
