"""OpenD restarts and late logins, seen by the unmodified futu-api: it reconnects and carries on.

futu-api waits 6 s before reconnecting after a disconnect (hard-coded), so these tests take a few
seconds each; they wait on handler queues and context status with deadlines, never on fixed sleeps.
"""

from __future__ import annotations

import queue
from pathlib import Path
from typing import Any

import pytest
from api_conftest import TRADE_PASSWORD, ServerThread, futu, in_background, new_market, quote_ctx, trade_ctx
from polling import wait_for

from tradebus.sim import SimMarket, default_instruments, hk_tick_size

RECONNECT_WAIT = 30.0


class QuoteRecorder(futu.StockQuoteHandlerBase):
    def __init__(self) -> None:
        super().__init__()
        self.got: queue.Queue[Any] = queue.Queue()

    def on_recv_rsp(self, rsp_pb: Any) -> tuple[int, Any]:
        ret, data = super().on_recv_rsp(rsp_pb)
        if ret == futu.RET_OK:
            self.got.put(data)
        return ret, data


class OrderRecorder(futu.TradeOrderHandlerBase):
    def __init__(self) -> None:
        super().__init__()
        self.got: queue.Queue[Any] = queue.Queue()

    def on_recv_rsp(self, rsp_pb: Any) -> tuple[int, Any]:
        ret, data = super().on_recv_rsp(rsp_pb)
        if ret == futu.RET_OK:
            for row in data.to_dict("records"):
                self.got.put(row)
        return ret, data


def drain(q: queue.Queue[Any]) -> None:
    while not q.empty():
        q.get_nowait()


def test_restart_on_same_port_reconnects_resubscribes_and_keeps_broker_state(tmp_path: Path) -> None:
    state = tmp_path / "broker.json"
    srv = ServerThread(new_market, state_path=state, tick_interval=0.05)
    port = srv.start()
    qctx = quote_ctx(port)
    tctx = trade_ctx(port)
    try:
        quotes, orders = QuoteRecorder(), OrderRecorder()
        qctx.set_handler(quotes)
        tctx.set_handler(orders)
        assert qctx.subscribe(["HK.00700"], [futu.SubType.QUOTE])[0] == futu.RET_OK
        quotes.got.get(timeout=10)
        assert tctx.unlock_trade(TRADE_PASSWORD)[0] == futu.RET_OK
        bid = srv.call(lambda: srv.market.quote("HK", "00700")).bids[-1][0]
        price = round(bid - 20 * hk_tick_size(bid), 3)
        ret, placed = tctx.place_order(price=price, qty=100, code="HK.00700", trd_side=futu.TrdSide.BUY,
                                       trd_env=futu.TrdEnv.REAL, remark="survives")
        assert ret == futu.RET_OK, placed
        order_id = placed["order_id"][0]
        assert state.exists()

        srv.stop()
        wait_for(lambda: qctx.status != futu.ContextStatus.READY, RECONNECT_WAIT, "the quote context to notice",
                 interval=0.05)
        srv.start(port)
        drain(quotes.got)
        # futu-api reconnects by itself, re-sends its subscriptions, and pushes resume
        data = quotes.got.get(timeout=RECONNECT_WAIT)
        assert data["code"][0] == "HK.00700"

        # the broker kept the order; the client re-unlocked and re-registered for pushes by itself
        wait_for(lambda: tctx.status == futu.ContextStatus.READY, RECONNECT_WAIT, "the trade context ready",
                 interval=0.05)
        ret, listed = tctx.order_list_query(order_id=order_id, trd_env=futu.TrdEnv.REAL)
        assert ret == futu.RET_OK and listed["remark"].tolist() == ["survives"]
        drain(orders.got)
        ret, msg = tctx.modify_order(futu.ModifyOrderOp.CANCEL, order_id, 0, 0, trd_env=futu.TrdEnv.REAL)
        assert ret == futu.RET_OK, msg
        row = orders.got.get(timeout=10)
        assert (row["order_id"], row["order_status"]) == (order_id, futu.OrderStatus.CANCELLED_ALL)
    finally:
        qctx.close()
        tctx.close()
        srv.shutdown()


def test_context_made_before_login_connects_once_logged_in() -> None:
    """OpenD refuses InitConnect until it is logged in; the futu constructor retries every 6 s."""
    srv = ServerThread(new_market, tick_interval=0)
    srv.login.set(False)
    port = srv.start()
    pending = in_background(lambda: futu.OpenQuoteContext(host="127.0.0.1", port=port))
    ctx = None
    try:
        wait_for(lambda: srv.call(lambda: srv.server.refused_logins) >= 1, RECONNECT_WAIT, "a refused login",
                 interval=0.05)
        assert not pending.done()
        srv.login.set(True)
        ctx = pending.result(timeout=RECONNECT_WAIT)
        assert ctx.status == futu.ContextStatus.READY
        assert ctx.subscribe(["US.AAPL"], [futu.SubType.QUOTE], subscribe_push=False)[0] == futu.RET_OK
    finally:
        if ctx is not None:
            ctx.close()
        srv.shutdown()


def test_state_file_restores_accounts_orders_and_cash(tmp_path: Path) -> None:
    state = tmp_path / "broker.json"
    first = ServerThread(new_market, state_path=state, tick_interval=0)
    first.start()
    ctx = trade_ctx(first.port)
    try:
        ask = first.call(lambda: first.market.quote("HK", "09988")).asks[-1][0]
        ret, placed = ctx.place_order(price=ask, qty=100, code="HK.09988", trd_side=futu.TrdSide.BUY,
                                      trd_env=futu.TrdEnv.SIMULATE)
        assert ret == futu.RET_OK, placed
        cash_before = ctx.accinfo_query(trd_env=futu.TrdEnv.SIMULATE)[1]["cash"][0]
    finally:
        ctx.close()
        first.shutdown()
    second = ServerThread(new_market, state_path=state, tick_interval=0)
    second.start()
    ctx = trade_ctx(second.port)
    try:
        ret, pos = ctx.position_list_query(trd_env=futu.TrdEnv.SIMULATE)
        assert ret == futu.RET_OK and pos["code"].tolist() == ["HK.09988"] and pos["qty"][0] == 100
        assert ctx.accinfo_query(trd_env=futu.TrdEnv.SIMULATE)[1]["cash"][0] == pytest.approx(cash_before)
        ret, listed = ctx.order_list_query(trd_env=futu.TrdEnv.SIMULATE)
        assert listed["order_id"].tolist() == [placed["order_id"][0]]
    finally:
        ctx.close()
        second.shutdown()


def test_state_saved_before_the_a_shares_gets_them_on_load(tmp_path: Path) -> None:
    state = tmp_path / "broker.json"
    old = ServerThread(lambda: SimMarket(default_instruments(), seed=11), state_path=state, tick_interval=0)
    old.start()
    old.shutdown()
    srv = ServerThread(new_market, state_path=state, tick_interval=0)
    srv.start()
    ctx = quote_ctx(srv.port)
    try:
        ret, info = ctx.get_stock_basicinfo(futu.Market.SH, code_list=["SH.600519"])
        assert ret == futu.RET_OK, info
        assert info["lot_size"].tolist() == [100]
    finally:
        ctx.close()
        srv.shutdown()
