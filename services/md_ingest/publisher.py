"""Sequence, deduplicate and publish ticks, bars and feed status; never let NATS trouble grow memory.

* **Dedupe.** A tick's identity is :func:`tick_id` — a pure function of the venue's content (venue
  time, cumulative volume and turnover, last price, the book). A venue re-push after a reconnect has
  the same id as what we already published and is dropped; the last ``DEDUPE_DEPTH`` ids per
  instrument are remembered.
* **Sequence.** ``seq`` is per feed (venue) and +1 per tick that passed dedupe, assigned *before* the
  publish is tried, so a tick we had to drop leaves a visible gap for subscribers.
* **Backpressure.** nats-py buffers publishes while it reconnects (up to ``pending_size``). We never
  hand it market data while it is not connected: such ticks and bars are dropped and counted. Status
  events are kept (bounded) and published once the connection is back.
* **Drop log.** Drops are counted in /metrics at once and logged at most once a second.
* **Fence.** Market data of a venue is published only through that venue's :class:`~md_ingest.fence.Gate`:
  while this instance holds the venue's lease and behind its fence in the MD stream (see md_ingest.fence).
  Without a gate (a standby) nothing of the venue is published.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import msgspec

from md_ingest.fence import Gate
from tradebus.bus import Bus
from tradebus.logs import get_logger
from tradebus.runtime.metrics import Counter, Registry
from tradebus.schemas.market import Bar, FeedStatus, Tick
from tradebus.subjects import md_bar, md_status, md_tick

log = get_logger("md_ingest.publisher")
DEDUPE_DEPTH = 8
_encode = msgspec.json.Encoder().encode
TickId = tuple[object, ...]


def tick_id(tick: Tick) -> TickId:
    """The deterministic identity of a tick's content (everything but ``seq`` and ``ts_init``)."""
    return (tick.venue, tick.exchange, tick.symbol, tick.ts_event, tick.volume, tick.turnover, tick.last,
            tick.last_qty, tick.open_interest, tick.bids, tick.asks)


class Publisher:
    def __init__(self, bus: Bus, metrics: Registry, *, status_backlog: int,
                 is_connected: Callable[[], bool] | None = None) -> None:
        self.bus = bus
        self._connected = is_connected or (lambda: bus.nc.is_connected)
        self._seq: dict[str, int] = {}
        self._recent: dict[tuple[str, str, str], deque[TickId]] = {}
        self._subjects: dict[tuple[str, str, str], str] = {}
        self._backlog: deque[tuple[str, FeedStatus]] = deque(maxlen=status_backlog)
        self.gates: dict[str, Gate] = {}  # venue → its gate while this instance holds the venue
        self._dropped_since_log = 0
        self._last_drop_log = 0.0
        self.published = metrics.counter("md_ticks_published_total", "ticks published", ("venue",))
        self.duplicates = metrics.counter("md_ticks_duplicate_total", "identical venue re-pushes dropped", ("venue",))
        self.dropped = metrics.counter("md_dropped_total", "market data dropped (NATS away or slow)",
                                       ("venue", "kind"))
        self.bars = metrics.counter("md_bars_published_total", "1-minute bars published", ("venue",))
        self.statuses = metrics.counter("md_status_published_total", "feed status events published", ("venue",))

    # --- ticks ---------------------------------------------------------------------------------

    def is_duplicate(self, tick: Tick) -> bool:
        key = (tick.venue, tick.exchange, tick.symbol)
        recent = self._recent.get(key)
        if recent is None:
            recent = self._recent[key] = deque(maxlen=DEDUPE_DEPTH)
        ident = tick_id(tick)
        if ident in recent:
            self.duplicates.inc(1, tick.venue)
            return True
        recent.append(ident)
        return False

    def seed(self, tick: Tick) -> None:
        """A tick the previous holder stored: never publish it again, and continue its feed's sequence."""
        key = (tick.venue, tick.exchange, tick.symbol)
        recent = self._recent.get(key)
        if recent is None:
            recent = self._recent[key] = deque(maxlen=DEDUPE_DEPTH)
        recent.append(tick_id(tick))
        self._seq[tick.venue] = max(self._seq.get(tick.venue, 0), tick.seq)

    def next_seq(self, venue: str) -> int:
        seq = self._seq.get(venue, 0) + 1
        self._seq[venue] = seq
        return seq

    async def publish_tick(self, tick: Tick) -> bool:
        """Publish a sequenced tick (synchronously buffered by nats-py); False when dropped."""
        key = (tick.venue, tick.exchange, tick.symbol)
        subject = self._subjects.get(key)
        if subject is None:
            subject = self._subjects[key] = md_tick(*key)
        return await self._publish(subject, _encode(tick), tick.venue, "tick", self.published)

    async def publish_bar(self, bar: Bar) -> bool:
        subject = md_bar(bar.venue, bar.exchange, bar.symbol, bar.interval)
        return await self._publish(subject, _encode(bar), bar.venue, "bar", self.bars)

    async def _publish(self, subject: str, data: bytes, venue: str, kind: str, counter: Counter) -> bool:
        gate = self.gates.get(venue)
        if gate is None or not self._connected():
            self._drop(venue, kind)
            return False
        try:
            if not await gate.publish(subject, data):  # appends to nats-py's buffer; its flusher writes
                self._drop(venue, "fenced")
                return False
        except Exception:  # connection closing under us: same as disconnected
            self._drop(venue, kind)
            return False
        counter.inc(1, venue)
        return True

    def _drop(self, venue: str, kind: str) -> None:
        self.dropped.inc(1, venue, kind)
        self._dropped_since_log += 1

    def log_drops(self) -> None:
        """Called periodically: one warning per second at most, with the count since the last one."""
        now = time.monotonic()
        if self._dropped_since_log and now - self._last_drop_log >= 1.0:
            log.warning("market data dropped", count=self._dropped_since_log, nats_connected=self._connected())
            self._dropped_since_log = 0
            self._last_drop_log = now

    # --- status --------------------------------------------------------------------------------

    async def publish_status(self, status: FeedStatus) -> None:
        subject = md_status(status.venue)
        self._backlog.append((subject, status))
        await self.flush_status()

    async def flush_status(self) -> None:
        while self._backlog and self._connected():
            subject, status = self._backlog[0]
            gate = self.gates.get(status.venue)
            try:
                if gate is None or not await gate.publish(subject, _encode(status)):
                    self._backlog.popleft()  # not ours to say (a standby, or deposed)
                    continue
            except Exception:
                return
            self._backlog.popleft()
            self.statuses.inc(1, status.venue)
