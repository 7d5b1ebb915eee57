"""Quote path with the unmodified futu-api: subscriptions and quota, pulls, pushes to handlers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import api_conftest
import pytest
from api_conftest import ServerThread, futu, handler, new_market, quote_ctx

from opend_sim.api.server import NOT_LOGGED_IN
from tradebus.sim import hk_tick_size

api_opend = api_conftest.api_opend  # fixtures shared through the module, not conftest.py
api_opend_manual = api_conftest.api_opend_manual
MAX_STEPS = 200


def step_until(srv: ServerThread, h: Any) -> Any:
    """Step the manual market until the handler has received something (trading is random)."""
    for _ in range(MAX_STEPS):
        if not h.got.empty():
            break
        srv.step()
    return h.next_ok()


@pytest.fixture
def ctx(api_opend: ServerThread) -> Iterator[Any]:
    c = quote_ctx(api_opend.port)
    yield c
    c.close()


@pytest.fixture
def mctx(api_opend_manual: ServerThread) -> Iterator[Any]:
    c = quote_ctx(api_opend_manual.port)
    yield c
    c.close()


def test_market_clock_pushes_reach_stock_quote_handler(ctx: Any) -> None:
    h = handler(futu.StockQuoteHandlerBase)
    ctx.set_handler(h)
    assert ctx.subscribe(["HK.00700"], [futu.SubType.QUOTE])[0] == futu.RET_OK
    first = h.next_ok()  # is_first_push: the current snapshot at once
    later = h.next_ok()  # then the market clock's pushes
    for df in (first, later):
        assert df["code"].tolist() == ["HK.00700"]
        assert df["name"][0] == "TENCENT"
        assert len(df["data_date"][0]) == 10 and len(df["data_time"][0]) == 8
    assert later["last_price"][0] > 0


def test_quote_push_carries_the_markets_quote(api_opend_manual: ServerThread, mctx: Any) -> None:
    h = handler(futu.StockQuoteHandlerBase)
    mctx.set_handler(h)
    assert mctx.subscribe(["US.NVDA"], [futu.SubType.QUOTE], is_first_push=False)[0] == futu.RET_OK
    api_opend_manual.step()
    df = h.next_ok()
    q = api_opend_manual.call(lambda: api_opend_manual.market.quote("US", "NVDA"))
    assert df["last_price"][0] == q.last and df["volume"][0] == q.volume
    # US times are New York local time
    from opend_sim.api import timefmt

    assert f'{df["data_date"][0]} {df["data_time"][0]}' == timefmt.seconds("US", q.ts_ns)


def test_get_stock_quote_matches_market(api_opend_manual: ServerThread, mctx: Any) -> None:
    assert mctx.subscribe(["HK.00700", "US.AAPL"], [futu.SubType.QUOTE], subscribe_push=False)[0] == futu.RET_OK
    api_opend_manual.step(5)
    ret, df = mctx.get_stock_quote(["HK.00700", "US.AAPL"])
    assert ret == futu.RET_OK, df
    for row in df.itertuples():
        market, symbol = row.code.split(".", 1)
        q = api_opend_manual.call(lambda m=market, s=symbol: api_opend_manual.market.quote(m, s))
        assert (row.last_price, row.prev_close_price, row.volume) == (q.last, q.prev_close, q.volume)
        assert row.turnover == pytest.approx(q.turnover)
    hk = df[df["code"] == "HK.00700"].iloc[0]
    assert hk["price_spread"] == hk_tick_size(hk["last_price"])
    us = df[df["code"] == "US.AAPL"].iloc[0]
    assert us["price_spread"] == 0.01


def test_pull_needs_subscription_and_known_code(mctx: Any) -> None:
    ret, msg = mctx.get_stock_quote(["HK.00700"])
    assert ret == futu.RET_ERROR and "subscribe" in msg.lower()
    ret, msg = mctx.subscribe(["HK.99999"], [futu.SubType.QUOTE])
    assert (ret, msg) == (futu.RET_ERROR, "Unknown stock HK.99999")
    ret, msg = mctx.subscribe(["HK.00700"], [futu.SubType.K_120M])
    assert ret == futu.RET_ERROR and "K_120M" in msg
    ret, msg = mctx.subscribe(["US.AAPL"], [futu.SubType.BROKER])  # HKEX's broker queue only
    assert ret == futu.RET_ERROR and "BROKER" in msg


def test_order_book_ticker_kline_pushes_and_pulls(api_opend_manual: ServerThread, mctx: Any) -> None:
    ob, tk, kl = (handler(b) for b in (futu.OrderBookHandlerBase, futu.TickerHandlerBase, futu.CurKlineHandlerBase))
    for h in (ob, tk, kl):
        mctx.set_handler(h)
    subs = [futu.SubType.ORDER_BOOK, futu.SubType.TICKER, futu.SubType.K_1M]
    assert mctx.subscribe(["HK.00700"], subs, is_first_push=False)[0] == futu.RET_OK

    book = step_until(api_opend_manual, ob)
    assert book["code"] == "HK.00700" and book["Bid"] and book["Ask"]
    assert book["Bid"][0][0] < book["Ask"][0][0]
    bar = step_until(api_opend_manual, kl)
    assert bar["code"][0] == "HK.00700" and bar["k_type"][0] == futu.KLType.K_1M
    assert bar["time_key"][0].endswith(":00")
    ticks = step_until(api_opend_manual, tk)
    assert ticks["code"][0] == "HK.00700" and ticks["volume"].min() > 0
    assert set(ticks["ticker_direction"]) <= {"BUY", "SELL", "NEUTRAL"}

    q = api_opend_manual.call(lambda: api_opend_manual.market.quote("HK", "00700"))
    ret, pulled = mctx.get_order_book("HK.00700", num=5)
    assert ret == futu.RET_OK
    assert [(lvl[0], lvl[1]) for lvl in pulled["Bid"]] == list(q.bids[:5])
    assert [(lvl[0], lvl[1]) for lvl in pulled["Ask"]] == list(q.asks[:5])
    ret, kdf = mctx.get_cur_kline("HK.00700", 10, futu.KLType.K_1M)
    assert ret == futu.RET_OK and len(kdf) >= 1
    assert kdf["close"].iloc[-1] == q.last
    ret, tdf = mctx.get_rt_ticker("HK.00700", 5)
    assert ret == futu.RET_OK and 1 <= len(tdf) <= 5
    assert list(tdf["sequence"]) == sorted(tdf["sequence"])
    assert tdf["price"].iloc[-1] == q.last  # the last price is the last print


def test_kline_volume_adds_up_to_day_volume(api_opend_manual: ServerThread, mctx: Any) -> None:
    assert mctx.subscribe(["US.TSLA"], [futu.SubType.K_1M, futu.SubType.K_DAY], subscribe_push=False)[0] == 0
    api_opend_manual.step(30)
    q = api_opend_manual.call(lambda: api_opend_manual.market.quote("US", "TSLA"))
    ret, minute = mctx.get_cur_kline("US.TSLA", 1000, futu.KLType.K_1M)
    assert ret == futu.RET_OK
    ret, day = mctx.get_cur_kline("US.TSLA", 1, futu.KLType.K_DAY)
    assert ret == futu.RET_OK
    assert int(minute["volume"].sum()) == q.volume == int(day["volume"].iloc[-1])
    assert day["close"].iloc[-1] == q.last


def test_quota_is_per_type_per_security_and_shared(opend_small_quota: ServerThread) -> None:
    a = quote_ctx(opend_small_quota.port)
    b = quote_ctx(opend_small_quota.port)
    try:
        assert a.subscribe(["HK.00700", "US.AAPL"], [futu.SubType.QUOTE], subscribe_push=False)[0] == futu.RET_OK
        # the same (security, type) on another connection costs no extra quota
        assert b.subscribe(["HK.00700"], [futu.SubType.QUOTE], subscribe_push=False)[0] == futu.RET_OK
        assert b.subscribe(["HK.00700"], [futu.SubType.TICKER], subscribe_push=False)[0] == futu.RET_OK
        ret, msg = b.subscribe(["HK.09988"], [futu.SubType.QUOTE], subscribe_push=False)
        assert ret == futu.RET_ERROR and "quota" in msg.lower()
        ret, info = b.query_subscription()
        assert ret == futu.RET_OK and info["total_used"] == 3 and info["remain"] == 0
        assert info["own_used"] == 2
        # one minute must pass before a subscription can be cancelled
        ret, msg = b.unsubscribe(["HK.00700"], [futu.SubType.TICKER])
        assert ret == futu.RET_ERROR and "one minute" in msg
    finally:
        a.close()
        b.close()


def test_unsubscribe_frees_quota(mctx: Any) -> None:
    assert mctx.subscribe(["US.TSLA"], [futu.SubType.QUOTE], subscribe_push=False)[0] == futu.RET_OK
    assert mctx.query_subscription()[1]["total_used"] == 1
    assert mctx.unsubscribe(["US.TSLA"], [futu.SubType.QUOTE])[0] == futu.RET_OK
    assert mctx.query_subscription()[1]["total_used"] == 0
    assert mctx.get_stock_quote(["US.TSLA"])[0] == futu.RET_ERROR


def test_pushes_only_to_registered_connections(api_opend_manual: ServerThread, mctx: Any) -> None:
    other = quote_ctx(api_opend_manual.port)
    try:
        h_push, h_quiet = handler(futu.StockQuoteHandlerBase), handler(futu.StockQuoteHandlerBase)
        mctx.set_handler(h_push)
        other.set_handler(h_quiet)
        assert mctx.subscribe(["HK.03690"], [futu.SubType.QUOTE], is_first_push=False)[0] == futu.RET_OK
        assert other.subscribe(["HK.03690"], [futu.SubType.QUOTE], subscribe_push=False)[0] == futu.RET_OK
        api_opend_manual.step(3)
        h_push.next_ok()
        # a round trip on the quiet connection: any push sent to it before the reply would be queued by now
        assert other.get_stock_quote(["HK.03690"])[0] == futu.RET_OK
        assert h_quiet.got.empty()
    finally:
        other.close()


def test_logged_out_opend_refuses_quote_calls(api_opend_manual: ServerThread, mctx: Any) -> None:
    assert mctx.subscribe(["HK.00700"], [futu.SubType.QUOTE], subscribe_push=False)[0] == futu.RET_OK
    api_opend_manual.login.set(False)
    assert mctx.get_stock_quote(["HK.00700"]) == (futu.RET_ERROR, NOT_LOGGED_IN)
    ret, state = mctx.get_global_state()
    assert ret == futu.RET_OK and state["qot_logined"] is False


@pytest.fixture
def opend_small_quota() -> Iterator[ServerThread]:
    srv = ServerThread(new_market, tick_interval=0, sub_quota=3, unsub_min_seconds=60.0)
    srv.start()
    yield srv
    srv.shutdown()


def test_json_mode_client_gets_protobuf_replies_and_pushes(api_opend_manual: ServerThread) -> None:
    futu.SysConfig.set_proto_fmt(futu.ProtoFMT.Json)
    try:
        ctx = quote_ctx(api_opend_manual.port)
    finally:
        futu.SysConfig.set_proto_fmt(futu.ProtoFMT.Protobuf)
    try:
        h = handler(futu.StockQuoteHandlerBase)
        ctx.set_handler(h)
        futu.SysConfig.set_proto_fmt(futu.ProtoFMT.Json)  # requests are packed with the format set now
        try:
            assert ctx.subscribe(["HK.00700"], [futu.SubType.QUOTE])[0] == futu.RET_OK
            assert h.next_ok()["code"][0] == "HK.00700"
            ret, df = ctx.get_stock_quote(["HK.00700"])
        finally:
            futu.SysConfig.set_proto_fmt(futu.ProtoFMT.Protobuf)
        assert ret == futu.RET_OK and df["code"][0] == "HK.00700"
    finally:
        ctx.close()
