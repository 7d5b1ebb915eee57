"""Submit → accepted → partially filled → filled, with events, KV projection and positions; cancel; modify; reject."""

from __future__ import annotations

from td_engine_helpers import Harness, fut_order, until

from td_exec.projections import positions_from_trades
from tradebus.schemas.account import PositionSide, PositionsReply
from tradebus.schemas.orders import (
    CancelOrder,
    CommandAccepted,
    CommandDenied,
    ModifyOrder,
    OrderStatus,
    QueryOrders,
    QueryPositions,
    QueryTrades,
    Side,
    TradesReply,
)


async def test_submit_with_partial_then_full_fill_returns_events_projection_and_positions(harness: Harness) -> None:
    quote = harness.venue.market.quote("SHFE", "rb2601")
    ask_price, ask_qty = quote.asks[0]
    qty = ask_qty + 3
    reply = await harness.request(fut_order("life-1", qty=qty, price=ask_price))
    assert isinstance(reply, CommandAccepted), reply
    assert reply.order.status is OrderStatus.PARTIALLY_FILLED
    assert reply.order.filled_qty == ask_qty
    # The rest of the market sells into our resting remainder.
    harness.venue.counterparty("SHFE", "rb2601", Side.SELL, 3, ask_price)
    await until(lambda: harness.order("life-1").status is OrderStatus.FILLED, what="filled")
    kinds = await harness.kinds("life-1")
    assert kinds == ["OrderSubmitted", "OrderAccepted", "OrderFilled", "OrderFilled"]
    await harness.engine.projection.settled()
    view = await harness.kv_view("life-1")
    assert view is not None and view.status is OrderStatus.FILLED and view.filled_qty == qty
    assert view.avg_fill_price == ask_price
    trades = await harness.request(QueryTrades(venue="sim", account="SIM-FUT", client_order_id="life-1"))
    assert isinstance(trades, TradesReply) and sum(t.qty for t in trades.trades) == qty
    positions = await harness.request(QueryPositions(venue="sim", account="SIM-FUT"))
    assert isinstance(positions, PositionsReply)
    venue_long = {(p.symbol, p.side): p.qty for p in positions.positions}
    folded = {(p.symbol, p.side): p.qty for p in positions_from_trades(trades.trades)}
    assert venue_long == folded == {("rb2601", PositionSide.LONG): qty}


async def test_cancel_of_resting_order_returns_cancelled(harness: Harness) -> None:
    bid = harness.venue.market.quote("SHFE", "rb2601").bids[-1][0] - 5.0
    reply = await harness.request(fut_order("cx-1", qty=2, price=bid))
    assert isinstance(reply, CommandAccepted) and reply.order.status is OrderStatus.ACCEPTED
    reply = await harness.request(CancelOrder(venue="sim", account="SIM-FUT", client_order_id="cx-1"))
    assert isinstance(reply, CommandAccepted) and reply.order.status is OrderStatus.CANCELLED
    assert await harness.kinds("cx-1") == ["OrderSubmitted", "OrderAccepted", "OrderCancelled"]
    again = await harness.request(CancelOrder(venue="sim", account="SIM-FUT", client_order_id="cx-1"))
    assert isinstance(again, CommandDenied) and again.code == "order_closed"
    venue_order = harness.venue.venue_order("SIM-FUT", "cx-1")
    assert venue_order is not None and venue_order.status.value == "cancelled"


async def test_modify_of_resting_order_returns_updated_terms(harness: Harness) -> None:
    bid = harness.venue.market.quote("SHFE", "rb2601").bids[-1][0] - 5.0
    await harness.request(fut_order("md-1", qty=2, price=bid))
    reply = await harness.request(ModifyOrder(venue="sim", account="SIM-FUT", client_order_id="md-1", qty=4,
                                              price=bid - 1.0))
    assert isinstance(reply, CommandAccepted), reply
    assert (reply.order.qty, reply.order.price, reply.order.status) == (4, bid - 1.0, OrderStatus.ACCEPTED)
    assert await harness.kinds("md-1") == ["OrderSubmitted", "OrderAccepted", "OrderUpdated"]
    venue_order = harness.venue.venue_order("SIM-FUT", "md-1")
    assert venue_order is not None and (venue_order.qty, venue_order.price) == (4, bid - 1.0)


async def test_venue_reject_returns_rejected_with_venue_reason(harness: Harness) -> None:
    # Closing a position the account does not hold: only the venue knows, and it says no.
    price = harness.venue.market.quote("SHFE", "rb2601").bids[0][0]
    reply = await harness.request(fut_order("rj-1", side="sell", qty=1, price=price, offset="close_today"))
    assert isinstance(reply, CommandAccepted), reply
    assert reply.order.status is OrderStatus.REJECTED
    assert reply.order.reason.startswith("insufficient_position")
    assert await harness.kinds("rj-1") == ["OrderSubmitted", "OrderRejected"]
    orders = await harness.request(QueryOrders(venue="sim", account="SIM-FUT", open_only=True))
    assert all(o.client_order_id != "rj-1" for o in orders.orders)
