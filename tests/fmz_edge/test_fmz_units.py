"""Pure parts of fmz_edge: symbols, nonces, the envelope, number formats, market shapes, bars."""

from __future__ import annotations

import datetime as dt

import pytest

from fmz_edge import market
from fmz_edge.nonce import NonceError, NonceGuard, to_ns
from fmz_edge.orders import fmz_status, trade_type
from fmz_edge.protocol import FmzError, num, num_str, param_int, parse_envelope
from fmz_edge.symbols import (
    SymbolError,
    format_order_id,
    format_symbol,
    parse_order_id,
    parse_symbol,
)
from tradebus.schemas.market import Bar, Level, Tick
from tradebus.schemas.orders import Offset, OrderStatus, OrderType, OrderView, Side, TimeInForce

# --- symbols -------------------------------------------------------------------------------------------

ROUND_TRIPS = [
    ("ctp", "SHFE", "rb2601", "rb2601.SHFE_CNY"),
    ("ctp", "DCE", "m2601", "m2601.DCE_CNY"),
    ("ctp", "CZCE", "SR505", "SR505.CZCE_CNY"),
    ("ctp", "CFFEX", "IF2506", "IF2506.CFFEX_CNY"),
    ("ctp", "SHFE", "rb2601C3000", "rb2601C3000.SHFE_CNY"),
    ("ctp", "DCE", "m2505-C-3000", "m2505-C-3000.DCE_CNY"),
    ("futu", "HK", "00700", "00700.HK_HKD"),
    ("futu", "US", "AAPL", "AAPL.US_USD"),
    ("futu", "US", "BRK.B", "BRK.B.US_USD"),
    ("futu", "SH", "600519", "600519.SH_CNY"),
]


@pytest.mark.parametrize(("venue", "exchange", "symbol", "fmz"), ROUND_TRIPS)
def test_symbols_round_trip(venue: str, exchange: str, symbol: str, fmz: str) -> None:
    assert format_symbol(exchange, symbol) == fmz
    assert parse_symbol(fmz, venue) == (exchange, symbol)
    # The docker may change case at will: the venue's own case comes back.
    assert parse_symbol(fmz.upper(), venue) == (exchange, symbol)
    assert parse_symbol(fmz.lower(), venue) == (exchange, symbol)


@pytest.mark.parametrize(("text", "venue", "why"), [
    ("ETH_USDT", "ctp", "no exchange"),
    ("USDT", "ctp", "expected"),
    ("", "ctp", "non-empty"),
    ("rb2601.SHFE_USD", "ctp", "quotes in CNY"),
    ("rb2601.NYSE_CNY", "ctp", "unknown exchange"),
    ("00700.HK_HKD", "ctp", "not traded on venue ctp"),
    ("rb2601.SHFE_CNY", "futu", "not traded on venue futu"),
    ("rb 26/01.SHFE_CNY", "ctp", "bad instrument code"),
])
def test_bad_symbols_say_why(text: str, venue: str, why: str) -> None:
    with pytest.raises(SymbolError, match=why):
        parse_symbol(text, venue)


def test_order_ids() -> None:
    text = format_order_id("HK", "00700", "fmz-20251121-010203-0a0b0c0d")
    assert text == "00700.HK_HKD,fmz-20251121-010203-0a0b0c0d"
    assert parse_order_id(text, "futu") == (("HK", "00700"), "fmz-20251121-010203-0a0b0c0d")
    for bad in ("ETH-USDT,123456", "no-comma", "00700.HK_HKD,", 17):
        with pytest.raises(SymbolError):
            parse_order_id(bad, "futu")


# --- nonces --------------------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def test_nonce_increasing_within_window_and_no_replay() -> None:
    clock = Clock(1_730_275_031_000_000_000)
    guard = NonceGuard(60, 2, clock)
    clock.now += 1_000_000_000
    first = clock.now
    guard.check("k", first)
    with pytest.raises(NonceError, match="replay"):
        guard.check("k", first)  # an exact replay
    guard.check("other-key", first)  # per key
    guard.check("k", first + 10)
    guard.check("k", first + 5)  # slightly out of order (exchange.Go): allowed once
    with pytest.raises(NonceError, match="replay"):
        guard.check("k", first + 5)
    clock.now += 10_000_000_000
    guard.check("k", clock.now)
    with pytest.raises(NonceError, match="replay"):
        guard.check("k", first + 20)  # far behind the highest accepted
    with pytest.raises(NonceError, match="away from server time"):
        guard.check("k", clock.now + 61_000_000_000)
    with pytest.raises(NonceError, match="away from server time"):
        guard.check("k", clock.now - 61_000_000_000)


