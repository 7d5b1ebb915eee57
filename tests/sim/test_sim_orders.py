"""Validation, matching against the synthetic book and other accounts, cancel and modify."""

from __future__ import annotations

import pytest

from tradebus.sim import (
    Offset,
    OrderType,
    RejectReason,
    Side,
    SimMarket,
    SimOrderStatus,
    SimReject,
)
from tradebus.sim.instruments import tick_down, tick_up

HK = ("HK", "00700")


def reject_of(call, *args, **kwargs) -> RejectReason:
    with pytest.raises(SimReject) as info:
        call(*args, **kwargs)
    assert info.value.text  # a clear English sentence rides along
    return info.value.reason


def best(market: SimMarket, side: str, depth: int = 0) -> tuple[float, int]:
    q = market.quote(*HK)
    return (q.asks if side == "ask" else q.bids)[depth]


@pytest.mark.parametrize(
    ("args", "kwargs", "reason"),
    [
        (("nobody", "HK", "00700", Side.BUY, 100, 600.0), {}, RejectReason.UNKNOWN_ACCOUNT),
        (("hk", "HK", "99999", Side.BUY, 100, 600.0), {}, RejectReason.UNKNOWN_INSTRUMENT),
        (("hk", "US", "AAPL", Side.BUY, 1, 230.0), {}, RejectReason.UNKNOWN_INSTRUMENT),  # HKD account
        (("fut", "HK", "00700", Side.BUY, 100, 600.0), {}, RejectReason.UNKNOWN_INSTRUMENT),
        (("hk", "HK", "00700", Side.BUY, 100, 600.0), {"offset": Offset.OPEN}, RejectReason.BAD_OFFSET),
        (("fut", "SHFE", "rb2601", Side.BUY, 1, 3100.0), {}, RejectReason.BAD_OFFSET),
        (("hk", "HK", "00700", Side.BUY, 0, 600.0), {}, RejectReason.BAD_QUANTITY),
        (("hk", "HK", "00700", Side.BUY, -100, 600.0), {}, RejectReason.BAD_QUANTITY),
        (("hk", "HK", "00700", Side.BUY, 150, 600.0), {}, RejectReason.BAD_LOT_SIZE),
        (("hk", "HK", "00700", Side.BUY, 100, 600.2), {}, RejectReason.PRICE_OFF_TICK),
        (("hk", "HK", "00700", Side.BUY, 100, 0.0), {}, RejectReason.PRICE_OFF_TICK),
        (("us", "US", "AAPL", Side.BUY, 1, 230.005), {}, RejectReason.PRICE_OFF_TICK),
        (("fut", "SHFE", "au2602", Side.BUY, 1, 900.01), {"offset": Offset.OPEN}, RejectReason.PRICE_OFF_TICK),
        (("fut", "SHFE", "rb2601", Side.BUY, 1, 3299.0), {"offset": Offset.OPEN},
         RejectReason.PRICE_OUT_OF_LIMITS),
        (("fut", "SHFE", "rb2601", Side.SELL, 1, 2925.0), {"offset": Offset.OPEN},
         RejectReason.PRICE_OUT_OF_LIMITS),
        (("hk", "HK", "00700", Side.BUY, 1_000_000, 600.0), {}, RejectReason.INSUFFICIENT_CASH),
        (("hk", "HK", "00700", Side.SELL, 100, 600.0), {}, RejectReason.INSUFFICIENT_POSITION),
        (("fut", "SHFE", "rb2601", Side.SELL, 1, 3100.0), {"offset": Offset.CLOSE},
         RejectReason.INSUFFICIENT_POSITION),
        (("fut", "CFFEX", "IF2512", Side.BUY, 20, 4600.0), {"offset": Offset.OPEN},
         RejectReason.INSUFFICIENT_MARGIN),
    ],
)
def test_every_submit_reject(market: SimMarket, recorder, args, kwargs, reason: RejectReason) -> None:
    before = market.snapshot()
    assert reject_of(market.submit, *args, **kwargs) is reason
    assert recorder.events == []  # a reject calls nobody
    assert market.snapshot() == before  # and changes nothing


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        # Several faults at once: the earliest check in the venue's order wins.
        (("nobody", "XX", "?", Side.BUY, -1, 0.3), RejectReason.UNKNOWN_ACCOUNT),
        (("hk", "XX", "?", Side.BUY, -1, 0.3), RejectReason.UNKNOWN_INSTRUMENT),
        (("hk", "HK", "00700", Side.BUY, -1, 600.3), RejectReason.BAD_QUANTITY),
        (("hk", "HK", "00700", Side.BUY, 150, 600.3), RejectReason.BAD_LOT_SIZE),
        (("hk", "HK", "00700", Side.BUY, 10**6, 600.3), RejectReason.PRICE_OFF_TICK),
        (("fut", "SHFE", "rb2601", Side.BUY, 10**6, 9999.0), RejectReason.PRICE_OUT_OF_LIMITS),
    ],
)
def test_validation_order(market: SimMarket, args, reason: RejectReason) -> None:
    offset = Offset.OPEN if args[1] == "SHFE" else Offset.NONE
    assert reject_of(market.submit, *args, offset=offset) is reason


