"""An OpenD that answers only the protocol's core calls (tests/support/core_opend.py, written apart from
opend_sim): unmodified futu-api works against it, and td_exec places Futu orders through it without
any optional call (no market snapshot, 3203); a refusal reaches the client with OpenD's own text."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from api_conftest import TRADE_PWD_MD5, futu, with_timeout
from core_opend import CoreOpenDThread
from futu_stack import Stack, futu_stack, until
from nats.js.errors import KeyNotFoundError
from polling import wait_for

from tradebus.schemas.account import InstrumentInfo
from tradebus.schemas.orders import CommandAccepted, OrderRejected, OrderStatus, Side, SubmitOrder

HK_CODE = "HK.00700"


@pytest.fixture
def core() -> Iterator[CoreOpenDThread]:
    server = CoreOpenDThread(max_qty=1_000)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def core_without_static_info() -> Iterator[CoreOpenDThread]:
    server = CoreOpenDThread(max_qty=1_000, static_info=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_unmodified_futu_api_quote_context(core: CoreOpenDThread) -> None:
    pushed: list[Any] = []

    class Quotes(futu.StockQuoteHandlerBase):  # type: ignore[misc]
        def on_recv_rsp(self, rsp_pb: Any) -> Any:
            ret, data = super().on_recv_rsp(rsp_pb)
            pushed.append((ret, data))
            return ret, data

    ctx = with_timeout(lambda: futu.OpenQuoteContext(host="127.0.0.1", port=core.port))
    try:
        ctx.set_handler(Quotes())
        ret, state = ctx.get_global_state()
        assert ret == futu.RET_OK and state["qot_logined"] and state["trd_logined"]
        ret, info = ctx.get_stock_basicinfo(futu.Market.HK, futu.SecurityType.STOCK, [HK_CODE])
        assert ret == futu.RET_OK and int(info["lot_size"].iloc[0]) == 100
        assert ctx.subscribe([HK_CODE], [futu.SubType.QUOTE])[0] == futu.RET_OK
        ret, quote = ctx.get_stock_quote([HK_CODE])
        assert ret == futu.RET_OK and quote["code"].iloc[0] == HK_CODE and quote["last_price"].iloc[0] == 300.0
        ret, text = ctx.get_market_snapshot([HK_CODE])
        assert (ret, text) == (futu.RET_ERROR, "unsupported")  # fails at once, not after a timeout
        # futu-api hands pushes to the handler on its own callback thread: on a busy machine the
        # subscription's first push reaches the handler after the requests above have returned
        wait_for(lambda: pushed, 10, "the first quote push at the handler")
    finally:
        ctx.close()
    assert pushed and pushed[0][0] == futu.RET_OK and pushed[0][1]["code"].iloc[0] == HK_CODE


def test_unmodified_futu_api_trade_context(core: CoreOpenDThread) -> None:
    ctx = with_timeout(lambda: futu.OpenSecTradeContext(filter_trdmarket=futu.TrdMarket.HK, host="127.0.0.1",
                                                        port=core.port, security_firm=futu.SecurityFirm.NONE))
    try:
        ret, accounts = ctx.get_acc_list()
        assert ret == futu.RET_OK and accounts["acc_id"].tolist() == [5001]
        assert ctx.unlock_trade(password_md5=TRADE_PWD_MD5)[0] == futu.RET_OK
        ret, placed = ctx.place_order(price=300.0, qty=200, code=HK_CODE, trd_side=futu.TrdSide.BUY,
                                      trd_env=futu.TrdEnv.REAL, acc_id=5001, remark="mine")
        assert ret == futu.RET_OK and placed["order_status"].iloc[0] == futu.OrderStatus.SUBMITTED
        order_id = placed["order_id"].iloc[0]
        core.call(lambda: core.opend.fill(int(order_id), 200, 300.0))
        ret, deals = ctx.deal_list_query(trd_env=futu.TrdEnv.REAL, acc_id=5001)
        assert ret == futu.RET_OK and deals["order_id"].tolist() == [order_id]
        ret, positions = ctx.position_list_query(trd_env=futu.TrdEnv.REAL, acc_id=5001)
        assert ret == futu.RET_OK and positions["qty"].tolist() == [200.0]
        assert ctx.accinfo_query(trd_env=futu.TrdEnv.REAL, acc_id=5001)[0] == futu.RET_OK
        ret, text = ctx.place_order(price=300.0, qty=5_000, code=HK_CODE, trd_side=futu.TrdSide.BUY,
                                    trd_env=futu.TrdEnv.REAL, acc_id=5001)
        assert ret == futu.RET_ERROR and "exceeds the maximum" in text
    finally:
        ctx.close()
    assert core.opend.unlocked_with == [TRADE_PWD_MD5]


def order(account: str, cid: str, qty: int) -> SubmitOrder:
    return SubmitOrder(venue="futu", account=account, exchange="HK", symbol="00700", side=Side.BUY, qty=qty,
                       price=300.0, client_order_id=cid)


async def _kv_lot_size(stack: Stack, lot: int) -> bool:
    """What td_exec wrote to KV ``instruments`` from OpenD's static information (ws_edge reads it)."""
    kv = await stack.client.js.key_value("instruments")
    with contextlib.suppress(KeyNotFoundError):
        return msgspec.json.decode((await kv.get("futu.HK.00700")).value, type=InstrumentInfo).lot_size == lot
    return False


