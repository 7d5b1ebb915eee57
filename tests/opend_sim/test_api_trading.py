"""Trade path with the unmodified futu-api: accounts, unlock, orders, pushes, queries, refusals."""

from __future__ import annotations

import queue
import time as _time
from collections.abc import Callable, Iterator
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import api_conftest
import pytest
from api_conftest import LOGIN_ACCOUNT, TRADE_PASSWORD, ServerThread, futu, new_market, trade_ctx, with_timeout

from opend_sim.api.server import NOT_LOGGED_IN
from opend_sim.api.trading import NEED_UNLOCK, PAPER_HAS_NO_DEALS, UNLOCK_WRONG_PASSWORD
from tradebus.sim import Quote, SimMarket, hk_tick_size

api_opend_manual = api_conftest.api_opend_manual  # fixture shared through the module, not conftest.py
WAIT = 10.0
REAL, SIM = futu.TrdEnv.REAL, futu.TrdEnv.SIMULATE


class Recorder:
    got: queue.Queue[Any]

    def on_recv_rsp(self, rsp_pb: Any) -> tuple[int, Any]:
        ret, data = super().on_recv_rsp(rsp_pb)  # type: ignore[misc]
        if ret == futu.RET_OK:
            for row in data.to_dict("records"):
                self.got.put(row)
        return ret, data

    def next_row(self, timeout: float = WAIT) -> dict[str, Any]:
        return self.got.get(timeout=timeout)

    def rows_until(self, pred: Any, timeout: float = WAIT) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        while not rows or not pred(rows[-1]):
            rows.append(self.next_row(timeout))
        return rows


def recorder(base: type) -> Any:
    obj = type(f"Rec{base.__name__}", (Recorder, base), {})()
    obj.got = queue.Queue()
    return obj


@pytest.fixture
def trd(api_opend_manual: ServerThread) -> Iterator[Any]:
    ctx = trade_ctx(api_opend_manual.port)
    yield ctx
    ctx.close()


def hk_quote(srv: ServerThread, symbol: str = "00700") -> Quote:
    return srv.call(lambda: srv.market.quote("HK", symbol))


def passive_bid(q: Quote, ticks_away: int = 10) -> float:
    """A buy price well under the book, on the HKEX ladder: it rests."""
    price = q.bids[-1][0]
    for _ in range(ticks_away):
        price = round(price - hk_tick_size(price - 1e-9), 3)
    return price


def place(trd: Any, price: float, qty: int, code: str = "HK.00700", side: Any = None, env: Any = REAL,
          **kw: Any) -> tuple[int, Any]:
    return trd.place_order(price=price, qty=qty, code=code, trd_side=side or futu.TrdSide.BUY, trd_env=env, **kw)


def test_account_list_has_paper_and_real_accounts_with_stable_ids(api_opend_manual: ServerThread, trd: Any) -> None:
    ret, accs = trd.get_acc_list()
    assert ret == futu.RET_OK
    assert sorted(accs["trd_env"]) == ["REAL", "SIMULATE"]
    assert all(auth == ["HK"] for auth in accs["trdmarket_auth"])
    us = trade_ctx(api_opend_manual.port, futu.TrdMarket.US)
    try:
        ret, us_accs = us.get_acc_list()
        assert ret == futu.RET_OK and sorted(us_accs["trd_env"]) == ["REAL", "SIMULATE"]
        assert set(us_accs["acc_id"]).isdisjoint(accs["acc_id"])
    finally:
        us.close()
    other = ServerThread(new_market, tick_interval=0)
    other.start()
    try:
        again = trade_ctx(other.port)
        assert sorted(again.get_acc_list()[1]["acc_id"]) == sorted(accs["acc_id"])
        again.close()
    finally:
        other.shutdown()


def test_futures_context_connects_without_futures_accounts(api_opend_manual: ServerThread) -> None:
    ctx = with_timeout(lambda: futu.OpenFutureTradeContext(host="127.0.0.1", port=api_opend_manual.port))
    try:
        ret, accs = ctx.get_acc_list()
        assert ret == futu.RET_OK and len(accs) == 0
    finally:
        ctx.close()


def test_unlock_checks_the_password_and_real_orders_need_it(api_opend_manual: ServerThread, trd: Any) -> None:
    q = hk_quote(api_opend_manual)
    assert place(trd, passive_bid(q), 100) == (futu.RET_ERROR, NEED_UNLOCK)
    assert trd.unlock_trade("654321") == (futu.RET_ERROR, UNLOCK_WRONG_PASSWORD)
    assert place(trd, passive_bid(q), 100)[0] == futu.RET_ERROR
    # paper trading needs no unlock
    ret, df = place(trd, passive_bid(q), 100, env=SIM)
    assert ret == futu.RET_OK and df["order_status"][0] == futu.OrderStatus.SUBMITTED
    assert trd.unlock_trade(TRADE_PASSWORD) == (futu.RET_OK, None)
    ret, df = place(trd, passive_bid(q), 100)
    assert ret == futu.RET_OK, df