def test_market_order_without_liquidity_is_rejected(market: SimMarket) -> None:
    q = market.quote(*HK)
    depth = sum(size for _, size in q.asks)
    first = market.submit("hk", *HK, Side.BUY, depth, kind=OrderType.MARKET)
    assert first.status is SimOrderStatus.FILLED and first.filled_qty == depth
    assert market.quote(*HK).asks == ()  # taken liquidity is gone until the next step
    assert reject_of(market.submit, "hk", *HK, Side.BUY, 100, kind=OrderType.MARKET) is RejectReason.NO_LIQUIDITY
    market.step(*HK)
    assert market.quote(*HK).asks  # rebuilt


def test_market_order_fills_what_there_is_and_cancels_the_rest(market: SimMarket, recorder) -> None:
    q = market.quote(*HK)
    depth = sum(size for _, size in q.asks)
    order = market.submit("hk", *HK, Side.BUY, depth + 500, kind=OrderType.MARKET)
    assert order.status is SimOrderStatus.CANCELLED
    assert order.filled_qty == depth and order.price == 0.0
    trades = recorder.of("trade")
    assert [(t.price, t.qty) for t in trades] == list(q.asks)
    assert order.avg_fill_price == pytest.approx(sum(p * s for p, s in q.asks) / depth)
    kinds = recorder.kinds()
    assert kinds == ["trade"] * len(q.asks) + ["order", "quote"]


def test_limit_order_walks_levels_then_rests(market: SimMarket, recorder) -> None:
    (a1, s1), (a2, s2) = best(market, "ask", 0), best(market, "ask", 1)
    order = market.submit("hk", *HK, Side.BUY, s1 + s2 + 300, a2, remark="cid-1")
    assert order.status is SimOrderStatus.PARTIAL
    assert order.filled_qty == s1 + s2 and order.remark == "cid-1"
    assert [(t.price, t.qty) for t in recorder.of("trade")] == [(a1, s1), (a2, s2)]
    assert recorder.of("order")[-1] == order
    q = market.quote(*HK)
    assert q.bids[0] == (a2, 300)  # our remainder is now the best bid
    assert q.asks[0][0] > a2
    assert q.last == a2 and q.last_qty == s2
    funds = market.funds("hk")
    assert funds.frozen_cash == pytest.approx(300 * a2 * (1 + 0.00138))
    assert market.positions("hk")[0].long_qty == s1 + s2


