"""``md.ctl.history`` with two md_ingest instances: every instance hears the request (no queue group), and
only the venue's holder answers it; a standby's refusal must never race the holder's answer."""

from __future__ import annotations

import asyncio

import msgspec
from nats.aio.msg import Msg

from md_ingest.history import HistoryServer
from tradebus.bus import Bus
from tradebus.bus.flush import flush_in_order
from tradebus.schemas import BarsPage, BarsQuery, HistoryRefused
from tradebus.schemas.history import HistoryMessage
from tradebus.schemas.market import Bar
from tradebus.subjects import MD_CTL_HISTORY

DAY_NS = 86_400_000_000_000
END_NS = 1_765_000_000_000_000_000
_decode = msgspec.json.Decoder(HistoryMessage).decode


class Kline:
    """A venue's K-line source; ``running`` False is a standby's session that has not started."""

    def __init__(self, running: bool) -> None:
        self.running = running
        self.calls = 0

    async def history_bars(self, exchange: str, symbol: str, period: str, start_ns: int | None, end_ns: int,
                           count: int) -> list[Bar]:
        self.calls += 1
        if not self.running:
            raise RuntimeError("not logged in to OpenD")
        start = end_ns - DAY_NS
        return [Bar(venue="futu", exchange=exchange, symbol=symbol, interval=period, start_ns=start, end_ns=end_ns,
                    open=1.0, high=2.0, low=0.5, close=1.5, volume=10, turnover=15.0)]


async def _serve(bus: Bus, server: HistoryServer, handled: asyncio.Queue[None]) -> None:
    async def handler(msg: Msg) -> None:
        await server.on_request(msg)
        handled.put_nowait(None)

    await bus.serve(MD_CTL_HISTORY, handler)


async def _ask(bus: Bus, query: BarsQuery, handled: asyncio.Queue[None]) -> list[HistoryMessage]:
    """Every answer the request got, once both instances have handled it."""
    inbox = bus.nc.new_inbox()
    sub = await bus.nc.subscribe(inbox)
    try:
        await bus.nc.publish(MD_CTL_HISTORY, msgspec.json.encode(query), reply=inbox)
        for _ in range(2):
            await asyncio.wait_for(handled.get(), 5)
        await flush_in_order(bus.nc)  # any answer published before the flush has reached our subscription by now
        answers = []
        while sub.pending_msgs:
            answers.append(_decode((await sub.next_msg(timeout=1)).data))
        return answers
    finally:
        await sub.unsubscribe()


async def test_only_the_holder_answers_and_the_standby_stays_silent(bus: Bus) -> None:
    holder_kline, standby_kline = Kline(running=True), Kline(running=False)
    held = {"futu"}
    holder = HistoryServer(bus, {"futu": holder_kline}, holds=lambda venue: venue in held)
    standby = HistoryServer(bus, {"futu": standby_kline}, holds=lambda venue: False)
    handled: asyncio.Queue[None] = asyncio.Queue()
    await _serve(bus, standby, handled)  # subscribed first: without the rule its refusal would come first
    await _serve(bus, holder, handled)

    query = BarsQuery(venue="futu", exchange="HK", symbol="00700", period="1d", end_ns=END_NS, count=1)
    answers = await _ask(bus, query, handled)
    assert len(answers) == 1 and isinstance(answers[0], BarsPage), answers
    assert answers[0].sources == ["venue"] and standby_kline.calls == 0

    # a request nobody can serve is refused by every instance alike (the first refusal wins: same text)
    unknown = await _ask(bus, msgspec.structs.replace(query, venue="nope"), handled)
    assert [type(a) for a in unknown] == [HistoryRefused, HistoryRefused]
    assert all(isinstance(a, HistoryRefused) and a.code == "unknown_venue" for a in unknown)

    held.clear()  # the holder was deposed and nobody holds futu yet: no answer, the client's timeout says so
    assert await _ask(bus, query, handled) == []
