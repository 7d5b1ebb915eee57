"""Futures: offsets on SHFE/INE versus the other exchanges, margin, P&L, the day roll."""

from __future__ import annotations

import pytest

from tradebus.sim import Offset, OrderType, RejectReason, Side, SimMarket, SimOrderStatus, SimReject

RB = ("SHFE", "rb2601")
M = ("DCE", "m2601")


def reject_of(call, *args, **kwargs) -> RejectReason:
    with pytest.raises(SimReject) as info:
        call(*args, **kwargs)
    return info.value.reason


def buy_open(market: SimMarket, inst: tuple[str, str], qty: int, account: str = "fut"):
    order = market.submit(account, *inst, Side.BUY, qty, kind=OrderType.MARKET, offset=Offset.OPEN)
    assert order.status is SimOrderStatus.FILLED
    return order


def sell(market: SimMarket, inst: tuple[str, str], qty: int, offset: Offset):
    return market.submit("fut", *inst, Side.SELL, qty, kind=OrderType.MARKET, offset=offset)


def long_of(market: SimMarket, symbol: str) -> tuple[int, int]:
    pos = next((p for p in market.positions("fut") if p.symbol == symbol), None)
    return (pos.long_qty, pos.long_today) if pos else (0, 0)


def test_shfe_distinguishes_today_and_yesterday(market: SimMarket) -> None:
    buy_open(market, RB, 3)
    assert long_of(market, "rb2601") == (3, 3)
    # A plain close on SHFE closes yesterday's position only.
    assert reject_of(sell, market, RB, 1, Offset.CLOSE) is RejectReason.INSUFFICIENT_POSITION
    assert reject_of(sell, market, RB, 1, Offset.CLOSE_YESTERDAY) is RejectReason.INSUFFICIENT_POSITION
    sell(market, RB, 1, Offset.CLOSE_TODAY)
    assert long_of(market, "rb2601") == (2, 2)
    market.new_trading_day()
    assert long_of(market, "rb2601") == (2, 0)
    assert reject_of(sell, market, RB, 1, Offset.CLOSE_TODAY) is RejectReason.INSUFFICIENT_POSITION
    buy_open(market, RB, 1)
    assert long_of(market, "rb2601") == (3, 1)
    sell(market, RB, 1, Offset.CLOSE)
    assert long_of(market, "rb2601") == (2, 1)
    sell(market, RB, 1, Offset.CLOSE_YESTERDAY)
    assert long_of(market, "rb2601") == (1, 1)
    assert reject_of(sell, market, RB, 1, Offset.CLOSE) is RejectReason.INSUFFICIENT_POSITION
    sell(market, RB, 1, Offset.CLOSE_TODAY)
    assert long_of(market, "rb2601") == (0, 0)


def test_dce_close_takes_any_position_yesterday_first(market: SimMarket) -> None:
    buy_open(market, M, 2)
    sell(market, M, 1, Offset.CLOSE)  # today's position closes with a plain close off SHFE/INE
    assert long_of(market, "m2601") == (1, 1)
    market.new_trading_day()
    buy_open(market, M, 2)
    assert long_of(market, "m2601") == (3, 2)
    sell(market, M, 2, Offset.CLOSE)  # 1 yesterday first, then 1 of today's
    assert long_of(market, "m2601") == (1, 1)
    assert reject_of(sell, market, M, 2, Offset.CLOSE) is RejectReason.INSUFFICIENT_POSITION
    sell(market, M, 1, Offset.CLOSE_TODAY)  # accepted, behaves as a close
    assert long_of(market, "m2601") == (0, 0)


def test_working_close_orders_freeze_the_right_bucket(market: SimMarket) -> None:
    buy_open(market, RB, 2)
    market.new_trading_day()
    buy_open(market, RB, 1)  # 2 yesterday, 1 today
    upper = market.quote(*RB).upper_limit
    far = upper - 1.0
    market.submit("fut", *RB, Side.SELL, 2, far, offset=Offset.CLOSE_YESTERDAY)
    assert reject_of(market.submit, "fut", *RB, Side.SELL, 1, far, offset=Offset.CLOSE) \
        is RejectReason.INSUFFICIENT_POSITION
    market.submit("fut", *RB, Side.SELL, 1, far, offset=Offset.CLOSE_TODAY)
    pos = market.positions("fut")[0]
    assert (pos.long_qty, pos.long_frozen) == (3, 3)


