"""futu-api's market-data calls beyond quotes, unmodified, against opend_sim: history K-lines, static
info, trading days, market state, A-shares, the longer K-line / RT / broker subscriptions, plates and
capital flow. The market's clock is fixed (Friday 2026-12-04, 10:30 in Hong Kong), so nothing here
depends on when or where the test runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
from api_conftest import ServerThread, futu, handler, quote_ctx

from tradebus.sim import SimMarket, a_share_instruments, default_instruments

NOW_NS = int(datetime(2026, 12, 4, 2, 30, tzinfo=UTC).timestamp() * 1e9)  # 10:30 HK, 21:30 (Thu) New York


def fixed_market(seed: int = 11) -> SimMarket:
    return SimMarket(default_instruments() + a_share_instruments(), seed=seed, clock=lambda: NOW_NS)


def start_server(seed: int = 11) -> ServerThread:
    srv = ServerThread(lambda: fixed_market(seed), tick_interval=0, unsub_min_seconds=0.0)
    srv.start()
    return srv


@pytest.fixture
def srv() -> Iterator[ServerThread]:
    server = start_server()
    try:
        yield server
    finally:
        server.shutdown()


@pytest.fixture
def ctx(srv: ServerThread) -> Iterator[Any]:
    c = quote_ctx(srv.port)
    yield c
    c.close()


def live(srv: ServerThread, code: str) -> Any:
    market, symbol = code.split(".")
    return srv.call(lambda: srv.market.quote(market, symbol))


def history(ctx: Any, code: str, start: str, end: str, ktype: Any, max_count: int | None = 1000) -> pd.DataFrame:
    ret, data, _key = ctx.request_history_kline(code, start=start, end=end, ktype=ktype, max_count=max_count)
    assert ret == futu.RET_OK, data
    return data


# -- history K-lines -------------------------------------------------------------------------------

def test_day_history_ends_at_the_live_walk_on_trading_days_only(srv: ServerThread, ctx: Any) -> None:
    srv.step(20)
    days = history(ctx, "HK.00700", "2026-09-01", "2026-12-04", futu.KLType.K_DAY)
    q = live(srv, "HK.00700")
    assert days["time_key"].iloc[-1] == "2026-12-04 00:00:00"
    assert days["close"].iloc[-1] == q.last and days["open"].iloc[-1] == q.open
    assert days["close"].iloc[-2] == q.prev_close  # the day before closes where the live walk started
    assert days["last_close"].iloc[1:].tolist() == days["close"].iloc[:-1].tolist()
    stamps = pd.to_datetime(days["time_key"])
    assert (stamps.dt.day_of_week < 5).all()
    assert "2026-10-01 00:00:00" not in set(days["time_key"])  # HK National Day
    assert (days["high"] >= days[["open", "close"]].max(axis=1)).all()
    assert (days["low"] <= days[["open", "close"]].min(axis=1)).all()
    assert (days["volume"] > 0).all() and (days["volume"] % 100 == 0).all()  # whole board lots


def test_history_is_deterministic_by_seed(srv: ServerThread, ctx: Any) -> None:
    first = history(ctx, "US.AAPL", "2026-06-01", "2026-12-03", futu.KLType.K_DAY)
    twin, other = start_server(11), start_server(12)
    try:
        c2, c3 = quote_ctx(twin.port), quote_ctx(other.port)
        try:
            again = history(c2, "US.AAPL", "2026-06-01", "2026-12-03", futu.KLType.K_DAY)
            different = history(c3, "US.AAPL", "2026-06-01", "2026-12-03", futu.KLType.K_DAY)
        finally:
            c2.close()
            c3.close()
    finally:
        twin.shutdown()
        other.shutdown()
    pd.testing.assert_frame_equal(first, again)
    assert not first["close"].iloc[:-1].equals(different["close"].iloc[:-1])


def test_intraday_bars_add_up_to_the_day_bar(ctx: Any) -> None:
    day = history(ctx, "HK.09988", "2026-12-02", "2026-12-02", futu.KLType.K_DAY).iloc[0]
    for ktype, count in ((futu.KLType.K_1M, 330), (futu.KLType.K_5M, 66), (futu.KLType.K_60M, 6)):
        bars = history(ctx, "HK.09988", "2026-12-02", "2026-12-02", ktype)
        assert len(bars) == count, ktype
        assert bars["open"].iloc[0] == day["open"] and bars["close"].iloc[-1] == day["close"]
        assert bars["high"].max() == day["high"] and bars["low"].min() == day["low"]
        assert bars["volume"].sum() == day["volume"]
    minutes = history(ctx, "HK.09988", "2026-12-02", "2026-12-02", futu.KLType.K_1M)
    assert minutes["time_key"].iloc[0] == "2026-12-02 09:31:00"
    assert minutes["time_key"].iloc[-1] == "2026-12-02 16:00:00"
    assert "2026-12-02 12:30:00" not in set(minutes["time_key"])  # lunch break


def test_week_month_quarter_year_group_the_days(srv: ServerThread, ctx: Any) -> None:
    srv.step(5)
    days = history(ctx, "SH.600519", "2026-01-01", "2026-12-04", futu.KLType.K_DAY)
    q = live(srv, "SH.600519")
    for ktype, key in ((futu.KLType.K_WEEK, lambda d: d.isocalendar()[:2]), (futu.KLType.K_MON, lambda d: d.month),
                       (futu.KLType.K_QUARTER, lambda d: (d.month - 1) // 3), (futu.KLType.K_YEAR, lambda d: 0)):
        bars = history(ctx, "SH.600519", "2026-01-01", "2026-12-04", ktype)
        groups = days.groupby(pd.to_datetime(days["time_key"]).map(key), sort=False)
        assert len(bars) == groups.ngroups, ktype
        assert bars["volume"].tolist() == groups["volume"].sum().tolist()
        assert bars["high"].tolist() == groups["high"].max().tolist()
        assert bars["time_key"].tolist() == groups["time_key"].first().tolist()  # labelled by the first day
        assert bars["close"].iloc[-1] == q.last


def test_pages_join_up_to_the_whole(ctx: Any) -> None:
    whole = history(ctx, "US.TSLA", "2026-11-02", "2026-11-06", futu.KLType.K_15M)
    assert len(whole) == 5 * 26
    ret, first, key = ctx.request_history_kline("US.TSLA", start="2026-11-02", end="2026-11-06",
                                                ktype=futu.KLType.K_15M, max_count=50)
    assert ret == futu.RET_OK and len(first) == 50 and key is not None
    pages = [first]
    while key is not None:
        ret, page, key = ctx.request_history_kline("US.TSLA", start="2026-11-02", end="2026-11-06",
                                                   ktype=futu.KLType.K_15M, max_count=50, page_req_key=key)
        assert ret == futu.RET_OK, page
        pages.append(page)
    pd.testing.assert_frame_equal(pd.concat(pages, ignore_index=True), whole)


def test_history_refuses_bad_input(ctx: Any) -> None:
    ret, msg, _ = ctx.request_history_kline("HK.99999", start="2026-11-02", end="2026-11-06")
    assert ret == futu.RET_ERROR and "Unknown stock" in msg


# -- static info, calendars, market state ----------------------------------------------------------

def test_stock_basicinfo_from_the_instrument_table(ctx: Any) -> None:
    ret, hk = ctx.get_stock_basicinfo(futu.Market.HK, futu.SecurityType.STOCK)
    assert ret == futu.RET_OK, hk
    assert set(hk["code"]) == {"HK.00700", "HK.09988", "HK.03690"}
    assert set(hk["lot_size"]) == {100} and set(hk["stock_type"]) == {"STOCK"}
    ret, picked = ctx.get_stock_basicinfo(futu.Market.HK, code_list=["SH.600519", "SZ.000001", "US.NVDA"])
    assert ret == futu.RET_OK, picked
    assert picked["code"].tolist() == ["SH.600519", "SZ.000001", "US.NVDA"]
    assert picked["name"].tolist()[0] == "贵州茅台" and picked["lot_size"].tolist() == [100, 100, 1]
    assert picked["exchange_type"].tolist() == ["CN_SH", "CN_SZ", "US_NASDAQ"]
    ret, none = ctx.get_stock_basicinfo(futu.Market.HK, futu.SecurityType.WARRANT)
    assert ret == futu.RET_OK and none.empty


@pytest.mark.parametrize(("market", "holidays", "start", "end"), [
    ("HK", {"2026-10-01", "2026-10-19"}, "2026-09-28", "2026-10-23"),
    ("US", {"2026-11-26"}, "2026-11-23", "2026-11-27"),
    ("CN", {"2026-10-01", "2026-10-02", "2026-10-05", "2026-10-06", "2026-10-07"}, "2026-09-28", "2026-10-09"),
])
def test_trading_days_are_weekdays_minus_holidays(ctx: Any, market: str, holidays: set[str], start: str,
                                                  end: str) -> None:
    ret, days = ctx.request_trading_days(getattr(futu.TradeDateMarket, market), start=start, end=end)
    assert ret == futu.RET_OK, days
    weekdays = {d.strftime("%Y-%m-%d") for d in pd.bdate_range(start, end)}
    assert [d["time"] for d in days] == sorted(weekdays - holidays)
    assert {d["trade_date_type"] for d in days} == {"WHOLE"}


def test_trading_days_by_code_follow_its_market(ctx: Any) -> None:
    ret, days = ctx.request_trading_days(start="2026-10-01", end="2026-10-09", code="SZ.000001")
    assert ret == futu.RET_OK, days
    assert [d["time"] for d in days] == ["2026-10-08", "2026-10-09"]


def test_market_state_at_the_markets_clock(ctx: Any) -> None:
    ret, states = ctx.get_market_state(["HK.00700", "SH.600519", "US.AAPL"])
    assert ret == futu.RET_OK, states
    assert states["market_state"].tolist() == ["MORNING", "MORNING", "CLOSED"]
    assert states["stock_name"].tolist()[0] == "TENCENT"
    ret, glob = ctx.get_global_state()  # the same states in the connection-level summary
    assert ret == futu.RET_OK, glob
    assert (glob["market_hk"], glob["market_sh"], glob["market_sz"], glob["market_us"]) == \
        ("MORNING", "MORNING", "MORNING", "CLOSED")


# -- A-shares ------------------------------------------------------------------------------------

def test_a_shares_quote_within_their_daily_limits(srv: ServerThread, ctx: Any) -> None:
    assert ctx.subscribe(["SH.600519", "SZ.300750"], [futu.SubType.QUOTE], subscribe_push=False)[0] == futu.RET_OK
    srv.step(50)
    ret, quotes = ctx.get_stock_quote(["SH.600519", "SZ.300750"])
    assert ret == futu.RET_OK, quotes
    for code, limit in (("SH.600519", 0.10), ("SZ.300750", 0.20)):
        row = quotes[quotes["code"] == code].iloc[0]
        q = live(srv, code)
        assert row["last_price"] == q.last and row["data_time"].startswith("10:30")  # Shanghai time
        assert q.upper_limit == pytest.approx(q.prev_close * (1 + limit), abs=0.01)
        assert q.lower_limit <= q.last <= q.upper_limit
    ret, snap = ctx.get_market_snapshot(["SZ.000001"])
    assert ret == futu.RET_OK and snap["lot_size"].iloc[0] == 100


# -- the longer K-lines, RT data and the broker queue --------------------------------------------------

def test_longer_kline_rt_and_broker_subscriptions(srv: ServerThread, ctx: Any) -> None:
    kl, rt, broker = (handler(b) for b in (futu.CurKlineHandlerBase, futu.RTDataHandlerBase,
                                           futu.BrokerHandlerBase))
    for h in (kl, rt, broker):
        ctx.set_handler(h)
    subs = [futu.SubType.K_WEEK, futu.SubType.K_MON, futu.SubType.K_QUARTER, futu.SubType.K_YEAR,
            futu.SubType.RT_DATA, futu.SubType.BROKER]
    ret, msg = ctx.subscribe(["HK.00700"], subs, is_first_push=False)
    assert ret == futu.RET_OK, msg
    srv.step(30)
    q = live(srv, "HK.00700")
    for ktype in (futu.KLType.K_WEEK, futu.KLType.K_MON, futu.KLType.K_QUARTER, futu.KLType.K_YEAR):
        ret, bars = ctx.get_cur_kline("HK.00700", 3, ktype)
        assert ret == futu.RET_OK and len(bars) == 3, bars
        assert bars["close"].iloc[-1] == q.last
    ret, weeks = ctx.get_cur_kline("HK.00700", 1, futu.KLType.K_WEEK)
    assert weeks["time_key"].iloc[-1] == "2026-11-30 00:00:00"  # this week's Monday
    ret, rt_data = ctx.get_rt_data("HK.00700")
    assert ret == futu.RET_OK, rt_data
    assert rt_data["cur_price"].iloc[-1] == q.last and rt_data["last_close"].iloc[-1] == q.prev_close
    assert rt_data["volume"].sum() == q.volume and rt_data["opened_mins"].iloc[-1] == 10 * 60 + 31
    ret, bids, asks = ctx.get_broker_queue("HK.00700")
    assert ret == futu.RET_OK, bids
    assert not bids.empty and not asks.empty
    assert set(bids["bid_broker_pos"]) <= {1, 2, 3, 4, 5} and bids["bid_broker_name"].str.startswith("Sim Broker").all()
    kline_push = kl.next_ok()
    assert kline_push["k_type"].iloc[0] in {futu.KLType.K_WEEK, futu.KLType.K_MON, futu.KLType.K_QUARTER,
                                            futu.KLType.K_YEAR}
    assert rt.next_ok()["code"].iloc[0] == "HK.00700"
    assert broker.next_ok()[0] == "HK.00700"  # (code, [bids, asks]) for this handler


# -- plates and capital flow ------------------------------------------------------------------------

def test_plates_and_owner_plates(ctx: Any) -> None:
    ret, plates = ctx.get_plate_list(futu.Market.HK, futu.Plate.ALL)
    assert ret == futu.RET_OK, plates
    assert plates["code"].tolist() == ["HK.BK1999"]
    ret, stocks = ctx.get_plate_stock("HK.BK1999")
    assert ret == futu.RET_OK, stocks
    assert stocks["code"].tolist() == ["HK.00700", "HK.09988", "HK.03690"]
    ret, cn = ctx.get_plate_list(futu.Market.SZ, futu.Plate.INDUSTRY)
    assert ret == futu.RET_OK and len(cn) == 4
    ret, owners = ctx.get_owner_plate(["SZ.300750", "US.NVDA"])
    assert ret == futu.RET_OK, owners
    assert owners["plate_code"].tolist() == ["SH.BK0996", "US.BK2999"]
    ret, msg = ctx.get_plate_stock("HK.BK0000")
    assert ret == futu.RET_ERROR and "Unknown plate" in msg


def test_capital_flow_intraday_and_daily(srv: ServerThread, ctx: Any) -> None:
    srv.step(30)
    ret, intraday = ctx.get_capital_flow("HK.00700")
    assert ret == futu.RET_OK, intraday
    assert len(intraday) >= 1
    row = intraday.iloc[-1]
    assert row["main_in_flow"] == pytest.approx(row["super_in_flow"] + row["big_in_flow"], abs=0.02)
    ret, daily = ctx.get_capital_flow("HK.00700", period_type=futu.PeriodType.DAY, start="2026-11-02",
                                      end="2026-11-06")
    assert ret == futu.RET_OK, daily
    assert daily["capital_flow_item_time"].tolist() == [f"2026-11-0{d}" for d in range(2, 7)]