async def _status(stack: Stack, cid: str, status: OrderStatus) -> bool:
    return stack.status(cid) is status


async def test_td_exec_orders_need_only_core_calls(core: CoreOpenDThread, nats_server: Any, tmp_path: Path) -> None:
    async with futu_stack(core.port, nats_server.url, tmp_path, markets=("HK",), accounts=1) as stack:
        reply = await stack.request(order(stack.account, "core-1", 200))
        assert isinstance(reply, CommandAccepted), reply
        await until(lambda: _status(stack, "core-1", OrderStatus.ACCEPTED), what="accepted")
        assert await stack.kinds("core-1") == ["OrderSubmitted", "OrderAccepted"]
        await until(lambda: _kv_lot_size(stack, 100), what="the static information in KV instruments")

        # a lot fact OpenD's static information gave: denied before anything is sent
        reply = await stack.request(order(stack.account, "core-lot", 150))
        assert reply.code == "bad_lot", reply

        # a refusal only OpenD knows reaches the client with OpenD's own words (newline escaped)
        reply = await stack.request(order(stack.account, "core-big", 5_000))
        assert isinstance(reply, CommandAccepted), reply
        assert reply.order.status is OrderStatus.REJECTED
        assert "exceeds the maximum of 1000 shares\\nfor this account" in reply.order.reason
        events = await stack.events("core-big")
        assert isinstance(events[-1], OrderRejected) and "exceeds the maximum" in events[-1].reason
    assert 3203 not in core.opend.seen and 3202 in core.opend.seen


async def test_unknown_instrument_facts_let_opend_decide(core_without_static_info: CoreOpenDThread,
                                                         nats_server: Any, tmp_path: Path) -> None:
    core = core_without_static_info
    async with futu_stack(core.port, nats_server.url, tmp_path, markets=("HK",), accounts=1) as stack:
        reply = await stack.request(order(stack.account, "nofacts-1", 200))
        assert isinstance(reply, CommandAccepted), reply
        await until(lambda: _status(stack, "nofacts-1", OrderStatus.ACCEPTED), what="accepted")
        # no lot size known here: the order goes to OpenD, and OpenD's refusal is what the client gets
        reply = await stack.request(order(stack.account, "nofacts-lot", 150))
        assert isinstance(reply, CommandAccepted), reply
        assert reply.order.status is OrderStatus.REJECTED and "multiple of the lot size 100" in reply.order.reason
    assert 3203 not in core.opend.seen