def test_nonce_strict_mode() -> None:
    clock = Clock(1_000_000_000_000_000_000)
    guard = NonceGuard(60, 0, clock)
    clock.now += 1_000_000_000
    guard.check("k", clock.now)
    with pytest.raises(NonceError):
        guard.check("k", clock.now - 1)


def test_nonce_from_before_a_restart_is_refused_even_inside_the_window() -> None:
    clock = Clock(1_730_275_031_000_000_000)
    before = NonceGuard(60, 2, clock)
    clock.now += 1_000_000
    captured = clock.now
    before.check("k", captured)  # accepted by the process that then restarts
    clock.now += 5_000_000_000  # restarted 5 s later: well inside the window
    restarted = NonceGuard(60, 2, clock)
    with pytest.raises(NonceError, match="predates the server's start"):
        restarted.check("k", captured)
    clock.now += 1
    restarted.check("k", clock.now)


def test_nonce_units() -> None:
    assert to_ns(1730275031047) == 1730275031047000000
    assert to_ns(1730275031047002) == 1730275031047002000
    assert to_ns(1730275031047002000) == 1730275031047002000


# --- envelope and numbers --------------------------------------------------------------------------------


def test_envelope_checks() -> None:
    good = (b'{"access_key":"a","method":"ticker","nonce":1730275031047002000,'
            b'"params":{"symbol":"LTC_USDT"},"secret_key":"s"}')
    envelope = parse_envelope(good)
    assert envelope.method == "ticker" and envelope.params == {"symbol": "LTC_USDT"}
    assert "s" not in repr(envelope).replace("access_key", "").replace("nonce", "")
    cases = {
        b"not json": "not valid JSON",
        b"[1,2]": "must be a JSON object",
        b'{"access_key":"a"}': "missing required parameters: secret_key, method, params, nonce",
        b'{"access_key":"a","secret_key":"s","method":"x","params":"p","nonce":1}': "params must be a JSON object",
        b'{"access_key":"a","secret_key":"s","method":"x","params":{},"nonce":"1"}': "nonce must be an integer",
        b'{"access_key":"a","secret_key":"s","method":"x","params":{},"nonce":true}': "nonce must be an integer",
        b'{"access_key":1,"secret_key":"s","method":"x","params":{},"nonce":1}': "access_key must be a string",
        b'{"access_key":"a","secret_key":"s","method":"","params":{},"nonce":1}': "method must not be empty",
    }
    for body, message in cases.items():
        with pytest.raises(FmzError, match=message):
            parse_envelope(body)


def test_numbers_as_the_seed_writes_them() -> None:
    assert num_str(2955.0) == "2955"
    assert num_str(2922.18) == "2922.18"
    assert num_str(0.2482982056277609) == "0.248298205628"
    assert num_str(None) == "0"
    assert num_str(249400) == "249400"
    assert num(3120.0) == 3120 and isinstance(num(3120.0), int)
    assert num(0.5) == 0.5
    assert param_int({"limit": "500"}, "limit") == 500
    assert param_int({"limit": 0}, "limit") == 0
    for bad in ({"limit": "x"}, {"limit": True}, {"limit": [1]}, {"limit": -1}):
        with pytest.raises(FmzError):
            param_int(bad, "limit")


# --- market shapes ---------------------------------------------------------------------------------------


def _tick(seq: int, volume: int, last: float, bid: float = 3119.0, ask: float = 3120.0) -> Tick:
    ts = 1_763_700_000_000_000_000 + seq * 500_000_000
    return Tick(venue="ctp", exchange="SHFE", symbol="rb2601", seq=seq, ts_event=ts, ts_init=ts, last=last,
                open=3100.0, high=3130.0, low=3090.5, volume=volume, bids=(Level(bid, 12), Level(bid - 1, 3)),
                asks=(Level(ask, 5), Level(ask + 1, 7)))


