"""History joined to live: bars and ticks without a gap or a duplicate at the seam.

The live subscription starts *before* the history request, and what it receives meanwhile is held.
Everything published before the subscription is in stream MD when md_ingest reads it for the
request, everything after it is held, so nothing falls between. The seam is then closed by a key:
a bar is new when it starts after the last bar we have (one bar per minute), a tick when it is not one
of those the history returned (``(seq, ts_event)``; ``seq`` counts every tick of a feed).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from nats.aio.msg import Msg

from tradebus.client.errors import ClientError, UnknownSymbol, VenueDown
from tradebus.client.link import BusLink
from tradebus.instrument import Instrument
from tradebus.schemas import HISTORY_DECODER, MARKET_DATA_DECODER
from tradebus.schemas.history import MAX_PAGE, BarsPage, BarsQuery, HistoryRefused, TicksPage, TicksQuery
from tradebus.schemas.market import Bar, Tick
from tradebus.subjects import MD_CTL_HISTORY, md_bar, md_tick

HISTORY_TIMEOUT_S = 20.0  # md_ingest may page through OpenD's K-lines for a request
LIVE_BUFFER = 10_000  # ticks held for a consumer that is slower than the feed, then it is told


def _refusal(instrument: Instrument, refused: HistoryRefused) -> ClientError:
    if refused.code in ("unknown_venue", "bad_request"):
        return UnknownSymbol(f"{instrument}: {refused.code}: {refused.reason}")
    if refused.code == "venue_unavailable":
        return VenueDown(f"{instrument}: {refused.reason}")
    return ClientError(f"{instrument}: {refused.code}: {refused.reason}")


async def _ask(client: BusLink, instrument: Instrument, query: BarsQuery | TicksQuery) -> Any:
    reply = await client.request(MD_CTL_HISTORY, query, HISTORY_DECODER,
                                 timeout=max(client.timeout, HISTORY_TIMEOUT_S))
    if isinstance(reply, HistoryRefused):
        raise _refusal(instrument, reply)
    return reply


class BarSeries:
    """The last ``count`` bars of one instrument, oldest first in :attr:`bars`, kept current from
    ``md.bar.1m`` for 1-minute bars (other periods are history only)."""

    def __init__(self, client: BusLink, instrument: Instrument, period: str, count: int) -> None:
        self.client = client
        self.instrument = instrument
        self.period = period
        self.count = count
        self.bars: deque[Bar] = deque(maxlen=count)
        self.sources: list[str] = []
        self._held: list[Bar] | None = []
        self._changed = asyncio.Condition()
        self._sub: Any = None

    async def start(self) -> None:
        if self.period == "1m":
            self._sub = await self.client.subscribe_md(md_bar(*self.instrument, "1m"), self._on_bar)
        page: BarsPage = await _ask(self.client, self.instrument, BarsQuery(
            venue=self.instrument.venue, exchange=self.instrument.exchange, symbol=self.instrument.symbol,
            period=self.period, count=self.count))
        self.sources = page.sources
        self.bars.extend(page.bars)
        held, self._held = self._held or [], None
        for bar in held:
            self._add(bar)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    def _add(self, bar: Bar) -> bool:
        if self.bars and bar.start_ns <= self.bars[-1].start_ns:
            return False  # already had it from history (or an older re-delivery)
        self.bars.append(bar)
        return True

    async def _on_bar(self, msg: Msg) -> None:
        try:
            bar = MARKET_DATA_DECODER.decode(msg.data)
        except msgspec.DecodeError:
            return
        if not isinstance(bar, Bar):
            return
        if self._held is not None:
            self._held.append(bar)
            return
        async with self._changed:
            if self._add(bar):
                self._changed.notify_all()

    async def wait_update(self, timeout: float | None = None) -> Bar:
        """The next bar to close; :class:`TimeoutError` when none does within ``timeout``."""
        if self._sub is None:
            raise ClientError(f"{self.period} bars are history only: live bars are 1-minute bars")
        async with self._changed:
            await asyncio.wait_for(self._changed.wait(), timeout or self.client.timeout)
            return self.bars[-1]

    def closes(self) -> list[float]:
        return [bar.close for bar in self.bars]


async def tick_stream(client: BusLink, instrument: Instrument, since_ns: int) -> AsyncIterator[Tick]:
    """Every tick of ``instrument`` from ``since_ns`` (stored ones first), then live, without end."""
    held: asyncio.Queue[Tick] = asyncio.Queue(maxsize=LIVE_BUFFER)
    overflowed = False

    async def on_tick(msg: Msg) -> None:
        nonlocal overflowed
        try:
            tick = MARKET_DATA_DECODER.decode(msg.data)
        except msgspec.DecodeError:
            return
        if isinstance(tick, Tick):
            try:
                held.put_nowait(tick)
            except asyncio.QueueFull:
                overflowed = True

    sub = await client.subscribe_md(md_tick(*instrument), on_tick)
    try:
        seen: set[tuple[int, int]] = set()
        cursor: int | None = None
        while True:
            page: TicksPage = await _ask(client, instrument, TicksQuery(
                venue=instrument.venue, exchange=instrument.exchange, symbol=instrument.symbol, start_ns=since_ns,
                count=MAX_PAGE, after_seq=cursor))
            for tick in page.ticks:
                seen.add((tick.seq, tick.ts_event))
                yield tick
            if not page.more:
                break
            cursor = page.next_seq
        while True:
            if overflowed:
                raise ClientError(f"{instrument}: more than {LIVE_BUFFER} ticks waited for this reader; it is too "
                                  "slow for the feed")
            tick = await held.get()
            if (tick.seq, tick.ts_event) in seen or tick.ts_event < since_ns:
                continue
            yield tick
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