def test_short_side_open_and_close(market: SimMarket) -> None:
    q = market.quote(*M)
    market.submit("fut", *M, Side.SELL, 2, q.bids[0][0], offset=Offset.OPEN)
    pos = market.positions("fut")[0]
    assert (pos.short_qty, pos.short_today, pos.long_qty) == (2, 2, 0)
    assert pos.short_avg_price == q.bids[0][0]
    assert reject_of(market.submit, "fut", *M, Side.BUY, 3, q.asks[0][0], offset=Offset.CLOSE) \
        is RejectReason.INSUFFICIENT_POSITION
    market.submit("fut", *M, Side.BUY, 2, q.asks[0][0], offset=Offset.CLOSE)
    assert market.positions("fut") == []


def test_margin_pnl_and_fees(market: SimMarket) -> None:
    inst = market.instrument(*RB)
    q = market.quote(*RB)
    (bid, _), (ask, _) = q.bids[0], q.asks[0]
    start = market.funds("fut").cash
    market.submit("fut", *RB, Side.BUY, 2, ask, offset=Offset.OPEN)
    funds = market.funds("fut")
    last = market.quote(*RB).last
    assert funds.margin == pytest.approx(2 * last * inst.multiplier * inst.margin_rate)
    assert funds.unrealised_pnl == pytest.approx((last - ask) * 2 * inst.multiplier)
    assert funds.available == pytest.approx(funds.cash - funds.margin)
    assert funds.equity == pytest.approx(funds.cash + funds.unrealised_pnl)
    market.submit("fut", *RB, Side.SELL, 2, bid, offset=Offset.CLOSE_TODAY)
    funds = market.funds("fut")
    open_fee = inst.fee_rate * 2 * ask * inst.multiplier
    close_fee = inst.fee_rate * 2 * bid * inst.multiplier
    assert funds.realised_pnl == pytest.approx((bid - ask) * 2 * inst.multiplier)
    assert funds.fees == pytest.approx(open_fee + close_fee)
    assert funds.cash == pytest.approx(start + funds.realised_pnl - funds.fees)
    assert funds.margin == 0.0 and funds.frozen_cash == 0.0


def test_working_open_order_freezes_margin(market: SimMarket) -> None:
    inst = market.instrument("CFFEX", "IF2512")
    q = market.quote("CFFEX", "IF2512")
    price = q.lower_limit
    per_lot = price * inst.multiplier * inst.margin_rate + inst.fee_rate * price * inst.multiplier
    lots = int(market.funds("fut").available // per_lot)
    market.submit("fut", "CFFEX", "IF2512", Side.BUY, lots, price, offset=Offset.OPEN)
    assert market.funds("fut").frozen_cash == pytest.approx(lots * per_lot)
    assert reject_of(market.submit, "fut", "CFFEX", "IF2512", Side.BUY, 1, price, offset=Offset.OPEN) \
        is RejectReason.INSUFFICIENT_MARGIN


def test_new_trading_day_moves_reference_and_limits(market: SimMarket) -> None:
    for _ in range(50):
        market.step(*RB)
    open_order = market.submit("fut", *RB, Side.BUY, 1, market.quote(*RB).lower_limit, offset=Offset.OPEN)
    last = market.quote(*RB).last
    market.new_trading_day()
    q = market.quote(*RB)
    inst = market.instrument(*RB)
    assert inst.ref_price == last and q.prev_close == last
    assert q.upper_limit == pytest.approx(int(last * 1.06))  # tick 1: floor
    assert q.volume == 0 and q.turnover == 0.0
    assert market.orders("fut") == [] and market.trades("fut") == []
    assert market.funds("fut").frozen_cash == 0.0
    assert reject_of(market.cancel, "fut", open_order.order_id) is RejectReason.UNKNOWN_ORDER
