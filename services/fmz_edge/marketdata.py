"""Reading market data off the bus: the last tick, recent ticks and 1-minute bars from stream MD, and
holding an md_ingest subscription for every instrument a strategy asks about."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

import msgspec
from nats.aio.msg import Msg

from fmz_edge.protocol import FmzError
from tradebus import subjects
from tradebus.bus import Bus, RequestFailed, RequestTimeout, last_message
from tradebus.bus.replay import read_stream
from tradebus.logs import get_logger
from tradebus.md_holding import Holdings
from tradebus.md_lease import LeaseRenewer
from tradebus.schemas import MARKET_CONTROL_DECODER, MARKET_DATA_DECODER
from tradebus.schemas.market import Bar, SubscriptionReply, Tick, UnsubscribeRequest

log = get_logger("fmz_edge.md")

_Key = tuple[str, str, str]


class MarketData:
    """``requester`` names this instance at md_ingest (``fmz_edge`` or ``fmz_edge:<instance_id>``): stable
    across restarts, so a restarted instance holds one reference, and distinct per instance, so each
    instance's references are its own. They are leased and renewed while held (``tradebus.md_lease``)."""

    def __init__(self, bus: Bus, *, requester: str, lease_s: float, request_timeout: float,
                 wait_first_tick: float) -> None:
        self.bus = bus
        self.requester = requester
        self.request_timeout = request_timeout
        self.wait_first_tick = wait_first_tick
        self.held: set[_Key] = set()
        self.holdings = Holdings()  # drops the live ticks of a deposed md_ingest holder
        self.leases = LeaseRenewer(bus, requester, lease_s, lambda: list(self.held), timeout=request_timeout)

    async def tick(self, venue: str, exchange: str, symbol: str) -> Tick:
        """The last tick; on first use subscribe the instrument and wait briefly for its first tick."""
        subject = subjects.md_tick(venue, exchange, symbol)
        key = (venue, exchange, symbol)
        if key in self.held:
            found = await self._last_tick(subject)
            if found is not None:
                return found
        first: asyncio.Future[Tick] = asyncio.get_running_loop().create_future()

        async def on_tick(msg: Msg) -> None:
            with contextlib.suppress(Exception):
                decoded = MARKET_DATA_DECODER.decode(msg.data)
                if isinstance(decoded, Tick) and not first.done():
                    first.set_result(decoded)

        await self.holdings.follow(lambda fence_subject, cb: self.bus.nc.subscribe(fence_subject, cb=cb))
        # Before subscribing at md_ingest: no tick slips by.
        sub = await self.bus.nc.subscribe(subject, cb=self.holdings.guard(on_tick))
        try:
            problem = await self._subscribe(key)
            found = await self._last_tick(subject)
            if found is not None:
                return found
            if problem:
                raise FmzError(problem)
            try:
                return await asyncio.wait_for(first, self.wait_first_tick)
            except TimeoutError:
                pass
            # No tick within the wait (a closed market pushes none): the last stored tick or 1-minute bar.
            found = await self._last_tick(subject) or await self._tick_from_bar(key)
            if found is None:
                raise FmzError(f"no market data for {exchange}.{symbol}: md_ingest has published none "
                               f"(subscribed; waited {self.wait_first_tick:g} s)")
            return found
        finally:
            await sub.unsubscribe()

    async def _tick_from_bar(self, key: _Key) -> Tick | None:
        """A tick standing for the last stored 1-minute bar: its close as the last price, no book.
        Used only when the instrument has no stored tick, so a first ``ticker`` still has a price."""
        bar = await last_message(self.bus.js, "MD", subjects.md_bar(*key), MARKET_DATA_DECODER)
        if not isinstance(bar, Bar):
            return None
        venue, exchange, symbol = key
        return Tick(venue=venue, exchange=exchange, symbol=symbol, seq=0, ts_event=bar.end_ns, ts_init=bar.end_ns,
                    trading_day=bar.trading_day, last=bar.close, open=bar.open, high=bar.high, low=bar.low,
                    volume=bar.volume, turnover=bar.turnover, open_interest=bar.open_interest)

    async def _last_tick(self, subject: str) -> Tick | None:
        message = await last_message(self.bus.js, "MD", subject, MARKET_DATA_DECODER)
        return message if isinstance(message, Tick) else None

    async def _subscribe(self, key: _Key) -> str:
        """Hold a subscription at md_ingest; returns a problem description, or "" when held."""
        if key in self.held:
            return ""
        venue, exchange, symbol = key
        request = self.leases.request(venue, exchange, symbol)
        try:
            reply = await self.bus.request(subjects.MD_CTL_SUBSCRIBE, request, MARKET_CONTROL_DECODER,
                                           timeout=self.request_timeout)
        except (RequestFailed, RequestTimeout) as exc:
            return f"market data service unavailable: {exc}"
        if not isinstance(reply, SubscriptionReply) or not reply.ok:
            reason = reply.error if isinstance(reply, SubscriptionReply) else "unexpected reply"
            return f"cannot subscribe {exchange}.{symbol}: {reason}"
        self.held.add(key)
        return ""

    async def release_all(self) -> None:
        await self.leases.stop()
        await self.holdings.stop()
        for venue, exchange, symbol in list(self.held):
            request = UnsubscribeRequest(venue=venue, exchange=exchange, symbol=symbol, requester=self.requester)
            with contextlib.suppress(Exception):
                await self.bus.request(subjects.MD_CTL_UNSUBSCRIBE, request, MARKET_CONTROL_DECODER, timeout=1.0)
        self.held.clear()

    async def recent_ticks(self, venue: str, exchange: str, symbol: str, lookback_s: float) -> list[Tick]:
        """Stored ticks from ``lookback_s`` before the last one up to it, oldest first."""
        subject = subjects.md_tick(venue, exchange, symbol)
        last = await self._last_tick(subject)
        if last is None:
            await self.tick(venue, exchange, symbol)  # subscribes, or says why there is nothing
            last = await self._last_tick(subject)
            if last is None:
                return []
        start = last.ts_init - int(lookback_s * 1e9)
        return [m for m in await read_since(self.bus, subject, start, 20_000) if isinstance(m, Tick)]

    async def minute_bars(self, venue: str, exchange: str, symbol: str, span_s: int) -> list[Bar]:
        """Stored 1-minute bars covering ``span_s`` before the last one, oldest first."""
        subject = subjects.md_bar(venue, exchange, symbol)
        last = await last_message(self.bus.js, "MD", subject, MARKET_DATA_DECODER)
        if not isinstance(last, Bar):
            await self._subscribe((venue, exchange, symbol))  # so bars start being built
            return []
        start = last.end_ns - span_s * 1_000_000_000
        bars = [m for m in await read_since(self.bus, subject, start, 20_000) if isinstance(m, Bar)]
        return [b for b in bars if b.start_ns >= start]


async def read_since(bus: Bus, subject: str, start_ns: int, max_msgs: int,
                     idle_timeout: float = 2.0) -> list[msgspec.Struct]:
    """Messages stored on ``subject`` in stream MD from ``start_ns`` (store time), oldest first, up to
    the messages that existed when the read started, keeping the newest ``max_msgs``."""
    out: deque[msgspec.Struct] = deque(maxlen=max_msgs)
    try:
        async for _seq, _subject, data in read_stream(bus.js, "MD", subject, start_ns=start_ns,
                                                      idle_timeout=idle_timeout):
            with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):  # newer tags: skip
                out.append(MARKET_DATA_DECODER.decode(data))
    except TimeoutError:
        log.warning("market data replay stalled", subject=subject, read=len(out))
    return list(out)
