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

Rules 1–4 are this process's. Several fmz_edge instances behind one address (a load balancer sending
one docker's requests to either) share rule 4 through the bus: :class:`NonceLedger` claims every
accepted nonce in the KV bucket ``fmz_nonces`` with a create-only write, so a request replayed to
another instance, or to this one after a restart, finds its nonce taken and is refused. A claim is
kept for twice the window (its key's TTL); by then rule 1 refuses the nonce anyway.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from tradebus.bus import Bus

BUCKET = "fmz_nonces"


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


class NonceLedger:
    """Nonces accepted by any fmz_edge instance, on the bus: one create-only key per (key pair, nonce)."""

    def __init__(self, bus: Bus, window_s: float) -> None:
        self.bus = bus
        self.ttl_s = max(2 * window_s, 1.0)
        self._kv: KeyValue | None = None

    async def claim(self, access_key: str, nonce: int) -> None:
        """Record ``nonce`` (any unit) as used for ``access_key``; :class:`NonceError` when any instance
        already did. The access key is hashed into the KV key (a KV key allows few characters)."""
        if self._kv is None:
            self._kv = await self.bus.js.key_value(BUCKET)
        key = f"{hashlib.sha256(access_key.encode()).hexdigest()[:32]}.{to_ns(nonce)}"
        try:
            await self._kv.create(key, b"", msg_ttl=self.ttl_s)
        except KeyWrongLastSequenceError:
            raise NonceError(f"nonce {nonce} was already used (replay refused)") from None
