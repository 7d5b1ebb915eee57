"""Orders placed outside tradebus (here: a second, unmodified futu-api client on the same OpenD) become
external orders in TD_EVT — by push, and by reconciliation when td_exec was down — each exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
from api_conftest import TRADE_PWD_MD5, futu, trade_ctx
from futu_stack import Stack, futu_stack, until
from futu_venue_helpers import HK, LOT, SYMBOL, ServerThread, book, resting_price

from td_exec.projections import order_key, positions_from_trades
from tradebus.schemas.orders import (
    CommandAccepted,
    OrderFilled,
    OrderStatus,
    OrderSubmitted,
    OrderView,
    Side,
    SubmitOrder,
)


class OutsideClient:
    """Another API client of the same OpenD login: what the Futu app or a second program would be."""

    def __init__(self, port: int, account: str) -> None:
        self.account = int(account)
        self.ctx = trade_ctx(port)
        assert self.ctx.unlock_trade(password_md5=TRADE_PWD_MD5)[0] == futu.RET_OK

    def buy(self, qty: int, price: float, remark: str = "") -> str:
        ret, data = self.ctx.place_order(price=price, qty=qty, code=f"{HK}.{SYMBOL}", trd_side=futu.TrdSide.BUY,
                                         trd_env=futu.TrdEnv.REAL, acc_id=self.account, remark=remark)
        assert ret == futu.RET_OK, data
        return str(data["order_id"].iloc[0])

    def close(self) -> None:
        self.ctx.close()


def external_orders(stack: Stack) -> dict[str, Any]:
    return {cid: o for cid, o in stack.engine.ledger.accounts.get(("futu", stack.account), {}).items()
            if o.external}


async def test_an_order_placed_by_another_client_appears_with_its_fill(
        opend: ServerThread, nats_server: Any, tmp_path: Path) -> None:
    async with futu_stack(opend.port, nats_server.url, tmp_path) as stack:
        outside = OutsideClient(opend.port, stack.account)
        try:
            _, asks = book(opend)
            order_id = await asyncio.to_thread(outside.buy, LOT, asks[0][0], "from-the-app")
        finally:
            outside.close()
        cid = f"ext-{order_id}"
        await until(lambda: _status(stack, cid, OrderStatus.FILLED), what="external order filled")
        events = await stack.events(cid)
        submitted = events[0]
        assert isinstance(submitted, OrderSubmitted) and submitted.external and submitted.venue_order_id == order_id
        assert (submitted.qty, submitted.side, submitted.remark) == (LOT, Side.BUY, "from-the-app")
        fills = [e for e in events if isinstance(e, OrderFilled)]
        assert sum(f.fill_qty for f in fills) == LOT
        order = stack.engine.ledger.get("futu", stack.account, cid)
        assert order is not None and order.view().external and order.view().filled_qty == LOT
        # projections show it: KV orders (what edges and strategies read) and the positions fold
        await stack.engine.projection.settled()
        kv = await stack.client.js.key_value("orders")
        stored = msgspec.json.decode((await kv.get(order_key("futu", stack.account, cid))).value, type=OrderView)
        assert stored.external and stored.filled_qty == LOT
        [moved] = positions_from_trades(order.trades)
        assert (moved.symbol, moved.qty) == (SYMBOL, LOT)


async def test_orders_placed_while_td_exec_was_down_are_reconciled_once(
        opend: ServerThread, nats_server: Any, tmp_path: Path) -> None:
    async with futu_stack(opend.port, nats_server.url, tmp_path) as stack:
        account = stack.account
    outside = OutsideClient(opend.port, account)
    try:
        resting = await asyncio.to_thread(outside.buy, LOT, resting_price(opend))
        _, asks = book(opend)
        filled = await asyncio.to_thread(outside.buy, LOT, asks[0][0])
    finally:
        outside.close()
    for _ in range(2):  # a second restart reconciles the same venue view again: nothing is added
        async with futu_stack(opend.port, nats_server.url, tmp_path) as stack:
            await until(lambda: _status(stack, f"ext-{filled}", OrderStatus.FILLED), what="reconciled fill")
            assert stack.status(f"ext-{resting}") is OrderStatus.ACCEPTED
            kinds = await stack.kinds(f"ext-{filled}")
            assert kinds.count("OrderSubmitted") == 1 and kinds.count("OrderAccepted") == 1
            assert sum(1 for k in kinds if k == "OrderFilled") >= 1
            assert await stack.kinds(f"ext-{resting}") == ["OrderSubmitted", "OrderAccepted"]
            assert set(external_orders(stack)) == {f"ext-{resting}", f"ext-{filled}"}


async def test_submitting_from_tradebus_and_outside_together_yields_each_order_once(
        opend: ServerThread, nats_server: Any, tmp_path: Path) -> None:
    async with futu_stack(opend.port, nats_server.url, tmp_path) as stack:
        outside = OutsideClient(opend.port, stack.account)
        price = resting_price(opend)
        try:
            ours = SubmitOrder(venue="futu", account=stack.account, exchange=HK, symbol=SYMBOL, side=Side.BUY,
                               qty=LOT, price=price, client_order_id="both-ours")
            reply, theirs = await asyncio.gather(stack.request(ours), asyncio.to_thread(outside.buy, LOT, price))
        finally:
            outside.close()
        assert isinstance(reply, CommandAccepted), reply
        await until(lambda: _status(stack, f"ext-{theirs}", OrderStatus.ACCEPTED), what="external accepted")
        await until(lambda: _status(stack, "both-ours", OrderStatus.ACCEPTED), what="ours accepted")
        assert set(external_orders(stack)) == {f"ext-{theirs}"}  # ours is never mistaken for an external one
        assert await stack.kinds("both-ours") == ["OrderSubmitted", "OrderAccepted"]
        assert await stack.kinds(f"ext-{theirs}") == ["OrderSubmitted", "OrderAccepted"]


async def _status(stack: Stack, cid: str, status: OrderStatus) -> bool:
    return stack.status(cid) is status
