"""Units of the hot path: the inbox (bounded, coalescing, never blocking), dedupe, backoff, CTP maps."""

from __future__ import annotations

import asyncio
import random
import threading
import time

from md_ingest import ctp_map
from md_ingest.contract import Instrument
from md_ingest.inbox import Inbox
from md_ingest.publisher import Publisher
from md_ingest.registry import Registry
from tradebus.backoff import Backoff
from tradebus.ctp.time import beijing_ns
from tradebus.runtime.metrics import Registry as Metrics
from tradebus.schemas.market import Level, Tick


async def test_inbox_is_bounded_and_coalesces() -> None:
    inbox = Inbox(max_keys=3)
    woke = asyncio.Event()
    inbox.attach(asyncio.get_running_loop(), woke.set)

    def flood() -> None:  # a venue thread pushing far faster than anyone drains
        for i in range(30_000):
            inbox.put("ctp", f"s{i % 5}", i)

    thread = threading.Thread(target=flood)
    started = time.monotonic()
    thread.start()
    thread.join(10)
    assert time.monotonic() - started < 5  # the producer never waited for the loop
    await asyncio.wait_for(woke.wait(), 2)
    entries = inbox.take()
    assert len(entries) == 3  # never more than max_keys pushes held, whatever the rate
    assert inbox.received == 30_000
    assert inbox.coalesced + inbox.overflow == 30_000 - 3
    assert inbox.overflow > 0 and inbox.coalesced > 0
    # the latest value of each kept key wins
    assert {key: raw for _, key, raw, _ in entries} == {"s0": 29_995, "s1": 29_996, "s2": 29_997}
    woke.clear()
    inbox.put("ctp", "s0", 1)
    await asyncio.wait_for(woke.wait(), 2)  # a put after take wakes the loop again


def _tick(**kw: object) -> Tick:
    base: dict[str, object] = {"venue": "ctp", "exchange": "SHFE", "symbol": "rb2601", "seq": 0, "ts_event": 1,
                               "ts_init": 2, "last": 3100.0, "volume": 10, "bids": (Level(3099.0, 1),)}
    base.update(kw)
    return Tick(**base)  # type: ignore[arg-type]


def test_dedupe_drops_identical_repush_only() -> None:
    pub = Publisher(None, Metrics(), status_backlog=4, is_connected=lambda: False)  # type: ignore[arg-type]
    assert not pub.is_duplicate(_tick())
    assert pub.is_duplicate(_tick(ts_init=99, seq=5))  # a re-push: only our own fields differ
    assert not pub.is_duplicate(_tick(volume=11))
    assert not pub.is_duplicate(_tick(ts_event=2))
    assert not pub.is_duplicate(_tick(bids=(Level(3099.0, 2),)))
    assert pub.duplicates.get("ctp") == 1
    assert [pub.next_seq("ctp"), pub.next_seq("ctp"), pub.next_seq("futu")] == [1, 2, 1]


def test_registry_refcounts() -> None:
    reg = Registry()
    rb = Instrument("ctp", "SHFE", "rb2601")
    assert reg.add(rb, "a") == (1, True)
    assert reg.add(rb, "a") == (1, False)  # idempotent per requester
    assert reg.add(rb, "b") == (2, False)
    assert reg.remove(rb, "x") == (2, False)
    assert reg.remove(rb, "a") == (1, False)
    assert reg.remove(rb, "b") == (0, True)
    assert rb not in reg
    # Leased references lapse at their expiry; a renewal moves it; an unleased one never lapses.
    assert reg.add(rb, "a", expires_at=10.0) == (1, True)
    reg.add(rb, "b", expires_at=20.0)
    reg.add(rb, "static")
    assert reg.lapsed(9.9) == [] and reg.lapsed(10.0) == [(rb, "a")]
    reg.add(rb, "a", expires_at=30.0)
    assert reg.lapsed(25.0) == [(rb, "b")] and reg.lapsed(1e12) == [(rb, "a"), (rb, "b")]
    assert Instrument.parse("futu.US.BRK.B") == Instrument("futu", "US", "BRK.B")


def test_backoff_grows_with_jitter() -> None:
    b = Backoff(0.5, 4.0, rng=random.Random(3))
    delays = [b.next() for _ in range(6)]
    for got, nominal in zip(delays, [0.5, 1, 2, 4, 4, 4], strict=True):
        assert nominal * 0.8 <= got <= nominal * 1.2
    assert len(set(delays)) == 6  # jittered
    b.reset()
    assert b.next() <= 0.6


def test_ctp_day_rules() -> None:
    # DCE night: ActionDay holds the trading day (Monday) on a Friday 21:30 push; the calendar day is
    # taken from our clock instead.
    friday_2130 = beijing_ns("20251121", "21:30:00", 0)
    ts = ctp_map.event_time("DCE", "20251124", "21:30:00", 500, friday_2130 + 200_000_000)
    assert ts == friday_2130 + 500_000_000
    # SHFE: ActionDay is trusted; past midnight it is Saturday's date.
    sat = ctp_map.event_time("SHFE", "20251122", "00:30:00", 0, friday_2130)
    assert sat == beijing_ns("20251122", "00:30:00", 0)
    # CZCE night: TradingDay is the calendar day there, the login's trading day wins.
    assert ctp_map.trading_day("CZCE", "20251121", "20251124") == "20251124"
    assert ctp_map.trading_day("SHFE", "20251124", "20251124") == "20251124"
    assert ctp_map.price(1.7976931348623157e308) is None and ctp_map.price(3100.0) == 3100.0
    assert ctp_map.average_price("SHFE", 31000.0, 10) == 3100.0
    assert ctp_map.average_price("CZCE", 4700.0, 5) == 4700.0
