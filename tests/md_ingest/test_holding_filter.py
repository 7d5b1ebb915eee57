"""Subscribers drop what a deposed md_ingest holder sends (tradebus.md_holding), against a real nats-server.

Two real :class:`Gate` holders of one venue: the old one keeps publishing after the new one fenced (its
deadline forced open, as a holder thawed from SIGSTOP whose nats-py buffer is flushed). A core subscriber
behind :class:`Holdings` gets the new holder's ticks and none of the old one's sent after the new fence.
"""

from __future__ import annotations

import asyncio
import time

from nats.aio.msg import Msg
from polling import until
from test_lease_fence import SUBJECT, _holding, _kv, _tick

from md_ingest.fence import Gate
from md_ingest.lease import VenueLease
from tradebus.bus import Bus
from tradebus.bus.flush import flush_in_order
from tradebus.md_holding import HOLDING_HEADER, Holdings, venue_token
from tradebus.schemas import MARKET_DATA_DECODER
from tradebus.schemas.market import FeedFence, Tick
from tradebus.subjects import md_bar, md_fence, md_status


async def test_the_subscriber_drops_the_old_holders_ticks_after_the_new_fence(bus: Bus) -> None:
    kv = await _kv(bus)
    old, old_gate = await _holding(bus, kv, 0.5, [])
    holdings = Holdings()
    await holdings.follow(lambda subject, cb: bus.nc.subscribe(subject, cb=cb))
    admitted: list[tuple[int, int]] = []  # (tick seq, holding header)
    everything: list[int] = []

    async def on_tick(msg: Msg) -> None:
        tick = MARKET_DATA_DECODER.decode(msg.data)
        assert isinstance(tick, Tick)
        admitted.append((tick.seq, int((msg.headers or {})[HOLDING_HEADER])))

    async def on_any(msg: Msg) -> None:
        everything.append(MARKET_DATA_DECODER.decode(msg.data).seq)  # type: ignore[union-attr]

    await bus.nc.subscribe(SUBJECT, cb=holdings.guard(on_tick))
    await bus.nc.subscribe(SUBJECT, cb=on_any)  # the same ticks without the filter: they do arrive
    await flush_in_order(bus.nc)
    assert await old_gate.publish(SUBJECT, _tick(1))
    await until(lambda: admitted == [(1, old_gate.holding)], 5, "the old holder's tick while it holds")

    new = VenueLease(kv, "ctp", "2", 0.5, lambda venue: None)
    await asyncio.wait_for(new.acquire(), 5)
    new_gate = Gate(bus, new)
    await new_gate.open()
    assert new_gate.holding > old_gate.holding
    # The new fence alone (no tick of the new holder yet) makes the old holder's late ticks drop.
    await until(lambda: holdings.newest.get("ctp") == new_gate.holding, 5, "the subscriber sees the new fence")
    old.publish_deadline = time.monotonic() + 60  # as if frozen before its deadline and thawed after
    assert await old_gate.publish(SUBJECT, _tick(2))
    assert await new_gate.publish(SUBJECT, _tick(3))
    assert await old_gate.publish(SUBJECT, _tick(4))
    assert await new_gate.publish(SUBJECT, _tick(5))
    await flush_in_order(bus.nc)
    await until(lambda: everything == [1, 2, 3, 4, 5], 5, "every tick reaches an unfiltered subscriber")
    assert admitted == [(1, old_gate.holding), (3, new_gate.holding), (5, new_gate.holding)]
    assert holdings.dropped == 2

    # A re-fence repeats the takeover's ts_event: the holding subscribers compare does not move.
    assert await new_gate.fence()
    fence = MARKET_DATA_DECODER.decode((await bus.js.get_last_msg("MD", md_fence("ctp"))).data or b"")
    assert isinstance(fence, FeedFence) and fence.ts_event == new_gate.holding
    assert await new_gate.publish(SUBJECT, _tick(6))
    await until(lambda: admitted[-1] == (6, new_gate.holding), 5, "the holder's ticks pass after its re-fence")
    await holdings.stop()


def test_admit_without_or_with_a_malformed_header_and_per_venue() -> None:
    holdings = Holdings()
    holdings.see("ctp", 200)
    assert holdings.admit("ctp", None) and holdings.admit("ctp", {}) and holdings.admit("ctp", {HOLDING_HEADER: "x"})
    assert not holdings.admit("ctp", {HOLDING_HEADER: "100"})
    assert holdings.admit("futu", {HOLDING_HEADER: "100"}), "holdings are per venue"
    assert holdings.admit("ctp", {HOLDING_HEADER: "300"}) and holdings.newest["ctp"] == 300
    assert not holdings.admit("ctp", {HOLDING_HEADER: "200"})
    holdings.see("ctp", 250)  # an older holder's re-fence seen late does not move the newest back
    assert holdings.newest["ctp"] == 300 and holdings.dropped == 2


def test_venue_token_of_each_market_data_subject() -> None:
    assert venue_token(SUBJECT) == "ctp"
    assert venue_token(md_bar("ctp", "SHFE", "rb2601")) == "ctp"
    assert venue_token(md_status("futu")) == "futu"
    assert venue_token(md_fence("ctp")) == "ctp"
    assert venue_token("md.ctl.subscribe") == "" and venue_token("x") == ""
