"""The bar builder against a hand-computed series: a reconnect gap, the lunch break, a session-end
snapshot, a new trading day and a venue reset of the cumulative volume."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from md_ingest.bars import BarBuilder
from md_ingest.sessions import bar_start, in_session
from tradebus.schemas.market import Bar, Tick

BJ = timezone(timedelta(hours=8))
GRACE = 2_000_000_000


def ns(hms: str, day: str = "2025-11-24") -> int:
    moment = datetime.fromisoformat(f"{day}T{hms}").replace(tzinfo=BJ)
    return int(moment.timestamp() * 1_000_000) * 1000


def tick(hms: str, last: float | None, volume: int, turnover: float, day: str = "20251124",
         oi: int = 500) -> Tick:
    return Tick(venue="ctp", exchange="SHFE", symbol="rb2601", seq=0, ts_event=ns(hms), ts_init=ns(hms),
                trading_day=day, last=last, volume=volume, turnover=turnover, open_interest=oi)


def ohlcv(bar: Bar) -> tuple[str, float, float, float, float, int, float, int]:
    start = datetime.fromtimestamp(bar.start_ns / 1e9, BJ).strftime("%H:%M")
    return start, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.turnover, bar.tick_count


def test_bars_across_reconnect_and_lunch_break() -> None:
    b = BarBuilder("ctp", "SHFE", "rb2601")
    out: list[Bar] = []
    out += b.on_tick(tick("11:28:30", 3100.0, 1000, 31_000_000.0))  # first tick: baseline only
    out += b.on_tick(tick("11:28:50", 3102.0, 1010, 31_310_200.0))  # +10 lots
    out += b.on_tick(tick("11:28:55", None, 1010, 31_310_200.0))  # no last price: ignored
    assert out == []
    out += b.on_tick(tick("11:29:10", 3101.0, 1015, 31_465_250.0))  # closes 11:28
    # -- connection lost for 25 s: trades happen meanwhile; the first tick after it carries them --
    out += b.on_tick(tick("11:29:40", 3099.0, 1030, 31_930_100.0))  # +15
    out += b.on_tick(tick("11:30:00", 3098.0, 1032, 31_992_060.0))  # session end snapshot: still 11:29
    assert b.flush(ns("11:30:01"), GRACE) is None  # inside the grace period
    closed = b.flush(ns("11:30:02.500"), GRACE)
    assert closed is not None
    out.append(closed)
    assert b.flush(ns("13:29:59"), GRACE) is None  # lunch break: no empty bars
    out += b.on_tick(tick("13:30:00.500", 3105.0, 1040, 32_240_460.0))  # +8 after the break
    out += b.on_tick(tick("13:30:30", 3106.0, 1041, 32_271_520.0))
    out += b.on_tick(tick("13:31:00", 3106.0, 1041, 32_271_520.0))  # closes 13:30
    assert [ohlcv(x) for x in out] == [
        ("11:28", 3100.0, 3102.0, 3100.0, 3102.0, 10, 310_200.0, 2),
        ("11:29", 3101.0, 3101.0, 3098.0, 3098.0, 22, 681_860.0, 3),
        ("13:30", 3105.0, 3106.0, 3105.0, 3106.0, 9, 279_460.0, 2),
    ]
    assert all(x.end_ns - x.start_ns == 60_000_000_000 for x in out)
    assert out[1].trading_day == "20251124" and out[1].open_interest == 500


def test_new_trading_day_and_venue_reset() -> None:
    b = BarBuilder("ctp", "SHFE", "rb2601")
    b.on_tick(tick("14:59:30", 3100.0, 5000, 1.0))
    # Night session of the next trading day: the cumulative count restarts from zero.
    closed = b.on_tick(tick("21:00:10", 3110.0, 7, 217_700.0, day="20251125"))
    assert [ohlcv(x)[:6] for x in closed] == [("14:59", 3100.0, 3100.0, 3100.0, 3100.0, 0)]
    b.on_tick(tick("21:00:20", 3111.0, 9, 279_920.0, day="20251125"))
    # A venue reset (cumulative goes down within the day) rebases without inventing volume.
    b.on_tick(tick("21:00:30", 3111.0, 4, 124_440.0, day="20251125"))
    b.on_tick(tick("21:00:40", 3112.0, 6, 186_680.0, day="20251125"))
    bar = b.flush(ns("21:01:03"), GRACE)
    assert bar is not None
    assert ohlcv(bar)[:6] == ("21:00", 3110.0, 3112.0, 3110.0, 3112.0, 7 + 2 + 0 + 2)
    # A late tick for a minute already published goes into the next bar, never reopens the old one.
    b.on_tick(tick("21:00:50", 3113.0, 8, 248_920.0, day="20251125"))
    late = b.flush(ns("21:02:03"), GRACE)
    assert late is not None and ohlcv(late)[0] == "21:01" and late.volume == 2


def test_session_rules() -> None:
    assert bar_start("SHFE", ns("11:30:00")) == ns("11:29:00")  # the closing snapshot
    assert bar_start("SHFE", ns("11:30:01")) == ns("11:30:00")
    assert bar_start("SHFE", ns("10:00:00")) == ns("10:00:00")  # not a session end
    assert in_session("SHFE", ns("10:00:00")) and not in_session("SHFE", ns("12:00:00"))
    assert in_session("SHFE", ns("01:30:00", "2025-11-25"))  # night session past midnight
    assert not in_session("SHFE", ns("10:00:00", "2025-11-23"))  # Sunday
