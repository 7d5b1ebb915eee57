"""Replay protection: the ``nonce`` of every authenticated request.

FMZ's docker sends the request time as the nonce, in nanoseconds (the seed shows
``1730275031047002000``); millisecond and microsecond values are scaled up so a hand-written client
works too. A nonce is accepted when

1. it lies within ``window`` of our clock (a captured request is useless once it is that old);
2. it is newer than this process's start — so a request captured before a restart cannot be replayed
   after it, even inside the window, although the accepted-nonce memory below was lost;
3. it trails the highest nonce accepted for its access key by no more than ``reorder`` (0 means
   strictly increasing) — FMZ's ``exchange.Go`` sends requests concurrently, so a little reordering is
   legitimate;
4. it has not been accepted before for that key (an exact replay inside the reorder allowance).

Only requests with valid credentials reach the guard, so nobody can burn another key's nonces.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


class NonceError(ValueError):
    pass


def to_ns(nonce: int) -> int:
    """Scale a ms / µs / ns timestamp to ns, by magnitude (ns timestamps have 19 digits today)."""
    if nonce < 10**14:  # milliseconds (13 digits) or less
        return nonce * 1_000_000
    if nonce < 10**17:  # microseconds (16 digits)
        return nonce * 1_000
    return nonce


@dataclass
class _KeyState:
    highest: int = 0
    recent: set[int] = field(default_factory=set)


class NonceGuard:
    def __init__(self, window_s: float, reorder_s: float, clock: Callable[[], int] = time.time_ns) -> None:
        self.window = int(window_s * 1e9)
        self.reorder = int(reorder_s * 1e9)
        self.clock = clock
        self.floor = clock()  # nothing sent before we started can be fresh
        self._keys: dict[str, _KeyState] = {}

    def check(self, access_key: str, nonce: int) -> None:
        """Accept and remember ``nonce``, or raise :class:`NonceError` saying why not."""
        if nonce <= 0:
            raise NonceError("nonce must be a positive timestamp")
        value = to_ns(nonce)
        now = self.clock()
        if abs(now - value) > self.window:
            raise NonceError(f"nonce {nonce} is {abs(now - value) / 1e9:.1f}s away from server time "
                             f"(allowed: {self.window / 1e9:g}s); check the docker's clock")
        if value <= self.floor:
            raise NonceError(f"nonce {nonce} predates the server's start; requests sent before a restart are refused")
        state = self._keys.setdefault(access_key, _KeyState())
        too_old = value <= state.highest - self.reorder or (self.reorder == 0 and value <= state.highest)
        if value in state.recent or too_old:
            raise NonceError(f"nonce {nonce} was already used or is older than the last accepted one (replay refused)")
        state.recent.add(value)
        state.highest = max(state.highest, value)
        # Only nonces that could still pass rule 3 need remembering.
        cutoff = state.highest - self.reorder
        if len(state.recent) > 64:
            state.recent = {n for n in state.recent if n > cutoff}
