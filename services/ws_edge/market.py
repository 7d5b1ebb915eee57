"""Market data for every client from one venue subscription per instrument.

The first client of an instrument makes the edge take one reference at md_ingest (``md.ctl.subscribe``
with requester ``ws_edge:<instance>``) and one NATS subscription; later clients share both, and the
last one to leave releases them. The reference is leased and renewed while held (``tradebus.md_lease``),
so md_ingest drops it by itself when this edge is killed. A new client gets the instrument's last known
tick at once (from the edge's cache, else the MD stream), not after the next trade.

Backlog: the NATS callbacks only queue the raw tick (at most ``BURST`` per instrument) and wake the
dispatcher, so what piles up in the nats-py subscription is drained at memcpy speed. While the edge
keeps up, every tick of a burst goes out (webctp sends one frame per tick). When the first queued tick
waited more than ``LAG_LIMIT_NS`` for the dispatcher, the edge is behind and each instrument collapses
to its newest tick (conflation at the subscription): the fan-out work per round is then bounded by the
instruments, not by the ticks, whatever the rate. The dispatcher renders each tick once and hands the
same bytes to every client channel. A tick of a deposed md_ingest holder is dropped before it is queued
(tradebus.md_holding).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from nats.aio.msg import Msg

from tradebus.bus import Bus, BusError, last_message
from tradebus.logs import get_logger
from tradebus.md_holding import Holdings
from tradebus.md_lease import LeaseRenewer
from tradebus.schemas import MARKET_CONTROL_DECODER, MARKET_DATA_DECODER
from tradebus.schemas.market import SubscriptionReply, Tick, UnsubscribeRequest
from tradebus.subjects import MD_CTL_SUBSCRIBE, MD_CTL_UNSUBSCRIBE, md_tick
from ws_edge.channel import Channel
from ws_edge.depth import depth_body
from ws_edge.envelope import depth, encode
from ws_edge.instruments import BusInstrument

log = get_logger("ws_edge.market")
# Ticks of one instrument kept between two dispatcher rounds; older ones are conflated. Keeping only
# the newest conflated ordinary bursts too (a third of the ticks at 5 000/s with one client).
BURST = 16
# A round that starts this long after its first tick arrived means the edge is behind: newest only.
# Without it, 500 clients at 1 500 ticks/s made every round 16 times dearer than it needed to be and
# the event loop stalled long enough for nats-server to cut the edge off as a slow consumer.
LAG_LIMIT_NS = 2_000_000


@dataclass(eq=False)
class Feed:
    instrument: BusInstrument
    instrument_id: str  # as the client sees it
    subject: str
    clients: set[Channel] = field(default_factory=set)
    pending: int = 0  # clients between acquire() and attach()
    frame: bytes | None = None  # the last RtnDepthMarketData sent
    tick: Tick | None = None
    sub: Any = None


class MarketHub:
    def __init__(self, bus: Bus, requester: str, *, timeout: float, lease_s: float,
                 to_webctp: Callable[[BusInstrument], str]) -> None:
        self.bus = bus
        self.requester = requester
        self.leases = LeaseRenewer(bus, requester, lease_s, lambda: list(self.feeds), timeout=timeout)
        self.timeout = timeout
        self.to_webctp = to_webctp
        self.feeds: dict[BusInstrument, Feed] = {}
        self._inbox: dict[BusInstrument, deque[bytes]] = {}
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.ticks_in = 0
        self.conflated_at_subscription = 0
        self.frames_out = 0
        self.holdings = Holdings()  # drops the live ticks of a deposed md_ingest holder
        self._first_ns = 0  # when the inbox last went from empty to not empty

    def start(self) -> None:
        self._task = asyncio.create_task(self._dispatch(), name="md-dispatch")
        self.leases.start()

    async def stop(self) -> None:
        await self.leases.stop()
        await self.holdings.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for feed in list(self.feeds.values()):
            await self._teardown(feed)

    def pending_msgs(self) -> int:
        return sum(feed.sub.pending_msgs for feed in self.feeds.values() if feed.sub is not None)

    # --- subscriptions -------------------------------------------------------------------------

    async def acquire(self, instrument: BusInstrument) -> str:
        """Make sure the instrument is subscribed; "" or the reason it cannot be."""
        async with self._lock:
            feed = self.feeds.get(instrument)
            if feed is None:
                error = await self._venue_subscribe(instrument)
                if error:
                    return error
                feed = await self._open(instrument)
            feed.pending += 1
            return ""

    async def attach(self, client: Channel, instrument: BusInstrument) -> None:
        """After the client got its RspSubMarketData: start its stream with the last known tick."""
        feed = self.feeds.get(instrument)
        if feed is None:
            return
        if feed.frame is None:
            await self._load_last(feed)
        # No await from here on: the snapshot and the live stream cannot overlap or leave a gap.
        feed.pending -= 1
        if client in feed.clients:
            return
        if feed.frame is not None:
            client.send_tick(instrument, feed.frame)
        feed.clients.add(client)

    async def release(self, client: Channel, instrument: BusInstrument) -> None:
        async with self._lock:
            feed = self.feeds.get(instrument)
            if feed is None:
                return
            feed.clients.discard(client)
            client.drop_ticks(instrument)
            if not feed.clients and feed.pending <= 0:
                await self._teardown(feed)

    async def release_all(self, client: Channel) -> None:
        for instrument in [i for i, f in self.feeds.items() if client in f.clients]:
            await self.release(client, instrument)

    async def _venue_subscribe(self, instrument: BusInstrument) -> str:
        request = self.leases.request(*instrument)
        try:
            reply = await self.bus.request(MD_CTL_SUBSCRIBE, request, MARKET_CONTROL_DECODER, timeout=self.timeout)
        except (BusError, ValueError) as exc:
            return str(exc)
        if not isinstance(reply, SubscriptionReply) or not reply.ok:
            return getattr(reply, "error", "") or "refused"
        return ""

    async def _open(self, instrument: BusInstrument) -> Feed:
        subject = md_tick(instrument.venue, instrument.exchange, instrument.symbol)
        feed = Feed(instrument, self.to_webctp(instrument), subject)
        inbox, wake, admit = self._inbox, self._wake, self.holdings.admit_msg
        await self.holdings.follow(lambda subject, cb: self.bus.nc.subscribe(subject, cb=cb))

        async def on_tick(msg: Msg) -> None:
            if not admit(msg):
                return
            if not inbox:
                self._first_ns = time.monotonic_ns()
            queued = inbox.get(instrument)
            if queued is None:
                inbox[instrument] = queued = deque(maxlen=BURST)
            elif len(queued) == BURST:
                self.conflated_at_subscription += 1
            queued.append(msg.data)
            wake.set()

        feed.sub = await self.bus.nc.subscribe(subject, cb=on_tick, pending_msgs_limit=100_000)
        self.feeds[instrument] = feed
        return feed

    async def _load_last(self, feed: Feed) -> None:
        try:
            tick = await last_message(self.bus.js, "MD", feed.subject, MARKET_DATA_DECODER, timeout=self.timeout)
        except Exception as exc:  # no stream yet, NATS away: the next live tick will do
            log.debug("no last tick", subject=feed.subject, error=str(exc))
            return
        if isinstance(tick, Tick) and feed.frame is None:
            self._render(feed, tick)

    async def _teardown(self, feed: Feed) -> None:
        self.feeds.pop(feed.instrument, None)
        self._inbox.pop(feed.instrument, None)
        if feed.sub is not None:
            with contextlib.suppress(Exception):
                await feed.sub.unsubscribe()
        inst = feed.instrument
        request = UnsubscribeRequest(venue=inst.venue, exchange=inst.exchange, symbol=inst.symbol,
                                     requester=self.requester)
        try:
            await self.bus.request(MD_CTL_UNSUBSCRIBE, request, MARKET_CONTROL_DECODER, timeout=self.timeout)
        except Exception as exc:  # md_ingest away: our lease lapses there, since we stop renewing it
            log.warning("md.ctl unsubscribe failed", instrument=str(inst), error=str(exc))

    # --- fan-out -------------------------------------------------------------------------------

    def _render(self, feed: Feed, tick: Tick) -> bytes:
        frame = encode(depth(depth_body(tick, feed.instrument_id, md_push=True)))
        feed.frame, feed.tick = frame, tick
        return frame

    async def _dispatch(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch = self._inbox.copy()  # the NATS callbacks keep writing into the same dict
            self._inbox.clear()
            behind = time.monotonic_ns() - self._first_ns > LAG_LIMIT_NS
            for instrument, queued in batch.items():
                if behind and len(queued) > 1:
                    self.conflated_at_subscription += len(queued) - 1
                    self._fan_out(instrument, queued[-1])
                    continue
                for raw in queued:
                    self._fan_out(instrument, raw)

    def _fan_out(self, instrument: BusInstrument, raw: bytes) -> None:
        feed = self.feeds.get(instrument)
        if feed is None:
            return
        try:
            tick = MARKET_DATA_DECODER.decode(raw)
        except msgspec.DecodeError as exc:
            log.warning("undecodable tick", subject=feed.subject, error=str(exc))
            return
        if not isinstance(tick, Tick):
            return
        self.ticks_in += 1
        frame = self._render(feed, tick)
        for client in feed.clients:
            client.send_tick(instrument, frame)
        self.frames_out += len(feed.clients)

    def last_tick(self, instrument: BusInstrument) -> Tick | None:
        feed = self.feeds.get(instrument)
        return feed.tick if feed else None
