"""Every method with the seed's request bodies, over HTTP, against the simulated market's state."""

from __future__ import annotations

import datetime as dt
import itertools

from fmz_harness import Edge

from fmz_edge.protocol import num_str
from tradebus.schemas.market import Bar

REQUESTER = "fmz_edge"  # the unnamed instance's md.ctl requester (tradebus.md_lease.requester_name)

RB = "rb2601.SHFE_CNY"
TENCENT = "00700.HK_HKD"

# The seed's literal request bodies, method → params, as the docker sends them.
SEED = {
    "ticker": {"symbol": "ETH_USDT"},
    "depth": {"limit": "30", "symbol": "ETH_USDT"},
    "trades": {"symbol": "eth_usdt"},
    "records": {"limit": "500", "period": "60", "symbol": "ETH_USDT"},
    "accounts": {},
    "assets": {},
    "trade": {"amount": "0.1", "price": "1000", "symbol": "BTC_USDT", "type": "buy"},
    "orders": {"symbol": "ETH_USDT"},
    "order": {"id": "ETH-USDT,123456", "symbol": "ETH_USDT"},
    "historyorders": {"limit": 0, "since": 0, "symbol": "ETH_USDT"},
    "cancel": {"id": "ETH-USDT,123456", "symbol": "ETH_USDT"},
    "__api_/api/v5/trade/orders-pending": {"instId": "ETH-USDT", "instType": "SPOT"},
}


async def test_the_seeds_literal_requests_get_exact_shapes(edge: Edge) -> None:
    """Crypto symbols are not ours: each method answers a clean error (or, without a symbol, data)."""
    for method, params in SEED.items():
        answer = await edge.call("/ctp", edge.alice, method, params)
        if method in ("accounts", "assets"):
            assert set(answer) == {"data", "raw"}
            assert answer["data"] == [{"currency": "CNY", "free": "1000000", "frozen": "0"}]
        else:
            assert set(answer) == {"error"}, (method, answer)
            assert isinstance(answer["error"], str) and answer["error"]
    assert not any(type(c).__name__ in ("SubmitOrder", "CancelOrder") for c in edge.peer.commands)


