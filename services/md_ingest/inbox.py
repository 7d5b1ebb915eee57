"""The hand-over from venue SDK threads to the event loop: bounded, non-blocking, coalescing.

Venue callbacks run on SDK threads (futu's callback executor, the CTP api thread). They must never
wait for the event loop or for NATS, so they only ``put`` into a dict keyed by (venue, instrument,
push kind): the latest push of each key. A key that is already waiting is overwritten — the older
push is *coalesced* (counted; for market data the latest value is what matters, and volume/turnover
are cumulative, so bars stay right). A new key beyond ``max_keys`` is dropped and counted. Memory is
therefore bounded by ``max_keys`` pushes, whatever the rate.

The first ``put`` into an empty inbox schedules one ``drain`` on the loop with
``call_soon_threadsafe``; later puts ride on that wake-up, so a burst costs one loop callback.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

Entry = tuple[str, Any, Any, int]  # venue, key, raw push, receive time (UTC ns)


class Inbox:
    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self._lock = threading.Lock()  # held for a dict store only: never across I/O or the loop
        self._pending: dict[tuple[str, Any], Entry] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_ready: Callable[[], None] | None = None
        self._scheduled = False
        # Plain ints written under the lock by SDK threads; the metrics read them.
        self.received = 0
        self.coalesced = 0
        self.overflow = 0

    def attach(self, loop: asyncio.AbstractEventLoop, on_ready: Callable[[], None]) -> None:
        self._loop = loop
        self._on_ready = on_ready

    def put(self, venue: str, key: Any, raw: Any) -> None:
        """Called from any thread; never blocks beyond a dict store."""
        now = time.time_ns()
        slot = (venue, key)
        with self._lock:
            self.received += 1
            pending = self._pending
            if slot in pending:
                self.coalesced += 1
            elif len(pending) >= self.max_keys:
                self.overflow += 1
                return
            pending[slot] = (venue, key, raw, now)
            if self._scheduled or self._loop is None:
                return
            self._scheduled = True
            loop, callback = self._loop, self._on_ready
        try:
            loop.call_soon_threadsafe(callback)  # type: ignore[arg-type]
        except RuntimeError:  # the loop is closed: we are shutting down
            pass

    def take(self) -> list[Entry]:
        """On the loop: everything waiting, oldest key first; the next put wakes the loop again."""
        with self._lock:
            pending, self._pending = self._pending, {}
            self._scheduled = False
        return list(pending.values())

    def __len__(self) -> int:
        return len(self._pending)
