"""fmz_edge through the real chain (issue #8): ctp_sim / opend_sim → md_ingest / td_exec → NATS → fmz_edge.

One ``tradebus up`` for the module. Every answer is checked against a source that does not go through
fmz_edge: ticks and order events on the bus, bars stored in stream MD, and the venue simulators asked
directly (our own CTP session on ctp_sim, futu-api on opend_sim). Requests use the seed's literal
bodies with our symbols. Each test leaves the accounts as it found them (no open order, no position),
so the tests do not depend on their order.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from fmz_chain_truth import BusWatch, Fmz, stored
from fmz_harness import Key, http
from up_harness import UpRun, finish_opend_login, run_up, wait_healthy
from venue_truth import CtpTruth, FutuTruth, operator_bus

from fmz_edge.protocol import num, num_str
from opend_sim.api.accounts import build_accounts
from opend_sim.api.mapping import TRD_ENV_REAL, TRD_ENV_SIMULATE
from supervisor.registry import SIM_LOGIN_ACCOUNT
from tradebus.bus.flush import flush_in_order
from tradebus.schemas.market import Bar, Tick
from tradebus.sim.instruments import hk_tick_size
from tradebus.users import UserStore

RB, M, TENCENT = "rb2601.SHFE_CNY", "m2601.DCE_CNY", "00700.HK_HKD"
RB_TICKS, M_TICKS, HK_TICKS = "md.tick.ctp.SHFE.rb2601", "md.tick.ctp.DCE.m2601", "md.tick.futu.HK.00700"
HK_REAL = next(a for a in build_accounts(SIM_LOGIN_ACCOUNT) if a.market == "HK" and a.env == TRD_ENV_REAL)
US_PAPER = next(a for a in build_accounts(SIM_LOGIN_ACCOUNT) if a.market == "US" and a.env == TRD_ENV_SIMULATE)
FUTU = f"/futu/{HK_REAL.acc_id}"

# The venues as the tests walk them: FMZ path, an instrument md_ingest streams under `tradebus up`, its
# tick subject.
VENUES = {"ctp": ("/ctp", RB, RB_TICKS), "futu": (FUTU, TENCENT, HK_TICKS)}

# The seed's literal request bodies, method → params, with our symbol in place of ETH_USDT (the seed
# sends `trades` lower-cased: "eth_usdt"). `trade`/`order`/`cancel` get their price / id per test.
SEED_PARAMS: dict[str, Callable[[str], dict[str, Any]]] = {
    "ticker": lambda s: {"symbol": s},
    "depth": lambda s: {"limit": "30", "symbol": s},
    "trades": lambda s: {"symbol": s.lower()},
    "records": lambda s: {"limit": "500", "period": "60", "symbol": s},
    "accounts": lambda s: {},
    "assets": lambda s: {},
    "orders": lambda s: {"symbol": s},
    "historyorders": lambda s: {"limit": 0, "since": 0, "symbol": s},
}
ORDER_KEYS = {"id", "symbol", "amount", "price", "deal_amount", "avg_price", "type", "status"}


def seed_trade(symbol: str, amount: int, price: float, kind: str = "buy") -> dict[str, str]:
    return {"amount": str(amount), "price": num_str(price), "symbol": symbol, "type": kind}


@dataclass
class Chain:
    run: UpRun
    demo: Fmz
    ctp: CtpTruth
    futu: FutuTruth


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    tmp = tmp_path_factory.mktemp("fmz_chain")
    with run_up(tmp) as run:
        finish_opend_login(run)
        wait_healthy(run)
        _password, access, secret = run.demo_credentials()
        assert ("futu", str(HK_REAL.acc_id)) in run.demo_accounts()
        ctp = CtpTruth(run.ports["ctp_td"], tmp / "ctp_flow")
        try:
            yield Chain(run, Fmz(run.ports["fmz"], Key(access, secret)), ctp, FutuTruth(run.ports["opend"], "HK"))
        finally:
            ctp.close()


@pytest.fixture
async def watch(chain: Chain) -> AsyncIterator[BusWatch]:
    bus = await operator_bus(chain.run)
    try:
        yield await BusWatch(bus).start()
    finally:
        await bus.close()


async def in_thread(call: Callable[..., Any], *args: Any) -> Any:
    """The venue truth clients block (CTP flow control, futu-api): keep the bus watch running meanwhile."""
    return await asyncio.to_thread(call, *args)


async def settled(truth: Callable[[], Awaitable[Any]], answer: Callable[[], Awaitable[Any]],
                  what: str) -> tuple[Any, Any]:
    """(truth, fmz answer) read while the truth did not move: truth, answer, truth again, equal truths.

    A futures account's available cash follows the mark price; reading it on both sides of the answer
    and retrying when it moved makes an exact comparison honest.
    """
    for _ in range(5):
        before = await truth()
        got = await answer()
        if await truth() == before:
            return before, got
    raise AssertionError(f"{what} kept moving across five reads")


async def latest_tick(watch: BusWatch, subject: str) -> Tick:
    tick: Tick = await watch.until(lambda: watch.latest(subject), f"a tick on {subject}")
    return tick


def order_id_part(fmz_id: str) -> str:
    return fmz_id.rpartition(",")[2]


async def until_event(watch: BusWatch, fmz_id: str, event: str) -> None:
    coid = order_id_part(fmz_id)
    await watch.until(lambda: event in watch.events_of(coid), f"{event} of {coid} on td.evt", timeout=15)


async def until_status(fmz: Fmz, path: str, fmz_id: str, symbol: str, status: str) -> dict[str, Any]:
    """The `order` answer once it shows ``status``.

    td_exec stores an event, then applies it ("store then apply"), so for a few milliseconds after an
    event is on the bus a query can still show the state before it: poll, to a deadline.
    """
    deadline = time.monotonic() + 5
    while True:
        one: dict[str, Any] = await fmz.data(path, "order", {"id": fmz_id, "symbol": symbol})
        if one["status"] == status or time.monotonic() > deadline:
            assert one["status"] == status, one
            return one
        await asyncio.sleep(0.05)  # another process's state, polled to a deadline


def fill_prices(watch: BusWatch, fmz_id: str) -> list[float]:
    coid = order_id_part(fmz_id)
    return [e["fill_price"] for s, e in watch.order_events if s.endswith("." + coid) and e["type"] == "OrderFilled"]


# --- market data -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("venue", VENUES)
async def test_ticker_and_depth_are_the_latest_tick_on_the_bus(chain: Chain, watch: BusWatch, venue: str) -> None:
    path, symbol, subject = VENUES[venue]
    seen_before = (await latest_tick(watch, subject)).seq
    answer = await chain.demo.call(path, "ticker", SEED_PARAMS["ticker"](symbol))
    # The answer is built from a tick that is on the bus, and not older than the newest one we had seen.
    tick = await watch.until(lambda: watch.ticks[subject].get(answer["raw"]["seq"]), "the answered tick")
    assert tick.seq >= seen_before
    assert answer["data"] == {
        "symbol": symbol, "buy": num_str(tick.bids[0].price), "sell": num_str(tick.asks[0].price),
        "high": num_str(tick.high), "low": num_str(tick.low), "open": num_str(tick.open), "last": num_str(tick.last),
        "vol": str(tick.volume), "time": str(tick.ts_event // 10**6)}
    assert all(isinstance(v, str) for v in answer["data"].values())  # the seed's ticker is all strings
    assert float(answer["data"]["sell"]) > float(answer["data"]["buy"]) > 0

    seen_before = tick.seq
    answer = await chain.demo.call(path, "depth", SEED_PARAMS["depth"](symbol))
    tick = await watch.until(lambda: watch.ticks[subject].get(answer["raw"]["seq"]), "the answered tick")
    assert tick.seq >= seen_before
    assert answer["data"] == {"time": tick.ts_event // 10**6,
                              "asks": [[num(lv.price), lv.qty] for lv in tick.asks],
                              "bids": [[num(lv.price), lv.qty] for lv in tick.bids]}
    assert len(tick.asks) == len(tick.bids) == 5  # SHFE and HK books carry five levels: "30" cuts nothing
    two = await chain.demo.data(path, "depth", {"limit": "2", "symbol": symbol})
    assert len(two["asks"]) == len(two["bids"]) == 2


@pytest.mark.parametrize("venue", VENUES)
async def test_trades_are_the_volume_steps_of_the_stored_ticks(chain: Chain, watch: BusWatch, venue: str) -> None:
    path, symbol, subject = VENUES[venue]
    rows = await chain.demo.data(path, "trades", SEED_PARAMS["trades"](symbol))
    assert rows, "no trade printed since tradebus up started"
    assert all(set(r) == {"id", "time", "price", "amount", "type"} for r in rows)
    # Recompute from stream MD up to the newest tick the answer used (later ticks may have arrived).
    ticks = [t for t in await stored_ticks(watch, subject) if t.seq <= rows[0]["id"]]
    expected = [{"id": b.seq, "time": b.ts_event // 10**6, "price": num(b.last), "amount": b.volume - a.volume}
                for a, b in itertools.pairwise(ticks) if b.volume > a.volume][::-1][:200]
    assert [{k: r[k] for k in ("id", "time", "price", "amount")} for r in rows] == expected
    before = {t.seq: prev for prev, t in itertools.pairwise(ticks)}
    for row in rows:  # the aggressor by the quote rule against the book before the trade
        book = before[row["id"]]
        if row["price"] >= book.asks[0].price:
            assert row["type"] == "buy", row
        elif row["price"] <= book.bids[0].price:
            assert row["type"] == "sell", row
        else:
            assert row["type"] in ("buy", "sell")


async def stored_ticks(watch: BusWatch, subject: str) -> list[Tick]:
    return [t for t in await stored(watch.bus, subject) if isinstance(t, Tick)]


@pytest.mark.parametrize(("path", "asked", "subject"), [
    ("/ctp", "sr601.czce_cny", "md.tick.ctp.CZCE.SR601"),  # CZCE: product letters upper case
    (FUTU, "03690.hk_hkd", "md.tick.futu.HK.03690"),
])
async def test_ticker_of_an_instrument_nobody_streams_subscribes_it_at_md_ingest(
        chain: Chain, watch: BusWatch, path: str, asked: str, subject: str) -> None:
    assert await stored(watch.bus, subject) == []  # not among the instruments `tradebus up` subscribes
    deadline = time.monotonic() + 15
    while "data" not in (answer := await chain.demo.call(path, "ticker", {"symbol": asked})):
        # The first ask subscribes and waits md_wait_s for a tick; FMZ strategies retry, and so do we.
        assert "no market data" in answer["error"] and time.monotonic() < deadline, answer
    tick = await watch.until(lambda: watch.ticks[subject].get(answer["raw"]["seq"]), "the answered tick")
    exchange, symbol = subject.split(".")[3:]
    assert answer["data"]["symbol"] == f"{symbol}.{exchange}_{asked.rpartition('_')[2].upper()}"
    assert answer["data"]["last"] == num_str(tick.last) and answer["data"]["time"] == str(tick.ts_event // 10**6)


# --- accounts ------------------------------------------------------------------------------------------------


def ctp_funds_row(account: dict[str, Any]) -> dict[str, str]:
    frozen = sum(account[k] for k in ("FrozenMargin", "FrozenCash", "FrozenCommission"))
    return {"currency": account["CurrencyID"], "free": num_str(account["Available"]), "frozen": num_str(frozen)}


def futu_rows(funds: dict[str, Any], positions: list[dict[str, Any]]) -> list[dict[str, str]]:
    rows = [{"currency": funds["currency"], "free": num_str(funds["avl_withdrawal_cash"]),
             "frozen": num_str(funds["frozen_cash"])}]
    for p in positions:
        if int(p["qty"]):
            market, code = p["code"].split(".", 1)
            rows.append({"currency": f"{code}.{market}", "free": num_str(int(p["can_sell_qty"])),
                         "frozen": num_str(int(p["qty"]) - int(p["can_sell_qty"]))})
    return rows


async def futu_truth(chain: Chain) -> list[dict[str, str]]:
    funds = await in_thread(chain.futu.funds, HK_REAL.acc_id, "REAL")
    positions = await in_thread(chain.futu.positions, HK_REAL.acc_id, "REAL")
    return futu_rows(funds, positions)


@pytest.mark.parametrize("method", ["accounts", "assets"])
async def test_accounts_and_assets_are_the_venues_funds(chain: Chain, method: str) -> None:
    async def ctp_truth() -> list[dict[str, str]]:
        return [ctp_funds_row(await in_thread(chain.ctp.trading_account))]

    truth, got = await settled(ctp_truth, lambda: chain.demo.data("/ctp", method, SEED_PARAMS[method]("")),
                               "ctp_sim's trading account")
    assert got == truth
    assert all(isinstance(v, str) for row in got for v in row.values())  # strings, as in the seed
    truth, got = await settled(lambda: futu_truth(chain), lambda: chain.demo.data(FUTU, method, {}),
                               "opend_sim's account")
    assert got == truth and got[0]["currency"] == "HKD"


# --- orders --------------------------------------------------------------------------------------------------


async def ctp_long(chain: Chain, instrument: str) -> tuple[int, int]:
    """(position, today's position) of the long side at ctp_sim."""
    rows = [r for r in await in_thread(chain.ctp.positions, instrument) if r["PosiDirection"] == "2"]
    return sum(r["Position"] for r in rows), sum(r["TodayPosition"] for r in rows)


async def test_ctp_order_lifecycle(chain: Chain, watch: BusWatch) -> None:
    demo = chain.demo
    held_before = await ctp_long(chain, "rb2601")
    tick = await latest_tick(watch, RB_TICKS)

    # A marketable limit order: filled at the venue, visible with `order`, then in `historyorders`.
    placed = await demo.call("/ctp", "trade", seed_trade(RB, 1, tick.asks[0].price + 3))
    assert set(placed) == {"data", "raw"} and set(placed["data"]) == {"id"}, placed
    fill_id = placed["data"]["id"]
    assert fill_id.startswith(RB + ",fmz-")
    await until_event(watch, fill_id, "OrderFilled")
    (fill_price,) = fill_prices(watch, fill_id)
    one = await until_status(demo, "/ctp", fill_id, RB, "filled")
    assert one == {"id": fill_id, "symbol": RB, "amount": 1, "price": num(tick.asks[0].price + 3), "deal_amount": 1,
                   "avg_price": num(fill_price), "type": "buy", "status": "filled"}
    history = await demo.data("/ctp", "historyorders", SEED_PARAMS["historyorders"](RB))
    assert history[0] == one  # newest first
    assert fill_id not in [o["id"] for o in await demo.data("/ctp", "orders", SEED_PARAMS["orders"](RB))]

    # The position moved at the venue, and `positions` says what ctp_sim says.
    held = await ctp_long(chain, "rb2601")
    assert held == (held_before[0] + 1, held_before[1] + 1)
    (position,) = await demo.data("/ctp", "positions", {"symbol": RB})
    assert {k: position[k] for k in ("symbol", "type", "amount", "today_amount", "frozen_amount")} == {
        "symbol": RB, "type": "long", "amount": held[0], "today_amount": held[1], "frozen_amount": 0}
    assert all(isinstance(position[k], int | float) for k in ("price", "profit", "margin"))
    if held_before == (0, 0):
        assert position["price"] == num(fill_price)

    # A resting order far from the market: in `orders`, then cancelled and gone from it.
    low = tick.bids[0].price - 40
    rest_id = (await demo.data("/ctp", "trade", seed_trade(RB, 1, low)))["id"]
    await until_event(watch, rest_id, "OrderAccepted")
    await until_status(demo, "/ctp", rest_id, RB, "pending")
    resting = {"id": rest_id, "symbol": RB, "amount": 1, "price": num(low), "deal_amount": 0, "avg_price": "0",
               "type": "buy", "status": "pending"}
    assert resting in await demo.data("/ctp", "orders", SEED_PARAMS["orders"](RB))
    assert await demo.data("/ctp", "order", {"id": rest_id, "symbol": RB}) == {**resting, "avg_price": 0}
    assert await demo.data("/ctp", "cancel", {"id": rest_id, "symbol": RB}) is True
    await until_event(watch, rest_id, "OrderCancelled")
    await until_status(demo, "/ctp", rest_id, RB, "canceled")
    assert rest_id not in [o["id"] for o in await demo.data("/ctp", "orders", SEED_PARAMS["orders"](RB))]
    history = await demo.data("/ctp", "historyorders", SEED_PARAMS["historyorders"](RB))
    assert [(h["id"], h["status"]) for h in history[:2]] == [(rest_id, "canceled"), (fill_id, "filled")]
    assert [h["id"] for h in await demo.data("/ctp", "historyorders", {"limit": 1, "since": 0, "symbol": RB})] == [
        rest_id]
    rest_created_ms = (await demo.call("/ctp", "order", {"id": rest_id}))["raw"]["ts_created"] // 10**6
    since = await demo.data("/ctp", "historyorders", {"limit": 0, "since": rest_created_ms, "symbol": RB})
    assert [h["id"] for h in since] == [rest_id]  # `since` (ms) leaves out the older fill
    front, session, ref = (await demo.call("/ctp", "order", {"id": rest_id}))["raw"]["venue_order_id"].split(":")
    (venue_order,) = [o for o in await in_thread(chain.ctp.orders)
                      if (str(o["FrontID"]), str(o["SessionID"]), o["OrderRef"].strip()) == (front, session, ref)]
    assert venue_order["LimitPrice"] == low and venue_order["OrderStatus"] == "5"  # cancelled at ctp_sim
    again = await demo.call("/ctp", "cancel", {"id": rest_id, "symbol": RB})
    assert set(again) == {"error"} and "already cancelled" in again["error"]

    # FMZ's market order (price -1): SHFE does not take one, so the front refuses it after the id is out.
    market_id = (await demo.data("/ctp", "trade", {"amount": "1", "price": "-1", "symbol": RB, "type": "buy"}))["id"]
    refused = await until_status(demo, "/ctp", market_id, RB, "closed")
    assert refused["deal_amount"] == 0
    assert "不支持市价单" in (await demo.call("/ctp", "order", {"id": market_id}))["raw"]["reason"]

    # Close today's lot (SHFE): the position is back where it was.
    tick = await latest_tick(watch, RB_TICKS)
    close_id = (await demo.data("/ctp", "trade", seed_trade(RB, 1, tick.bids[0].price - 3, "closebuy_today")))["id"]
    await until_event(watch, close_id, "OrderFilled")
    assert await ctp_long(chain, "rb2601") == held_before


async def test_futu_order_lifecycle(chain: Chain, watch: BusWatch) -> None:
    demo = chain.demo
    tick = await latest_tick(watch, HK_TICKS)
    before = await futu_truth(chain)

    buy_price = tick.asks[1].price  # one level through the book: the lot fills whatever the top level holds
    placed = await demo.data(FUTU, "trade", seed_trade(TENCENT, 100, buy_price))
    buy_id = placed["id"]
    await until_event(watch, buy_id, "OrderFilled")
    one = await until_status(demo, FUTU, buy_id, TENCENT, "filled")
    assert one == {"id": buy_id, "symbol": TENCENT, "amount": 100, "price": num(buy_price), "deal_amount": 100,
                   "avg_price": num(fill_prices(watch, buy_id)[-1]), "type": "buy", "status": "filled"}
    assert (await demo.data(FUTU, "historyorders", SEED_PARAMS["historyorders"](TENCENT)))[0] == one
    # The holding is an asset named by the FMZ base, as opend_sim reports it.
    truth, got = await settled(lambda: futu_truth(chain), lambda: demo.data(FUTU, "assets", {}), "opend_sim")
    assert got == truth
    held = next(row for row in got if row["currency"] == "00700.HK")
    was = next((row for row in before if row["currency"] == "00700.HK"), {"free": "0"})
    assert int(held["free"]) == int(was["free"]) + 100

    # Resting far below the market (on the HK tick), cancelled.
    step = hk_tick_size(tick.bids[0].price * 0.9)
    low = round(tick.bids[0].price * 0.9 / step) * step
    rest_id = (await demo.data(FUTU, "trade", seed_trade(TENCENT, 100, low)))["id"]
    await until_event(watch, rest_id, "OrderAccepted")
    await until_status(demo, FUTU, rest_id, TENCENT, "pending")
    listed = await demo.data(FUTU, "orders", SEED_PARAMS["orders"](TENCENT))
    assert {"id": rest_id, "symbol": TENCENT, "amount": 100, "price": num(low), "deal_amount": 0, "avg_price": "0",
            "type": "buy", "status": "pending"} in listed
    venue_open = await in_thread(chain.futu.orders, HK_REAL.acc_id, "REAL")
    assert any(o["price"] == low and o["order_status"] == "SUBMITTED" for o in venue_open)
    assert await demo.data(FUTU, "cancel", {"id": rest_id, "symbol": TENCENT}) is True
    await until_event(watch, rest_id, "OrderCancelled")
    await until_status(demo, FUTU, rest_id, TENCENT, "canceled")
    assert rest_id not in [o["id"] for o in await demo.data(FUTU, "orders", SEED_PARAMS["orders"](TENCENT))]

    # Sell the lot back at market (FMZ's price -1): the account holds what it held before.
    market_sell = {"amount": "100", "price": "-1", "symbol": TENCENT, "type": "sell"}
    sell_id = (await demo.data(FUTU, "trade", market_sell))["id"]
    await until_event(watch, sell_id, "OrderFilled")
    assert (await until_status(demo, FUTU, sell_id, TENCENT, "filled"))["deal_amount"] == 100
    after = await futu_truth(chain)
    assert [r for r in after if r["currency"] != "HKD"] == [r for r in before if r["currency"] != "HKD"]


async def test_exchange_io_pass_through_is_the_bus_and_venue_state(chain: Chain, watch: BusWatch) -> None:
    demo = chain.demo
    # The seed's literal exchange.IO request names an OKX path: a clear error, not a guess.
    seed = await demo.call("/ctp", "__api_/api/v5/trade/orders-pending", {"instId": "ETH-USDT", "instType": "SPOT"})
    assert set(seed) == {"error"} and "unknown exchange.IO path" in seed["error"]

    async def ctp_available() -> float:
        return float((await in_thread(chain.ctp.trading_account))["Available"])

    available, funds = await settled(ctp_available, lambda: demo.data("/ctp", "__api_/funds", {}), "ctp_sim funds")
    assert [(f["type"], f["account"], f["available"]) for f in funds] == [("AccountSnapshot", "000001", available)]
    tick = await demo.data("/ctp", "__api_/tick", {"symbol": RB})
    on_bus = await watch.until(lambda: watch.ticks[RB_TICKS].get(tick["seq"]), "the answered tick")
    assert tick == {"type": "Tick", **json.loads(msgspec.json.encode(on_bus))}
    (info,) = await demo.data("/ctp", "__api_/instruments", {"symbol": RB})
    assert (info["type"], info["exchange"], info["symbol"]) == ("InstrumentInfo", "SHFE", "rb2601")
    assert isinstance(await demo.data(FUTU, "__api_/orders", {"open_only": "true"}), list)
    post = await demo.post("/ctp", demo.body("__api_/funds", {}), headers="Http-Method: POST\r\n")
    assert "read-only" in post["error"]


# --- refusals ------------------------------------------------------------------------------------------------


async def venue_orders(chain: Chain) -> tuple[int, int]:
    return (len(await in_thread(chain.ctp.orders)), len(await in_thread(chain.futu.orders, HK_REAL.acc_id, "REAL")))


async def test_bad_input_of_each_kind_gets_an_error_and_changes_nothing(chain: Chain, watch: BusWatch) -> None:
    demo = chain.demo
    good = seed_trade(RB, 1, 3000)
    venue_before = await venue_orders(chain)
    open_before = await demo.data("/ctp", "orders", {})
    cases: list[tuple[str, bytes, str]] = [
        ("/ctp", b"{not json", "not valid JSON"),
        ("/ctp", b'["trade"]', "must be a JSON object"),
        ("/ctp", json.dumps({"method": "trade", "params": good}).encode(),
         "missing required parameters: access_key, secret_key, nonce"),
        ("/ctp", demo.body("trade", good, nonce=None, secret_key=None), "secret_key must be a string"),
        ("/ctp", demo.body("trade", "amount=1&price=3000"), "params must be a JSON object"),
        ("/ctp", demo.body("trade", good, nonce=str(time.time_ns())), "nonce must be an integer"),
        ("/ctp", demo.body(7, good), "method must be a string"),
        ("/ctp", demo.body("teleport", {}), "invalid method: teleport"),
        ("/ctp", demo.body("setmarginlevel", {"symbol": RB, "marginLevel": 10}), "not supported"),
        ("/ctp", demo.body("trade", good, secret_key="0" * 64), "invalid access_key or secret_key"),
        ("/OKX", demo.body("trade", good), "unknown exchange address"),
        ("/futu", demo.body("trade", seed_trade(TENCENT, 100, 500)), "several futu accounts"),
        ("/ctp", demo.body("trade", {**good, "amount": "0.1"}), "whole number"),
        ("/ctp", demo.body("trade", {**good, "amount": ["1"]}), "params.amount must be a number"),
        ("/ctp", demo.body("trade", {**good, "price": "abc"}), "params.price must be a number"),
        ("/ctp", demo.body("trade", {**good, "type": "hold"}), "params.type must be one of"),
        ("/ctp", demo.body("trade", {**good, "symbol": "ETH_USDT"}), "no exchange"),
        ("/ctp", demo.body("trade", {**good, "symbol": TENCENT}), "not traded on venue ctp"),
        ("/ctp", demo.body("trade", {k: v for k, v in good.items() if k != "amount"}), "params.amount is required"),
        (FUTU, demo.body("trade", seed_trade(TENCENT, 100, 1, "closebuy")), "params.type must be one of"),
        ("/ctp", demo.body("cancel", {"id": "ETH-USDT,123456", "symbol": "ETH_USDT"}), "invalid symbol"),
        ("/ctp", demo.body("order", {"id": "123456"}), "invalid order id"),
        ("/ctp", demo.body("records", {"symbol": RB, "period": "soon"}), "params.period"),
        ("/ctp", b"x" * (64 * 1024 + 1), "request body too large"),
    ]
    for path, raw, contains in cases:
        answer = await demo.post(path, raw)
        assert set(answer) == {"error"} and contains in answer["error"], (path, raw[:120], answer)
    status, body = await http(chain.run.ports["fmz"], b"GET /ctp HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status == 200 and json.loads(body) == {"error": "not support GET method."}

    # Nothing reached td_exec (it writes an event for every order, even a refused one) or a venue.
    await flush_in_order(watch.bus.nc)
    assert watch.order_events == []
    assert await venue_orders(chain) == venue_before
    assert await demo.data("/ctp", "orders", {}) == open_before

    # Well-formed but off the tick: td_exec refuses it (its reason comes back), records the denial on
    # td.evt — so the silence above was not a deaf watch — and the venue sees nothing.
    tick = await latest_tick(watch, RB_TICKS)
    off_tick = await demo.call("/ctp", "trade", seed_trade(RB, 1, tick.bids[0].price - 10.5))
    assert set(off_tick) == {"error"} and "order refused" in off_tick["error"], off_tick
    assert "(price_off_tick)" in off_tick["error"]
    await watch.until(lambda: [e["type"] for _s, e in watch.order_events] == ["OrderDenied"], "the OrderDenied event")
    assert await venue_orders(chain) == venue_before


async def test_a_replayed_nonce_is_refused_and_places_nothing(chain: Chain, watch: BusWatch) -> None:
    demo = chain.demo
    tick = await latest_tick(watch, RB_TICKS)
    captured = demo.body("trade", seed_trade(RB, 1, tick.bids[0].price - 50))
    first = await demo.post("/ctp", captured)
    order_id = first["data"]["id"]
    await until_status(demo, "/ctp", order_id, RB, "pending")
    venue_before = await venue_orders(chain)
    replay = await demo.post("/ctp", captured)
    assert set(replay) == {"error"} and "replay refused" in replay["error"]
    older = await demo.call("/ctp", "orders", {}, nonce=json.loads(captured)["nonce"] - 3 * 10**9)
    assert "replay refused" in older["error"]  # behind the last accepted nonce by more than the 2 s allowance
    stale = await demo.call("/ctp", "orders", {}, nonce=time.time_ns() - 120 * 10**9)
    assert "away from server time" in stale["error"]
    await flush_in_order(watch.bus.nc)
    submitted = [s for s, e in watch.order_events if e["type"] == "OrderSubmitted"]
    assert len(submitted) == 1 and submitted[0].endswith("." + order_id_part(order_id))
    assert await venue_orders(chain) == venue_before
    assert await demo.data("/ctp", "cancel", {"id": order_id, "symbol": RB}) is True
    await until_status(demo, "/ctp", order_id, RB, "canceled")


async def test_a_second_user_can_neither_see_nor_cancel_demos_orders(chain: Chain, watch: BusWatch) -> None:
    demo = chain.demo
    store = UserStore(chain.run.data_dir / "users.json")
    name = f"bob{time.time_ns()}"
    store.add(name, "bob-password-1", [f"futu:{US_PAPER.acc_id}"])
    bob = Fmz(chain.run.ports["fmz"], Key(*store.issue_fmz_key(name)))
    # fmz_edge reads the changed users file: the new key works at once, on bob's own account.
    funds = await in_thread(FutuTruth(chain.run.ports["opend"], "US").funds, US_PAPER.acc_id, "SIMULATE")
    assert await bob.data("/futu", "accounts", {}) == futu_rows(funds, [])

    ctp_tick, hk_tick = await latest_tick(watch, M_TICKS), await latest_tick(watch, HK_TICKS)
    ctp_id = (await demo.data("/ctp", "trade", seed_trade(M, 1, ctp_tick.bids[0].price - 20)))["id"]
    step = hk_tick_size(hk_tick.bids[0].price * 0.9)
    futu_id = (await demo.data(FUTU, "trade", seed_trade(TENCENT, 100,
                                                         round(hk_tick.bids[0].price * 0.9 / step) * step)))["id"]
    await until_status(demo, "/ctp", ctp_id, M, "pending")
    await until_status(demo, FUTU, futu_id, TENCENT, "pending")

    refusals = [
        ("/ctp", "orders", {"symbol": M}, "no ctp account is allowed"),
        ("/ctp/000001", "orders", {"symbol": M}, "not allowed"),
        ("/ctp/000001", "cancel", {"id": ctp_id, "symbol": M}, "not allowed"),
        (FUTU, "orders", {"symbol": TENCENT}, "not allowed"),
        (FUTU, "order", {"id": futu_id, "symbol": TENCENT}, "not allowed"),
        (FUTU, "cancel", {"id": futu_id, "symbol": TENCENT}, "not allowed"),
        ("/futu", "order", {"id": futu_id, "symbol": TENCENT}, "not found"),
        ("/futu", "cancel", {"id": futu_id, "symbol": TENCENT}, "not found"),
    ]
    for path, method, params, contains in refusals:
        answer = await bob.call(path, method, params)
        assert set(answer) == {"error"} and contains in answer["error"], (path, method, answer)
    assert await bob.data("/futu", "orders", {}) == []
    assert await bob.data("/futu", "historyorders", {"limit": 0, "since": 0}) == []

    await flush_in_order(watch.bus.nc)
    assert not any(e["type"].startswith("OrderCancel") for _s, e in watch.order_events)
    for path, fmz_id, symbol in (("/ctp", ctp_id, M), (FUTU, futu_id, TENCENT)):
        assert (await demo.data(path, "order", {"id": fmz_id, "symbol": symbol}))["status"] == "pending"
        assert await demo.data(path, "cancel", {"id": fmz_id, "symbol": symbol}) is True
        await until_status(demo, path, fmz_id, symbol, "canceled")


# --- records (last in the file: 1-minute bars need the first minute of the run to close) ---------------------


def hour_rows(bars: list[Bar]) -> list[list[float | int]]:
    """1-minute bars → hour rows, newest first; HK and Shanghai are whole hours from UTC."""
    rows: dict[int, list[float | int]] = {}
    for bar in bars:
        start = bar.start_ns // 10**9
        key = start - start % 3600
        if key not in rows:
            rows[key] = [key, bar.open, bar.high, bar.low, bar.close, bar.volume]
        else:
            row = rows[key]
            row[2], row[3], row[4], row[5] = max(row[2], bar.high), min(row[3], bar.low), bar.close, row[5] + bar.volume
    return [[num(v) for v in rows[k]] for k in sorted(rows, reverse=True)]


def minute_rows(bars: list[Bar]) -> list[list[float | int]]:
    return [[num(v) for v in (b.start_ns // 10**9, b.open, b.high, b.low, b.close, b.volume)] for b in bars[::-1]]


@pytest.mark.parametrize("venue", VENUES)
async def test_records_are_the_stored_minute_bars(chain: Chain, watch: BusWatch, venue: str) -> None:
    path, symbol, ticks_subject = VENUES[venue]
    subject = "md.bar.1m." + ticks_subject.removeprefix("md.tick.")

    async def bars() -> list[Bar]:
        return [b for b in await stored(watch.bus, subject) if isinstance(b, Bar)]

    deadline = time.monotonic() + 75  # the first bar closes once the run's first minute has ended
    while not await bars():
        assert time.monotonic() < deadline, f"no 1-minute bar on {subject} within 75 s"
        await asyncio.sleep(1.0)  # polling the stream for md_ingest's first bar, bounded by the deadline

    kept, hours = await settled(bars, lambda: chain.demo.data(path, "records", SEED_PARAMS["records"](symbol)),
                                  f"bars on {subject}")
    assert hours == hour_rows(kept)  # the seed's period "60": one-hour rows
    kept, minutes = await settled(bars, lambda: chain.demo.data(path, "records",
                                                                  {"limit": "500", "period": "1", "symbol": symbol}),
                                    f"bars on {subject}")
    assert minutes == minute_rows(kept)
    kept, newest = await settled(bars, lambda: chain.demo.data(path, "records",
                                                                 {"limit": "1", "period": "1", "symbol": symbol}),
                                   f"bars on {subject}")
    assert newest == minute_rows(kept)[:1]
