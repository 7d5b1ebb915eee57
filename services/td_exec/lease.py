"""Per-account leases in KV ``td_leases``: which td_exec instance writes (and serves) each account.

Key ``<venue>.<account>``, value ``{holder, epoch}``, each key taken, renewed and given back by the one
lease primitive (:mod:`tradebus.bus.kv_lease`): revision-checked writes, a lapse judged by the standby's
own monotonic clock (the key's revision unchanged for ``lease_s``, wall clocks never compared), a key
left by this same instance id (its previous run) taken back at once when that run's pid is gone from this
host, else once unmoved for half a lease. What is td_exec's own:

* many keys, looked at every ``lease_s / 3`` in one round, with the engine told ``on_acquired`` /
  ``on_lost``; the epoch grows by one with every takeover;
* an account this instance prefers (``[td] prefer``; an empty list prefers every account) is taken at
  once when its key is absent; others wait one more lease, so accounts spread over instances as configured;
* a holder that cannot reach the bucket for longer than ``lease_s`` steps down too (it can no longer
  prove it holds the account).

The lease is the *who*; the fence (``td_exec.fence``) is the *guarantee*: a deposed holder that has
not noticed yet is stopped by JetStream refusing its next append.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable

from nats.js.kv import KeyValue

from td_exec.fence import Key
from tradebus.bus import Bus
from tradebus.bus.kv_lease import KeyLease
from tradebus.logs import get_logger
from tradebus.subjects import td_lease_key

log = get_logger("td_exec.lease")
BUCKET = "td_leases"


class LeaseKeeper:
    """Holds and renews this instance's leases and takes over lapsed ones; tells the engine."""

    def __init__(
        self,
        bus: Bus,
        holder: str,
        lease_s: float,
        prefer: Iterable[str],
        *,
        accounts: Callable[[], Iterable[Key]],
        on_acquired: Callable[[Key, int], None],
        on_lost: Callable[[Key, str], None],
        timeout: float = 2.0,
    ) -> None:
        self.bus = bus
        self.holder = holder
        self.lease_s = lease_s
        self.prefer = {tuple(item.split(":", 1)) for item in prefer}
        self.accounts = accounts
        self.on_acquired = on_acquired
        self.on_lost = on_lost
        self.timeout = timeout
        self.keys: dict[Key, KeyLease] = {}  # every account looked at, held or not
        self._kv: KeyValue | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._round = asyncio.Lock()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="td_exec.leases")

    def poke(self) -> None:
        """Look at the leases now (a venue just connected: its accounts may be taken)."""
        self._wake.set()

    async def stop(self, *, release: bool = True) -> None:
        """Stop renewing; with ``release``, delete the held keys (revision-checked) so a standby takes over at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for lease in self.keys.values():
            if release:
                with contextlib.suppress(Exception):  # lapses by itself within lease_s anyway
                    await lease.release()
            lease.drop()

    def abort(self) -> None:
        """Tests: a killed process — nothing released, renewals simply stop."""
        if self._task is not None:
            self._task.cancel()

    def holds(self, key: Key) -> bool:
        lease = self.keys.get(key)
        return lease is not None and lease.held

    def holder_of(self, key: Key) -> str | None:
        """Who holds ``key`` as far as this instance knows; None when nobody (or the lease lapsed)."""
        if self.holds(key):
            return self.holder
        lease = self.keys.get(key)
        seen = lease.seen if lease is not None else None
        if seen is None or not seen.holder or seen.age(time.monotonic()) > self.lease_s:
            return None
        return seen.holder

    def release(self, key: Key) -> None:
        """Forget a lease the engine gave up (fenced out): no renewal, no delete — someone else has it."""
        if key in self.keys:
            self.keys[key].drop()

    def _preferred(self, key: Key) -> bool:
        return not self.prefer or key in self.prefer

    async def _loop(self) -> None:
        while True:
            try:
                await self.round()
            except Exception:
                log.exception("lease round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.lease_s / 3)
            self._wake.clear()

    async def round(self) -> None:
        """Renew what is held, look at every other account, take over what lapsed."""
        async with self._round:
            if self._kv is None:
                self._kv = await asyncio.wait_for(self.bus.js.key_value(BUCKET), self.timeout)
            for key, lease in list(self.keys.items()):
                if lease.held:
                    await self._renew(key, lease)
            for key in self.accounts():
                if not self.holds(key):
                    await self._look(key)

    async def _renew(self, key: Key, lease: KeyLease) -> None:
        try:
            if not await lease.renew():
                self._lose(key, "the lease was taken by another instance")
        except Exception as exc:  # bucket unreachable (e.g. a JetStream leader election)
            if time.monotonic() - lease.confirmed_at > self.lease_s:
                self._lose(key, f"lease not renewed for {self.lease_s:g}s: {type(exc).__name__}")
            else:
                log.warning(
                    "lease renewal failed; retrying", venue=key[0], account=key[1], error=f"{type(exc).__name__}: {exc}"
                )

    def _lose(self, key: Key, reason: str) -> None:
        lease = self.keys[key]
        if lease.held:  # not given up by the engine meanwhile
            lease.drop()
            log.warning("lease lost", venue=key[0], account=key[1], reason=reason)
            self.on_lost(key, reason)
            self.poke()  # look at the key again at once: commands meanwhile are forwarded to its new holder

    async def _look(self, key: Key) -> None:
        assert self._kv is not None
        lease = self.keys.get(key)
        if lease is None:
            lease = self.keys[key] = KeyLease(
                self._kv, td_lease_key(*key), self.holder, self.lease_s, timeout=self.timeout
            )
        seen = await lease.look()
        if seen is None:
            raise TimeoutError(f"lease {lease.key} not read within {self.timeout:g}s")
        if not seen.holder:  # absent: a preferred account at once, any other one lease later
            wait = 0.0 if self._preferred(key) else self.lease_s
        else:  # held elsewhere: a preferred account once it lapsed, any other one lease later
            wait = self.lease_s if self._preferred(key) else 2 * self.lease_s
        if lease.lapsed(seen, time.monotonic(), wait) and await lease.take(seen, seen.epoch + 1):
            log.info("lease taken", venue=key[0], account=key[1], epoch=lease.epoch, holder=self.holder)
            self.on_acquired(key, lease.epoch)