def test_marketable_order_fills_with_order_and_deal_pushes(api_opend_manual: ServerThread, trd: Any) -> None:
    orders, deals = recorder(futu.TradeOrderHandlerBase), recorder(futu.TradeDealHandlerBase)
    trd.set_handler(orders)
    trd.set_handler(deals)
    assert trd.unlock_trade(TRADE_PASSWORD)[0] == futu.RET_OK
    q = hk_quote(api_opend_manual)
    ret, placed = place(trd, q.asks[-1][0], 300, remark="tb-cid-42")  # deep enough to fill completely
    assert ret == futu.RET_OK, placed
    order_id = placed["order_id"][0]
    assert placed["remark"][0] == "tb-cid-42"

    seen = orders.rows_until(lambda r: r["order_status"] == futu.OrderStatus.FILLED_ALL)
    assert seen[0]["order_status"] == futu.OrderStatus.SUBMITTED and seen[0]["dealt_qty"] == 0
    assert all(r["order_id"] == order_id and r["remark"] == "tb-cid-42" for r in seen)
    assert seen[-1]["dealt_qty"] == 300 and seen[-1]["trd_market"] == futu.TrdMarket.HK
    assert seen[-1]["code"] == "HK.00700" and seen[-1]["trd_env"] == REAL

    fills = [deals.next_row()]
    while sum(f["qty"] for f in fills) < 300:
        fills.append(deals.next_row())
    assert {f["order_id"] for f in fills} == {order_id}
    assert all(f["code"] == "HK.00700" and f["trd_side"] == futu.TrdSide.BUY for f in fills)

    ret, listed = trd.deal_list_query(trd_env=REAL)
    assert ret == futu.RET_OK and sorted(listed["deal_id"]) == sorted(f["deal_id"] for f in fills)
    ret, pos = trd.position_list_query(trd_env=REAL)
    assert ret == futu.RET_OK and pos["code"].tolist() == ["HK.00700"] and pos["qty"][0] == 300
    acc_id = trd.get_acc_list()[1].query("trd_env == 'REAL'")["acc_id"].iloc[0]
    srv = api_opend_manual
    funds = srv.call(lambda: srv.market.funds(srv.server.trading.sim_name(acc_id)))
    ret, info = trd.accinfo_query(trd_env=REAL)
    assert ret == futu.RET_OK
    assert info["cash"][0] == pytest.approx(funds.cash) and info["market_val"][0] == pytest.approx(funds.market_value)
    assert info["cash"][0] < 500_000.0


def test_resting_order_modified_then_cancelled(api_opend_manual: ServerThread, trd: Any) -> None:
    orders = recorder(futu.TradeOrderHandlerBase)
    trd.set_handler(orders)
    assert trd.unlock_trade(TRADE_PASSWORD)[0] == futu.RET_OK
    q = hk_quote(api_opend_manual, "09988")
    price = passive_bid(q)
    ret, placed = place(trd, price, 100, code="HK.09988")
    assert ret == futu.RET_OK
    order_id = placed["order_id"][0]
    assert orders.next_row()["order_status"] == futu.OrderStatus.SUBMITTED

    lower = passive_bid(q, ticks_away=12)
    ret, _ = trd.modify_order(futu.ModifyOrderOp.NORMAL, order_id, qty=200, price=lower, trd_env=REAL)
    assert ret == futu.RET_OK
    modified = orders.rows_until(lambda r: r["qty"] == 200)[-1]
    assert modified["price"] == lower and modified["order_status"] == futu.OrderStatus.SUBMITTED

    ret, _ = trd.modify_order(futu.ModifyOrderOp.CANCEL, order_id, 0, 0, trd_env=REAL)
    assert ret == futu.RET_OK
    assert orders.rows_until(lambda r: r["order_status"] != futu.OrderStatus.SUBMITTED)[-1]["order_status"] == \
        futu.OrderStatus.CANCELLED_ALL
    ret, listed = trd.order_list_query(order_id=order_id, trd_env=REAL)
    assert ret == futu.RET_OK and listed["order_status"].tolist() == [futu.OrderStatus.CANCELLED_ALL]
    ret, msg = trd.modify_order(futu.ModifyOrderOp.CANCEL, order_id, 0, 0, trd_env=REAL)
    assert ret == futu.RET_ERROR and "status" in msg


