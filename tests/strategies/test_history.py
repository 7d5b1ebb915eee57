"""History + live on the bus: md_ingest's ``md.ctl.history`` server and the SDK's join, with a feed that
keeps publishing while a strategy (a bus user) asks for history and continues live. The join must
have no gap and no duplicate across the seam."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from md_ingest.history import HistoryServer
from strategies.conftest import ALICE_PW, BusWorld
from tradebus.bus import Bus, connect, ensure_topology
from tradebus.bus.flush import flush_in_order
from tradebus.client import Client, ClientError, SyncClient, UnknownSymbol
from tradebus.config import NatsConfig, Secret, StreamsConfig
from tradebus.schemas.market import Bar, Tick
from tradebus.subjects import MD_CTL_HISTORY, md_bar, md_tick

T = TypeVar("T")
NAME = "sim.SIMX.FOO"
BASE_NS = 1_750_000_000_000_000_000
MINUTE_NS = 60_000_000_000


class Feed:
    """Publishes ticks or bars of NAME as md_ingest does (core publish, captured by stream MD)."""

    def __init__(self, md: Bus, kind: str, limit: int | None = None) -> None:
        self.md = md
        self.kind = kind
        self.limit = limit  # stop after this many
        self.published = 0
        self.advanced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def message(self, n: int) -> tuple[str, Tick | Bar]:
        if self.kind == "tick":
            return md_tick("sim", "SIMX", "FOO"), Tick(venue="sim", exchange="SIMX", symbol="FOO", seq=n,
                                                        ts_event=BASE_NS + n * 1000, ts_init=BASE_NS, last=100.0 + n)
        start = BASE_NS + n * MINUTE_NS
        return md_bar("sim", "SIMX", "FOO"), Bar(venue="sim", exchange="SIMX", symbol="FOO", interval="1m",
                                                 start_ns=start, end_ns=start + MINUTE_NS, open=1, high=2, low=0.5,
                                                 close=1.5, volume=n, turnover=0.0)

    async def run(self) -> None:
        while not self._stopping and (self.limit is None or self.published < self.limit):
            self.published += 1
            await self.md.publish(*self.message(self.published))
            self.advanced.set()
            if self.published % 50 == 0:
                await flush_in_order(self.md.nc)
                await asyncio.sleep(0.005)  # the feed's pace: ~10 k messages/s, so the test's reads overlap it

    async def reach(self, count: int) -> None:
        while self.published < count:
            self.advanced.clear()
            await self.advanced.wait()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        # Not task.cancel(): cancelling nats-py inside flush() breaks its connection (a PONG for a
        # cancelled future), and this connection also serves the history requests.
        self._stopping = True
        assert self._task is not None
        await self._task


@dataclass
class HistoryWorld:
    md: Bus
    client: Client


async def md_with_history(world: BusWorld) -> Bus:
    """md_ingest's user with stream MD and md_ingest's history server (no venue of its own: "sim")."""
    password = Secret(world.env.passwords["md_ingest"])
    md = await connect(NatsConfig(url=world.env.url, user="md_ingest", password=password, request_timeout_s=5),
                       "test-md_ingest")
    await ensure_topology(md.js, StreamsConfig(), "md_ingest")
    await md.serve(MD_CTL_HISTORY, HistoryServer(md, {"sim": None}).on_request)
    return md


@pytest.fixture
async def history(world: BusWorld) -> AsyncIterator[HistoryWorld]:
    md = await md_with_history(world)
    client = await Client.connect(world.env.url, "alice", ALICE_PW)
    try:
        yield HistoryWorld(md, client)
    finally:
        await client.close()
        await md.close()


async def test_ticks_join_history_to_live_without_gap_or_duplicate(history: HistoryWorld) -> None:
    feed = Feed(history.md, "tick")
    feed.start()
    try:
        await feed.reach(2500)  # more than two history pages before the strategy asks
        asked_at = feed.published
        seqs: list[int] = []
        async for tick in history.client.ticks(NAME, since_ns=BASE_NS):
            seqs.append(tick.seq)
            if tick.seq >= asked_at + 2000:
                break
    finally:
        await feed.stop()
    assert seqs == list(range(1, seqs[-1] + 1))  # every tick once, in order, across the seam


async def test_bars_join_history_to_live_without_gap_or_duplicate(history: HistoryWorld) -> None:
    feed = Feed(history.md, "bar", limit=900)  # fewer than the series keeps, so every bar stays in view
    feed.start()
    try:
        await feed.reach(300)
        asked_at = feed.published
        series = await history.client.bars(NAME, "1m", 1000)
        while series.bars[-1].volume < feed.limit:
            await series.wait_update(timeout=5)
    finally:
        await feed.stop()
    assert asked_at < 900
    starts = [bar.start_ns for bar in series.bars]
    assert starts == [BASE_NS + n * MINUTE_NS for n in range(1, 901)]  # one bar per minute, none twice
    assert series.sources == ["stream"]


async def test_history_pages_are_bounded_and_refusals_are_clear(history: HistoryWorld) -> None:
    feed = Feed(history.md, "bar")
    feed.start()
    try:
        await feed.reach(30)
    finally:
        await feed.stop()
    series = await history.client.bars(NAME, "1m", 10)
    assert len(series.bars) == 10
    with pytest.raises(ValueError, match="count must be"):
        await history.client.bars(NAME, "1m", 100_000)
    with pytest.raises(ClientError, match="unsupported_period"):
        await history.client.bars(NAME, "1d", 10)  # this venue has no K-lines of its own
    with pytest.raises(UnknownSymbol, match="unknown_venue"):
        await history.client.bars("ctp.SHFE.rb2601", "1m", 10)  # not served by this md_ingest



def test_sync_ticks_read_history_then_live(world: BusWorld) -> None:
    loop = asyncio.new_event_loop()  # md_ingest's side, while the test thread is the synchronous strategy
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def on_loop(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(10)

    md = on_loop(md_with_history(world))
    feed = Feed(md, "tick")

    async def publish(first: int, count: int) -> None:
        for n in range(first, first + count):
            await md.publish(*feed.message(n))
        await flush_in_order(md.nc)

    try:
        on_loop(publish(1, 5))
        seen: list[int] = []
        with SyncClient.connect(world.env.url, "alice", ALICE_PW) as client:
            for tick in client.ticks(NAME, since_ns=BASE_NS):
                seen.append(tick.seq)
                if tick.seq == 5:  # the stored ones are read: what follows can only come live
                    on_loop(publish(6, 3))
                if tick.seq == 8:
                    break
        assert seen == [1, 2, 3, 4, 5, 6, 7, 8]
    finally:
        on_loop(md.close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
