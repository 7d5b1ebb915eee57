"""History on the bus: ``md.ctl.history`` request/reply (:mod:`tradebus.schemas.history`).

* **1-minute bars** are read from stream ``MD`` (``md.bar.1m.<venue>.<exchange>.<symbol>``, the very
  bars the live subject carries, so a strategy joining history to live sees one series). For Futu,
  OpenD's history K-lines fill in the time before the first stored bar; where both exist the stored
  bar wins, so there is one bar per minute.
* **Other periods** (5m … 1w) come from the venue only: Futu's K-lines. CTP fronts serve no history,
  so a CTP request for them is refused with ``unsupported_period``.
* **Ticks** are read from stream ``MD`` by time range (``ts_event``), paged by stream sequence.

Every answer is bounded (:data:`~tradebus.schemas.history.MAX_PAGE` rows); a bad request gets
``HistoryRefused`` with a code, never silence.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Protocol, TypeVar, runtime_checkable

import msgspec
from nats.aio.msg import Msg

from tradebus.bus import Bus
from tradebus.bus.replay import read_stream
from tradebus.logs import get_logger
from tradebus.schemas import HISTORY_DECODER, MARKET_DATA_DECODER
from tradebus.schemas.base import BusMessage
from tradebus.schemas.history import (
    BAR_PERIODS,
    MAX_PAGE,
    BarsPage,
    BarsQuery,
    HistoryRefused,
    TicksPage,
    TicksQuery,
)
from tradebus.schemas.market import Bar, Tick
from tradebus.subjects import md_bar, md_tick

log = get_logger("md_ingest.history")
T = TypeVar("T")

MD_STREAM = "MD"
MINUTE_NS = 60_000_000_000
# Stored ticks are found by store time, filtered by venue time: start the read this much earlier so a
# tick stored a little after its ts_event is not missed.
TICK_STORE_SLACK_NS = 60_000_000_000


@runtime_checkable
class VenueHistory(Protocol):
    async def history_bars(self, exchange: str, symbol: str, period: str, start_ns: int | None, end_ns: int,
                           count: int) -> list[Bar]: ...


class Refused(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class HistoryServer:
    """Answers ``md.ctl.history``. With a standby every md_ingest instance hears each request (no queue
    group), so an instance answers only for the venues it ``holds``: a standby's venue session is not
    running, and its refusal would race the holder's answer."""

    def __init__(self, bus: Bus, venues: dict[str, VenueHistory | None], *,
                 clock: Callable[[], int] = time.time_ns, holds: Callable[[str], bool] = lambda venue: True) -> None:
        self.bus = bus
        self.venues = venues  # venue → its K-line source (None: the venue serves no history)
        self.clock = clock
        self.holds = holds

    async def on_request(self, msg: Msg) -> None:
        try:
            query = HISTORY_DECODER.decode(msg.data)
        except msgspec.DecodeError:
            query = None  # refused below, by every instance alike
        if isinstance(query, BarsQuery | TicksQuery) and query.venue in self.venues and not self.holds(query.venue):
            return  # the venue's holder answers
        try:
            reply = await self.answer(msg.data)
        except Refused as exc:
            reply = HistoryRefused(code=exc.code, reason=exc.reason)
        await self.bus.reply(msg, reply)

    async def answer(self, data: bytes) -> BusMessage:
        try:
            query = HISTORY_DECODER.decode(data)
        except msgspec.DecodeError as exc:
            raise Refused("bad_request", f"undecodable history request: {exc}") from None
        if isinstance(query, BarsQuery):
            return await self.bars(query)
        if isinstance(query, TicksQuery):
            return await self.ticks(query)
        raise Refused("bad_request", f"expected BarsQuery or TicksQuery, got {type(query).__name__}")

    def _check(self, venue: str, exchange: str, symbol: str, count: int) -> None:
        if venue not in self.venues:
            raise Refused("unknown_venue", f"venue {venue!r} is not served by this md_ingest "
                                           f"(enabled: {sorted(self.venues)})")
        if not 1 <= count <= MAX_PAGE:
            raise Refused("bad_request", f"count must be 1-{MAX_PAGE}, got {count}")
        try:
            md_tick(venue, exchange, symbol)
        except ValueError as exc:
            raise Refused("bad_request", str(exc)) from None

    # --- bars ----------------------------------------------------------------------------------------

    async def bars(self, query: BarsQuery) -> BarsPage:
        self._check(query.venue, query.exchange, query.symbol, query.count)
        if query.period not in BAR_PERIODS:
            raise Refused("unsupported_period", f"period {query.period!r}: expected one of {', '.join(BAR_PERIODS)}")
        end = query.end_ns if query.end_ns is not None else self.clock()
        if query.start_ns is not None and query.start_ns >= end:
            raise Refused("bad_request", "start_ns must be before end_ns")
        venue = self.venues[query.venue]
        stored: list[Bar] = []
        if query.period == "1m":
            stored = await self._stored_bars(query, end)
        elif venue is None:
            raise Refused("unsupported_period", f"{query.venue} has no history K-lines; only 1m bars, which "
                                                "md_ingest builds from ticks")
        sources = ["stream"] if stored else []
        merged = stored
        if venue is not None and (query.period != "1m" or len(stored) < query.count):
            # Venue bars only before the first stored one: the stored bars are what live continues with.
            before = stored[0].start_ns if stored else end
            try:
                fetched = await venue.history_bars(query.exchange, query.symbol, query.period, query.start_ns,
                                                   before, query.count)
            except Refused:
                raise
            except Exception as exc:
                if not stored:
                    raise Refused("venue_unavailable", f"{query.venue} history failed: {exc}") from None
                log.warning("venue history failed; answering from the stream only", error=str(exc))
                fetched = []
            older = [b for b in fetched if b.end_ns <= before and b.end_ns <= self.clock()]
            if older:
                sources.append("venue")
            merged = older + stored
        return self._page(merged, query, sources)

    def _page(self, bars: list[Bar], query: BarsQuery, sources: list[str]) -> BarsPage:
        bars.sort(key=lambda b: b.start_ns)
        unique: list[Bar] = []
        for bar in bars:
            if not unique or bar.start_ns > unique[-1].start_ns:
                unique.append(bar)
        if query.start_ns is None:
            return BarsPage(bars=unique[-query.count:], sources=sources)
        page = unique[:query.count]
        more = len(unique) > query.count
        return BarsPage(bars=page, more=more, next_start_ns=page[-1].start_ns + 1 if more else None, sources=sources)

    async def _stored_bars(self, query: BarsQuery, end: int) -> list[Bar]:
        subject = md_bar(query.venue, query.exchange, query.symbol, "1m")
        # Without a start: every stored bar of the subject is a candidate (MD keeps a bounded number per
        # subject), and only the last `count` ending by `end` are kept.
        keep: deque[Bar] | list[Bar] = deque(maxlen=query.count) if query.start_ns is None else []
        start = query.start_ns - MINUTE_NS if query.start_ns is not None else None
        async for _seq, _subject, data in read_stream(self.bus.js, MD_STREAM, subject, start_ns=start):
            bar = _decode(data, Bar)
            if bar is None:
                continue
            if bar.end_ns > end:
                break  # stored in time order: the rest is later still
            if query.start_ns is not None and bar.start_ns < query.start_ns:
                continue
            keep.append(bar)
            if isinstance(keep, list) and len(keep) > query.count:
                break  # one more than a page: enough to know there is more
        return list(keep)

    # --- ticks ---------------------------------------------------------------------------------------

    async def ticks(self, query: TicksQuery) -> TicksPage:
        self._check(query.venue, query.exchange, query.symbol, query.count)
        end = query.end_ns if query.end_ns is not None else self.clock()
        subject = md_tick(query.venue, query.exchange, query.symbol)
        found: list[Tick] = []
        last_seq = 0
        more = False
        start_seq = query.after_seq + 1 if query.after_seq is not None else None
        start_ns = None if start_seq is not None else query.start_ns - TICK_STORE_SLACK_NS
        async for seq, _subject, data in read_stream(self.bus.js, MD_STREAM, subject, start_seq=start_seq,
                                                     start_ns=start_ns):
            tick = _decode(data, Tick)
            if tick is None or tick.ts_event < query.start_ns:
                continue
            if tick.ts_event >= end:
                break
            if len(found) == query.count:
                more = True
                break
            found.append(tick)
            last_seq = seq
        return TicksPage(ticks=found, more=more, next_seq=last_seq if more else None)


def _decode(data: bytes, kind: type[T]) -> T | None:
    try:
        message = MARKET_DATA_DECODER.decode(data)
    except msgspec.DecodeError:
        return None
    return message if isinstance(message, kind) else None