def test_crossing_between_two_accounts(market: SimMarket, recorder) -> None:
    market.submit("hk2", *HK, Side.BUY, 1000, kind=OrderType.MARKET)  # hk2 gets stock to sell
    market.step(*HK)
    a1, s1 = best(market, "ask")
    seller = market.submit("hk2", *HK, Side.SELL, 600, a1)  # joins behind the crowd at a1
    assert seller.status is SimOrderStatus.QUEUED
    assert best(market, "ask") == (a1, s1 + 600)
    recorder.clear()
    buyer = market.submit("hk", *HK, Side.BUY, s1 + 400, a1)
    assert buyer.status is SimOrderStatus.FILLED
    trades = recorder.of("trade")
    # First the crowd at a1 (it was there first), then 400 from hk2's order, both sides reported.
    assert [(t.account, t.qty, t.price) for t in trades] == [
        ("hk", s1, a1), ("hk", 400, a1), ("hk2", 400, a1)]
    assert market.order("hk2", seller.order_id).status is SimOrderStatus.PARTIAL
    assert market.order("hk2", seller.order_id).filled_qty == 400
    assert best(market, "ask") == (a1, 200)
    hk_pos = {p.account: p.long_qty for a in ("hk", "hk2") for p in market.positions(a)}
    assert hk_pos == {"hk": s1 + 400, "hk2": 600}


def test_same_account_orders_do_not_trade_with_each_other(market: SimMarket) -> None:
    market.submit("hk", *HK, Side.BUY, 1000, best(market, "ask")[0])
    market.step(*HK)
    a1, _ = best(market, "ask")
    high = tick_up(market.instrument(*HK), tick_up(market.instrument(*HK), a1))
    sell = market.submit("hk", *HK, Side.SELL, 500, high)
    buy = market.submit("hk2", *HK, Side.BUY, 100, high)  # another account takes the crowd first
    assert buy.status is SimOrderStatus.FILLED
    assert market.order("hk", sell.order_id).filled_qty == 0


def test_resting_order_fills_when_a_later_step_crosses_it(market: SimMarket, recorder) -> None:
    b1, _ = best(market, "bid")
    price = tick_down(market.instrument(*HK), b1)
    order = market.submit("hk", *HK, Side.BUY, 100, price)
    assert order.status is SimOrderStatus.QUEUED
    recorder.clear()
    for _ in range(2000):
        market.step(*HK)
        if market.order("hk", order.order_id).status is SimOrderStatus.FILLED:
            break
    filled = market.order("hk", order.order_id)
    assert filled.status is SimOrderStatus.FILLED
    [trade] = recorder.of("trade")
    assert (trade.price, trade.qty, trade.order_id) == (price, 100, order.order_id)  # at its own price
    kinds = recorder.kinds()
    assert kinds[kinds.index("trade") + 1] == "order"
    assert market.funds("hk").frozen_cash == 0.0


def test_cancel_releases_frozen_cash_and_position(market: SimMarket, recorder) -> None:
    b1, _ = best(market, "bid")
    low = tick_down(market.instrument(*HK), tick_down(market.instrument(*HK), b1))
    cash = market.funds("hk").cash
    book_before = market.quote(*HK).bids
    order = market.submit("hk", *HK, Side.BUY, 200, low)
    assert market.quote(*HK).bids != book_before  # the order shows in the public book
    assert market.funds("hk").frozen_cash > 0
    assert market.funds("hk").available == pytest.approx(cash - market.funds("hk").frozen_cash)
    cancelled = market.cancel("hk", order.order_id)
    assert cancelled.status is SimOrderStatus.CANCELLED
    assert market.funds("hk").frozen_cash == 0.0
    assert recorder.of("order")[-1] == cancelled
    assert reject_of(market.cancel, "hk", order.order_id) is RejectReason.ORDER_NOT_ACTIVE
    assert reject_of(market.cancel, "hk2", order.order_id) is RejectReason.UNKNOWN_ORDER
    assert reject_of(market.cancel, "hk", "nope") is RejectReason.UNKNOWN_ORDER
    assert reject_of(market.cancel, "ghost", order.order_id) is RejectReason.UNKNOWN_ACCOUNT
    assert market.quote(*HK).bids == book_before


def test_sell_freezes_position_until_cancelled(market: SimMarket) -> None:
    a1, _ = best(market, "ask")
    market.submit("hk", *HK, Side.BUY, 300, a1)
    far = a1 + 50.0
    sell = market.submit("hk", *HK, Side.SELL, 200, far)
    assert market.positions("hk")[0].long_frozen == 200
    assert reject_of(market.submit, "hk", *HK, Side.SELL, 200, far) is RejectReason.INSUFFICIENT_POSITION
    market.cancel("hk", sell.order_id)
    assert market.positions("hk")[0].long_frozen == 0
    market.submit("hk", *HK, Side.SELL, 300, far)