def test_cancel_all_and_order_list_filters(api_opend_manual: ServerThread, trd: Any) -> None:
    assert trd.unlock_trade(TRADE_PASSWORD)[0] == futu.RET_OK
    ids = {}
    for symbol in ("00700", "09988", "03690"):
        ret, df = place(trd, passive_bid(hk_quote(api_opend_manual, symbol)), 100, code=f"HK.{symbol}")
        assert ret == futu.RET_OK, df
        ids[symbol] = df["order_id"][0]
    ret, one = trd.order_list_query(code="HK.09988", trd_env=REAL)
    assert ret == futu.RET_OK and one["order_id"].tolist() == [ids["09988"]]
    assert trd.cancel_all_order(trd_env=REAL)[0] == futu.RET_OK
    ret, cancelled = trd.order_list_query(status_filter_list=[futu.OrderStatus.CANCELLED_ALL], trd_env=REAL)
    assert ret == futu.RET_OK and sorted(cancelled["order_id"]) == sorted(ids.values())
    ret, working = trd.order_list_query(status_filter_list=[futu.OrderStatus.SUBMITTED], trd_env=REAL)
    assert ret == futu.RET_OK and working.empty


def test_venue_rejects_come_back_as_clear_errors(api_opend_manual: ServerThread, trd: Any) -> None:
    q = hk_quote(api_opend_manual)
    ret, msg = place(trd, passive_bid(q), 150, env=SIM)
    assert ret == futu.RET_ERROR and "lot size" in msg and "150" in msg
    ret, msg = place(trd, passive_bid(q) + 0.01, 100, env=SIM)
    assert ret == futu.RET_ERROR and "spread table" in msg
    ret, msg = place(trd, q.asks[-1][0], 100_000, env=SIM)
    assert ret == futu.RET_ERROR and "buying power" in msg
    ret, msg = place(trd, q.bids[0][0], 100, side=futu.TrdSide.SELL, env=SIM)
    assert ret == futu.RET_ERROR and "sellable" in msg
    ret, msg = place(trd, 100.0, 1, code="US.AAPL", env=SIM)
    assert ret == futu.RET_ERROR


def test_paper_trading_has_no_deals(api_opend_manual: ServerThread, trd: Any) -> None:
    orders, deals = recorder(futu.TradeOrderHandlerBase), recorder(futu.TradeDealHandlerBase)
    trd.set_handler(orders)
    trd.set_handler(deals)
    q = hk_quote(api_opend_manual)
    assert place(trd, q.asks[-1][0], 100, env=SIM)[0] == futu.RET_OK
    last = orders.rows_until(lambda r: r["order_status"] == futu.OrderStatus.FILLED_ALL)[-1]
    assert last["dealt_qty"] == 100 and last["trd_env"] == SIM
    assert trd.deal_list_query(trd_env=SIM) == (futu.RET_ERROR, PAPER_HAS_NO_DEALS)
    ret, pos = trd.position_list_query(trd_env=SIM)
    assert ret == futu.RET_OK and pos["qty"].tolist() == [100]
    # the order push came after any deal push would have: none was sent
    assert deals.got.empty()


def test_fills_from_later_market_steps_are_pushed(api_opend_manual: ServerThread, trd: Any) -> None:
    orders = recorder(futu.TradeOrderHandlerBase)
    trd.set_handler(orders)
    assert trd.unlock_trade(TRADE_PASSWORD)[0] == futu.RET_OK
    q = hk_quote(api_opend_manual, "03690")
    ret, placed = place(trd, q.bids[0][0], 100, code="HK.03690")  # joins the best bid: fills when hit
    assert ret == futu.RET_OK
    assert orders.next_row()["order_status"] == futu.OrderStatus.SUBMITTED
    for _ in range(500):
        if not orders.got.empty():
            break
        api_opend_manual.step()
    row = orders.next_row()
    assert row["order_id"] == placed["order_id"][0]
    assert row["order_status"] in (futu.OrderStatus.FILLED_PART, futu.OrderStatus.FILLED_ALL)


def test_logged_out_opend_refuses_trading(api_opend_manual: ServerThread, trd: Any) -> None:
    api_opend_manual.login.set(False)
    ret, msg = place(trd, 500.0, 100, env=SIM)
    assert ret == futu.RET_ERROR and NOT_LOGGED_IN in msg


def test_login_account_seeds_user_id(api_opend_manual: ServerThread, trd: Any) -> None:
    assert trd.get_login_user_id() == int(LOGIN_ACCOUNT)


def hk_morning_on_client_date() -> Callable[[], int]:
    """A market clock that reads 10:30 in Hong Kong on the client's local date, then runs at real speed.

    futu-api fills a history query's default window from the machine's local date (the last 90 days up to
    23:59:59 today) and OpenD compares it with order times written in the market's zone; with the real
    clock the two dates differ for eight hours a day on a UTC machine. Placing the market in the morning session of the
    client's date makes "today's orders" mean the same day on both sides, at any hour and in any zone.
    """
    local_date = datetime.now().date()
    start = datetime.combine(local_date, time(10, 30), ZoneInfo("Asia/Hong_Kong"))
    offset = int(start.timestamp() * 1e9) - _time.time_ns()
    return lambda: _time.time_ns() + offset


