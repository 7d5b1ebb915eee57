"""Rate limits shared by every edge: a token bucket, and the guard around password / key checks.

:class:`LoginGuard` is what stands between a guesser and the password hashes. Its rules, in the
order an attempt meets them:

1. **One check in flight per address.** A second attempt from an address whose previous attempt is
   still being checked (or still serving its delay) is refused at once, unevaluated
   (:class:`Throttled`). Twenty parallel guesses from one address are one guess.
2. **A delay per address and per (user, address) pair** that doubles with every failure inside the
   window: ``base * 2**(n-1)``, capped. The attempt waits it out (holding its address's slot, so
   nothing else from that address gets in meanwhile), then is checked.
3. **One check at a time per user name**: attempts for the same user from different addresses wait
   their turn (at most ``max_waiting_per_user`` of them; more are refused at once).

What it deliberately does *not* do is delay or refuse a user because of failures from *another*
address: a guesser would otherwise lock the real user out. So the right password from a different
address works while the guesser's address is throttled. A success clears only its own
(user, address) pair; the address's own count stays, so logging into one's own account does not
reset the count of guesses made at others.

State is in memory (bounded: the oldest half is forgotten past ``max_keys``), per process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass


class TokenBucket:
    """``burst`` actions at once, ``rate_per_s`` sustained."""

    def __init__(self, rate_per_s: float, burst: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self.tokens = float(burst)
        self.clock = clock
        self.stamp = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Throttled(Exception):
    """The attempt was refused before any check ran."""


@dataclass
class _UserTurn:
    lock: asyncio.Lock
    waiting: int = 0


class Attempt:
    """One admitted attempt: the caller reports how the check went."""

    def __init__(self, guard: LoginGuard, user: str, address: str) -> None:
        self._guard, self.user, self.address = guard, user, address

    def failed(self) -> None:
        self._guard.record_failure(self.user, self.address)

    def succeeded(self) -> None:
        self._guard.record_success(self.user, self.address)


class LoginGuard:
    def __init__(self, base_delay_s: float, max_delay_s: float, window_s: float, *, max_waiting_per_user: int = 8,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.base = base_delay_s
        self.cap = max_delay_s
        self.window = window_s
        self.max_waiting = max_waiting_per_user
        self.clock = clock
        self.max_keys = max_keys
        self._failures: dict[tuple[str, ...], tuple[int, float]] = {}  # key → (count, last failure time)
        self._busy_addresses: set[str] = set()
        self._turns: dict[str, _UserTurn] = {}
        self.refused = 0  # attempts refused unevaluated (a metric for the services)

    # --- counting ------------------------------------------------------------------------------

    def _count(self, key: tuple[str, ...]) -> int:
        entry = self._failures.get(key)
        if entry is None:
            return 0
        count, last = entry
        if self.clock() - last > self.window:
            del self._failures[key]
            return 0
        return count

    def delay(self, user: str, address: str) -> float:
        """What the next attempt of ``user`` from ``address`` waits before it is checked."""
        failures = max(self._count(("a", address)), self._count(("u", user, address)))
        return 0.0 if failures == 0 else min(self.cap, self.base * 2 ** (failures - 1))

    def record_failure(self, user: str, address: str) -> None:
        if len(self._failures) >= self.max_keys:  # bounded: forget the oldest half
            for key in list(self._failures)[: self.max_keys // 2]:
                del self._failures[key]
        now = self.clock()
        for key in (("a", address), ("u", user, address)):
            self._failures[key] = (self._count(key) + 1, now)

    def record_success(self, user: str, address: str) -> None:
        self._failures.pop(("u", user, address), None)

    # --- admission -----------------------------------------------------------------------------

    @asynccontextmanager
    async def attempt(self, user: str, address: str) -> AsyncIterator[Attempt]:
        """Admit one attempt (or raise :class:`Throttled`); the body runs the check and reports it."""
        if address in self._busy_addresses:
            self.refused += 1
            raise Throttled("another attempt from this address is being checked")
        turn = self._turns.setdefault(user, _UserTurn(asyncio.Lock()))
        if turn.waiting >= self.max_waiting:
            self.refused += 1
            raise Throttled("too many attempts for this user are waiting")
        self._busy_addresses.add(address)
        turn.waiting += 1
        try:
            wait = self.delay(user, address)
            if wait:
                await asyncio.sleep(wait)  # the deliberate slow-down after failures
            async with turn.lock:
                yield Attempt(self, user, address)
        finally:
            turn.waiting -= 1
            if turn.waiting == 0:
                self._turns.pop(user, None)
            self._busy_addresses.discard(address)