def test_modify_keeps_id_and_priority_rules(market: SimMarket) -> None:
    inst = market.instrument(*HK)
    b1, _ = best(market, "bid")
    low = tick_down(inst, tick_down(inst, b1))
    first = market.submit("hk", *HK, Side.BUY, 200, low)
    second = market.submit("hk2", *HK, Side.BUY, 200, low)
    # Reducing quantity keeps the place in the queue.
    smaller = market.modify("hk", first.order_id, 100, low)
    assert smaller.order_id == first.order_id and smaller.qty == 100
    queue = market._by_key["HK.00700"].resting  # internal queue order, arrival first
    assert queue == [first.order_id, second.order_id]
    assert prio(market, first.order_id) < prio(market, second.order_id)
    # Growing it sends it to the back.
    market.modify("hk", first.order_id, 300, low)
    assert prio(market, first.order_id) > prio(market, second.order_id)
    # Frozen cash follows the new quantity.
    assert market.funds("hk").frozen_cash == pytest.approx(300 * low * (1 + 0.00138))
    # Bad modifies are refused with the submit checks.
    assert reject_of(market.modify, "hk", first.order_id, 0, low) is RejectReason.BAD_QUANTITY
    assert reject_of(market.modify, "hk", first.order_id, 150, low) is RejectReason.BAD_LOT_SIZE
    assert reject_of(market.modify, "hk", first.order_id, 100, low + 0.1) is RejectReason.PRICE_OFF_TICK
    assert reject_of(market.modify, "hk", first.order_id, 10**6, low) is RejectReason.INSUFFICIENT_CASH


def prio(market: SimMarket, order_id: str) -> int:
    return market._s.orders[order_id].prio


def test_modify_to_a_crossing_price_trades(market: SimMarket, recorder) -> None:
    inst = market.instrument(*HK)
    b1, _ = best(market, "bid")
    a1, s1 = best(market, "ask")
    order = market.submit("hk", *HK, Side.BUY, 100, tick_down(inst, b1))
    recorder.clear()
    moved = market.modify("hk", order.order_id, 100, a1)
    assert moved.status is SimOrderStatus.FILLED and moved.avg_fill_price == a1
    assert recorder.kinds()[:2] == ["trade", "order"]
    assert reject_of(market.modify, "hk", order.order_id, 200, a1) is RejectReason.ORDER_NOT_ACTIVE
    if s1 > 100:
        assert best(market, "ask") == (a1, s1 - 100)
    else:
        assert best(market, "ask")[0] > a1


def test_modify_cannot_go_below_filled(market: SimMarket) -> None:
    (a1, s1), (a2, _) = best(market, "ask", 0), best(market, "ask", 1)
    order = market.submit("hk", *HK, Side.BUY, s1 + 1000, a1)
    assert order.filled_qty == s1
    assert reject_of(market.modify, "hk", order.order_id, s1, a1) is RejectReason.BAD_QUANTITY
    market.modify("hk", order.order_id, s1 + 100, a1)
    assert market.order("hk", order.order_id).status is SimOrderStatus.PARTIAL
    assert a2 > a1


def test_orders_and_trades_listing(market: SimMarket) -> None:
    a1, _ = best(market, "ask")
    o1 = market.submit("hk", *HK, Side.BUY, 100, a1)
    o2 = market.submit("hk", *HK, Side.BUY, 100, tick_down(market.instrument(*HK), a1 - 5))
    assert [o.order_id for o in market.orders("hk")] == [o1.order_id, o2.order_id]
    assert int(o2.order_id) > int(o1.order_id)
    assert [t.order_id for t in market.trades("hk")] == [o1.order_id]
    assert market.orders("hk2") == [] and market.trades("hk2") == []
    assert reject_of(market.order, "hk", "404") is RejectReason.UNKNOWN_ORDER