@pytest.fixture
def api_opend_hk_morning() -> Iterator[ServerThread]:
    clock = hk_morning_on_client_date()
    srv = ServerThread(lambda: SimMarket(seed=11, clock=clock), tick_interval=0, unsub_min_seconds=0.0)
    srv.start()
    try:
        yield srv
    finally:
        srv.shutdown()


def test_history_queries_include_todays_orders_and_deals(api_opend_hk_morning: ServerThread) -> None:
    trd = trade_ctx(api_opend_hk_morning.port)
    try:
        _history_includes_todays_orders_and_deals(api_opend_hk_morning, trd)
    finally:
        trd.close()


def _history_includes_todays_orders_and_deals(api_opend_manual: ServerThread, trd: Any) -> None:
    assert trd.unlock_trade(TRADE_PASSWORD)[0] == futu.RET_OK
    q = hk_quote(api_opend_manual)
    ret, placed = place(trd, q.asks[-1][0], 100)
    assert ret == futu.RET_OK
    ret, hist = trd.history_order_list_query(trd_env=REAL)
    assert ret == futu.RET_OK and hist["order_id"].tolist() == [placed["order_id"][0]]
    assert hist["order_status"][0] == futu.OrderStatus.FILLED_ALL
    ret, deals = trd.history_deal_list_query(trd_env=REAL)
    assert ret == futu.RET_OK and deals["qty"].sum() == 100
    ret, none = trd.history_order_list_query(trd_env=REAL, start="2001-01-01", end="2001-01-02")
    assert ret == futu.RET_OK and none.empty


def test_order_fee_query_reports_the_fees_charged_on_fills(api_opend_manual: ServerThread, trd: Any) -> None:
    assert trd.unlock_trade(TRADE_PASSWORD)[0] == futu.RET_OK
    q = hk_quote(api_opend_manual)
    ret, placed = place(trd, q.asks[-1][0], 200)
    assert ret == futu.RET_OK, placed
    order_id = placed["order_id"][0]
    ret, resting = place(trd, passive_bid(q), 100)
    assert ret == futu.RET_OK, resting
    ret, deals = trd.deal_list_query(trd_env=REAL)
    assert ret == futu.RET_OK and deals["qty"].sum() == 200
    ret, fees = trd.order_fee_query([order_id, resting["order_id"][0]], trd_env=REAL)
    assert ret == futu.RET_OK, fees
    expected = round(sum(p * n * 0.00138 for p, n in zip(deals["price"], deals["qty"], strict=True)), 2)
    filled, unfilled = fees.to_dict("records")
    assert filled["order_id"] == order_id and filled["fee_amount"] == pytest.approx(expected, abs=0.011)
    assert [title for title, _ in filled["fee_details"]] == ["Commission", "Stamp Duty", "Trading Levies"]
    assert sum(v for _, v in filled["fee_details"]) == pytest.approx(filled["fee_amount"], abs=1e-9)
    assert unfilled["fee_amount"] == 0.0  # nothing filled, nothing charged
    ret, msg = trd.order_fee_query(["no-such-order"], trd_env=REAL)
    assert ret == futu.RET_ERROR and "does not exist" in msg


def test_acctradinginfo_query_gives_what_cash_and_position_allow(api_opend_manual: ServerThread, trd: Any) -> None:
    assert trd.unlock_trade(TRADE_PASSWORD)[0] == futu.RET_OK
    q = hk_quote(api_opend_manual)
    price = q.asks[0][0]
    ret, info = trd.acctradinginfo_query(futu.OrderType.NORMAL, "HK.00700", price, trd_env=REAL)
    assert ret == futu.RET_OK, info
    row = info.iloc[0]
    lots = int(500_000.0 // (100 * price * 1.00138))  # whole lots, fees included
    assert row["max_cash_buy"] == lots * 100 and row["max_position_sell"] == 0
    assert row["max_cash_and_margin_buy"] == row["max_cash_buy"] and row["max_sell_short"] == 0
    assert place(trd, q.asks[-1][0], 300)[0] == futu.RET_OK
    ret, info = trd.acctradinginfo_query(futu.OrderType.MARKET, "HK.00700", 0, trd_env=REAL)
    assert ret == futu.RET_OK, info
    assert info["max_position_sell"].iloc[0] == 300
    ret, msg = trd.acctradinginfo_query(futu.OrderType.NORMAL, "HK.99999", 10.0, trd_env=REAL)
    assert ret == futu.RET_ERROR and "Unknown stock" in msg