def test_ticker_and_depth_shapes() -> None:
    tick = _tick(1, 249400, 3120.0)
    assert market.ticker("rb2601.SHFE_CNY", tick) == {
        "symbol": "rb2601.SHFE_CNY", "buy": "3119", "sell": "3120", "high": "3130", "low": "3090.5",
        "open": "3100", "last": "3120", "vol": "249400", "time": str(tick.ts_event // 1_000_000)}
    assert market.depth(tick, 0) == {"time": tick.ts_event // 1_000_000, "asks": [[3120, 5], [3121, 7]],
                                     "bids": [[3119, 12], [3118, 3]]}
    assert market.depth(tick, 1)["asks"] == [[3120, 5]]


def test_trades_from_volume_increases() -> None:
    ticks = [_tick(1, 100, 3120.0), _tick(2, 100, 3120.0), _tick(3, 104, 3120.0), _tick(4, 105, 3119.0),
             _tick(5, 3, 3121.0)]  # the last one: a new trading day
    rows = market.trades(ticks, 0)
    assert [(r["id"], r["price"], r["amount"], r["type"]) for r in rows] == [
        (3, 3120, 4, "buy"), (4, 3119, 1, "sell"), (5, 3121, 3, "buy")]
    assert market.trades(ticks, 1) == rows[-1:]


def _bar(minute: dt.datetime, o: float, h: float, lo: float, c: float, v: int, day: str | None = None) -> Bar:
    start = int(minute.timestamp()) * 1_000_000_000
    return Bar(venue="ctp", exchange="SHFE", symbol="rb2601", interval="1m", start_ns=start,
               end_ns=start + 60_000_000_000, open=o, high=h, low=lo, close=c, volume=v, turnover=0.0,
               trading_day=day)


def test_records_aggregate_in_exchange_time() -> None:
    t0 = dt.datetime(2025, 11, 20, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    bars = [_bar(t0 + dt.timedelta(minutes=i), 100 + i, 105 + i, 95 + i, 101 + i, 10 + i) for i in range(7)]
    rows = market.aggregate(bars, 300, "SHFE", 500)
    start = int(t0.timestamp())
    assert rows == [[start + 300, 105, 111, 100, 107, 15 + 16],  # newest first, as the seed lists them
                    [start, 100, 109, 95, 105, 10 + 11 + 12 + 13 + 14]]
    assert market.aggregate(bars, 300, "SHFE", 1) == rows[:1]
    # An hour bar starts on the exchange's hour, a day bar at the trading day's midnight in Shanghai.
    assert market.aggregate(bars, 3600, "SHFE", 10)[0][0] == start
    night = _bar(dt.datetime(2025, 11, 19, 21, 0, tzinfo=t0.tzinfo), 1, 2, 0.5, 1.5, 3, day="20251120")
    day_bar = _bar(t0, 1.5, 4, 1, 3, 4, day="20251120")
    assert market.aggregate([night, day_bar], 86400, "SHFE", 10) == [[start - 9 * 3600, 1, 4, 0.5, 3, 7]]
    with pytest.raises(FmzError, match="whole number of minutes"):
        market.aggregate(bars, 90, "SHFE", 10)


# --- orders ----------------------------------------------------------------------------------------------


def test_status_and_trade_types() -> None:
    view = OrderView(venue="ctp", account="1", client_order_id="c", venue_order_id=None, exchange="SHFE",
                     symbol="rb2601", side=Side.BUY, order_type=OrderType.LIMIT, offset=Offset.OPEN,
                     time_in_force=TimeInForce.DAY, qty=2, price=3000.0, status=OrderStatus.CANCELLED, filled_qty=1)
    assert fmz_status(view) == "partial-canceled"
    assert trade_type("closebuy", futures=True) == (Side.SELL, Offset.CLOSE)
    assert trade_type("BUY", futures=False) == (Side.BUY, Offset.NONE)
    with pytest.raises(FmzError, match=r"params\.type"):
        trade_type("closebuy", futures=False)