async def test_ticker(edge: Edge) -> None:
    tick = await edge.peer.publish_tick("SHFE", "rb2601")
    answer = await edge.call("/ctp", edge.alice, "ticker", {"symbol": RB})
    assert answer["data"] == {"symbol": RB, "buy": num_str(tick.bids[0].price), "sell": num_str(tick.asks[0].price),
                              "high": num_str(tick.high), "low": num_str(tick.low), "open": num_str(tick.open),
                              "last": num_str(tick.last), "vol": str(tick.volume), "time": str(tick.ts_event // 10**6)}
    assert all(isinstance(v, str) for v in answer["data"].values())
    assert answer["raw"]["type"] == "Tick" and answer["raw"]["seq"] == tick.seq
    # The instrument is now held at md_ingest, under the edge's stable requester name.
    assert [(s.exchange, s.symbol, s.requester) for s in edge.peer.subscriptions] == [("SHFE", "rb2601", REQUESTER)]
    # Lower-case, as the docker may send it, is the same instrument.
    again = await edge.call("/ctp", edge.alice, "ticker", {"symbol": RB.lower()})
    assert again["data"]["symbol"] == RB


async def test_ticker_waits_for_the_first_tick_of_a_new_subscription(edge: Edge) -> None:
    unknown = await edge.call("/ctp", edge.alice, "ticker", {"symbol": "zz2601.SHFE_CNY"})
    assert "unknown instrument" in unknown["error"]
    nothing = await edge.call("/ctp", edge.alice, "ticker", {"symbol": "au2602.SHFE_CNY"})
    assert "no market data" in nothing["error"]


async def test_depth(edge: Edge) -> None:
    tick = await edge.peer.publish_tick("SHFE", "rb2601")
    answer = await edge.call("/ctp", edge.alice, "depth", {"limit": "30", "symbol": RB})
    data = answer["data"]
    assert data["time"] == tick.ts_event // 10**6
    assert data["asks"] == [[level.price, level.qty] for level in tick.asks]
    assert data["bids"] == [[level.price, level.qty] for level in tick.bids]
    assert len((await edge.call("/ctp", edge.alice, "depth", {"limit": "2", "symbol": RB}))["data"]["bids"]) == 2


async def test_trades_from_recent_ticks(edge: Edge) -> None:
    ticks = [await edge.peer.publish_tick("SHFE", "rb2601") for _ in range(40)]
    expected = [(b.last, b.volume - a.volume) for a, b in itertools.pairwise(ticks) if b.volume > a.volume]
    assert expected, "the simulated market printed no trade in 40 steps"
    answer = await edge.call("/ctp", edge.alice, "trades", {"symbol": "rb2601.shfe_cny"})
    rows = answer["data"]
    assert [(r["price"], r["amount"]) for r in reversed(rows)] == expected  # newest first
    assert all(set(r) == {"id", "time", "price", "amount", "type"} and r["type"] in ("buy", "sell") for r in rows)
    assert [r["time"] for r in rows] == sorted((r["time"] for r in rows), reverse=True)


async def test_records_from_minute_bars(edge: Edge) -> None:
    shanghai = dt.timezone(dt.timedelta(hours=8))
    t0 = dt.datetime(2025, 11, 20, 9, 0, tzinfo=shanghai)
    for i in range(130):  # 09:00 … 11:09 — three hour buckets
        start = int((t0 + dt.timedelta(minutes=i)).timestamp()) * 10**9
        await edge.peer.publish_bar(Bar(venue="ctp", exchange="SHFE", symbol="rb2601", interval="1m",
                                        start_ns=start, end_ns=start + 60 * 10**9, open=3000 + i, high=3005 + i,
                                        low=2995 + i, close=3001 + i, volume=1, turnover=0.0))
    answer = await edge.call("/ctp", edge.alice, "records", {"limit": "500", "period": "60", "symbol": RB})
    h9 = int(t0.timestamp())
    assert answer["data"] == [
        [h9 + 7200, 3120, 3134, 3115, 3130, 10],
        [h9 + 3600, 3060, 3124, 3055, 3120, 60],
        [h9, 3000, 3064, 2995, 3060, 60],
    ]
    five = await edge.call("/ctp", edge.alice, "records", {"limit": "2", "period": "5", "symbol": RB})
    assert five["data"] == [[h9 + 125 * 60, 3125, 3134, 3120, 3130, 5], [h9 + 120 * 60, 3120, 3129, 3115, 3125, 5]]


async def test_order_lifecycle_on_ctp(edge: Edge) -> None:
    tick = await edge.peer.publish_tick("SHFE", "rb2601")
    low = tick.bids[0].price - 20  # below the book: rests
    placed = await edge.call("/ctp", edge.alice, "trade", {"amount": "1", "price": str(low), "symbol": RB,
                                                           "type": "buy"})
    order_id = placed["data"]["id"]
    assert order_id.startswith(RB + ",fmz-")
    submitted = edge.peer.commands[-1]
    assert type(submitted).__name__ == "SubmitOrder" and submitted.user == "alice" and submitted.offset == "open"

    one = await edge.call("/ctp", edge.alice, "order", {"id": order_id, "symbol": RB})
    assert one["data"] == {"id": order_id, "symbol": RB, "amount": 1, "price": low, "deal_amount": 0,
                           "avg_price": 0, "type": "buy", "status": "pending"}
    open_orders = await edge.call("/ctp", edge.alice, "orders", {"symbol": RB})
    assert open_orders["data"] == [{**one["data"], "avg_price": "0"}]  # a string here, as in the seed

    cancelled = await edge.call("/ctp", edge.alice, "cancel", {"id": order_id, "symbol": RB})
    assert cancelled["data"] is True
    assert (await edge.call("/ctp", edge.alice, "order", {"id": order_id}))["data"]["status"] == "canceled"
    assert (await edge.call("/ctp", edge.alice, "orders", {"symbol": RB}))["data"] == []
    again = await edge.call("/ctp", edge.alice, "cancel", {"id": order_id, "symbol": RB})
    assert "already cancelled" in again["error"]

    ask = tick.asks[0]
    filled = await edge.call("/ctp", edge.alice, "trade", {"amount": "1", "price": str(ask.price), "symbol": RB,
                                                           "type": "buy"})
    fill_id = filled["data"]["id"]
    done = await edge.call("/ctp", edge.alice, "order", {"id": fill_id, "symbol": RB})
    assert done["data"]["status"] == "filled" and done["data"]["deal_amount"] == 1
    assert done["data"]["avg_price"] == ask.price
    history = await edge.call("/ctp", edge.alice, "historyorders", {"limit": 0, "since": 0, "symbol": RB})
    assert [(h["id"], h["status"]) for h in history["data"]] == [(fill_id, "filled"), (order_id, "canceled")]
    positions = await edge.call("/ctp", edge.alice, "positions", {"symbol": RB})
    assert [(p["symbol"], p["type"], p["amount"], p["price"]) for p in positions["data"]] == [
        (RB, "long", 1, ask.price)]
    close = await edge.call("/ctp", edge.alice, "trade", {"amount": "1", "price": str(tick.bids[0].price - 50),
                                                          "symbol": RB, "type": "closebuy"})
    assert "insufficient_position" in close["error"]  # SHFE: "close" is yesterday's position; this is today's
    assert edge.peer.commands[-1].offset == "close" and edge.peer.commands[-1].side == "sell"
    close = await edge.call("/ctp", edge.alice, "trade", {"amount": "1", "price": str(tick.bids[0].price - 50),
                                                          "symbol": RB, "type": "closebuy_today"})
    assert "id" in close["data"]
    assert edge.peer.commands[-1].offset == "close_today"
    accounts = await edge.call("/ctp", edge.alice, "accounts", {})
    funds = edge.peer.market.funds("000001")
    assert accounts["data"] == [{"currency": "CNY", "free": num_str(funds.available),
                                 "frozen": num_str(funds.frozen_cash)}]


async def test_stock_trade_and_assets_on_futu(edge: Edge) -> None:
    tick = await edge.peer.publish_tick("HK", "00700")
    placed = await edge.call("/futu", edge.alice, "trade", {"amount": "100", "price": str(tick.asks[0].price),
                                                            "symbol": TENCENT, "type": "buy"})
    order_id = placed["data"]["id"]
    assert (await edge.call("/futu", edge.alice, "order", {"id": order_id}))["data"]["status"] == "filled"
    assets = await edge.call("/futu", edge.alice, "assets", {})
    funds = edge.peer.market.funds("281756457")
    assert assets["data"] == [{"currency": "HKD", "free": num_str(funds.available), "frozen": "0"},
                              {"currency": "00700.HK", "free": "100", "frozen": "0"}]
    refused = await edge.call("/futu", edge.alice, "trade", {"amount": "1", "price": "1", "symbol": TENCENT,
                                                             "type": "closebuy"})
    assert "params.type" in refused["error"]
    lot = await edge.call("/futu", edge.alice, "trade", {"amount": "50", "price": str(tick.asks[0].price),
                                                         "symbol": TENCENT, "type": "buy"})
    assert "refused" in lot["error"] and "bad_lot_size" in lot["error"]


async def test_api_pass_through(edge: Edge) -> None:
    await edge.peer.publish_tick("SHFE", "rb2601")
    instruments = await edge.call("/ctp", edge.alice, "__api_/instruments", {"symbol": RB})
    assert [(i["exchange"], i["symbol"]) for i in instruments["data"]] == [("SHFE", "rb2601")]
    funds = await edge.call("/ctp", edge.alice, "__api_/funds", {}, headers="Http-Method: GET\r\n")
    assert funds["data"][0]["type"] == "AccountSnapshot"
    tick = await edge.call("/ctp", edge.alice, "__api_/tick", {"symbol": RB})
    assert tick["data"]["symbol"] == "rb2601"
    assert "read-only" in (await edge.call("/ctp", edge.alice, "__api_/funds", {},
                                           headers="Http-Method: POST\r\n"))["error"]
    assert "unknown exchange.IO path" in (await edge.call("/ctp", edge.alice, "__api_/nope", {}))["error"]
    for path in ("/orders", "/trades", "/positions"):
        assert isinstance((await edge.call("/ctp", edge.alice, "__api_" + path, {}))["data"], list)


async def test_futures_methods_without_meaning_say_so(edge: Edge) -> None:
    for method in ("marginlevel", "fundings"):
        answer = await edge.call("/ctp", edge.alice, method, {"symbol": RB})
        assert "not supported" in answer["error"]


async def test_one_user_cannot_see_or_cancel_anothers_orders(edge: Edge) -> None:
    tick = await edge.peer.publish_tick("SHFE", "rb2601")
    placed = await edge.call("/ctp", edge.alice, "trade", {"amount": "1", "price": str(tick.bids[0].price - 20),
                                                           "symbol": RB, "type": "buy"})
    order_id = placed["data"]["id"]
    assert (await edge.call("/ctp", edge.bob, "orders", {"symbol": RB}))["data"] == []
    assert (await edge.call("/ctp", edge.bob, "historyorders", {"symbol": RB}))["data"] == []
    assert "not found" in (await edge.call("/ctp", edge.bob, "order", {"id": order_id}))["error"]
    assert "not found" in (await edge.call("/ctp", edge.bob, "cancel", {"id": order_id}))["error"]
    assert "not allowed" in (await edge.call("/ctp/000001", edge.bob, "orders", {"symbol": RB}))["error"]
    assert "not allowed" in (await edge.call("/ctp/000001", edge.bob, "cancel", {"id": order_id}))["error"]
    assert not any(type(c).__name__ == "CancelOrder" for c in edge.peer.commands)
    assert (await edge.call("/ctp", edge.alice, "order", {"id": order_id}))["data"]["status"] == "pending"
