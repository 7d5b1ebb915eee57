"""Property tests: random submits, cancels, modifies, steps and day rolls keep the books honest."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradebus.sim import (
    InstrumentKind,
    Offset,
    OrderType,
    Side,
    SimMarket,
    SimOrder,
    SimOrderStatus,
    SimReject,
    SimTrade,
    walk,
)
from tradebus.sim.instruments import tick_down, tick_up

ACCOUNTS = {  # name: (kind, currency, cash, instruments it trades)
    "hk_a": (InstrumentKind.STOCK, "HKD", 400_000.0, [("HK", "00700"), ("HK", "03690")]),
    "hk_b": (InstrumentKind.STOCK, "HKD", 400_000.0, [("HK", "00700"), ("HK", "03690")]),
    "us_a": (InstrumentKind.STOCK, "USD", 50_000.0, [("US", "AAPL")]),
    "fu_a": (InstrumentKind.FUTURE, "CNY", 300_000.0, [("SHFE", "rb2601"), ("DCE", "m2601"), ("INE", "sc2601")]),
    "fu_b": (InstrumentKind.FUTURE, "CNY", 300_000.0, [("SHFE", "rb2601"), ("DCE", "m2601"), ("INE", "sc2601")]),
}
NAMES = sorted(ACCOUNTS)
FUT_OFFSETS = [Offset.OPEN, Offset.OPEN, Offset.CLOSE, Offset.CLOSE_TODAY, Offset.CLOSE_YESTERDAY]

# Every action carries all parameters; its kind decides which it uses. Weights keep sessions busy:
# mostly submits and steps, some cancels and modifies, an occasional day roll.
KINDS = ["submit"] * 10 + ["cancel"] * 2 + ["modify"] * 2 + ["step"] * 5 + ["day"]
action_st = st.tuples(
    st.sampled_from(KINDS), st.sampled_from(NAMES), st.integers(0, 2), st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1, 6), st.one_of(st.none(), st.integers(-3, 3)), st.sampled_from(FUT_OFFSETS),
)


@dataclass
class Ledger:
    """What the listeners reported, kept across day rolls."""

    trades: list[SimTrade] = field(default_factory=list)
    last_order: dict[str, SimOrder] = field(default_factory=dict)

    def on_order(self, order: SimOrder) -> None:
        self.last_order[order.order_id] = order

    def on_trade(self, trade: SimTrade) -> None:
        self.trades.append(trade)


def build(seed: int) -> tuple[SimMarket, Ledger]:
    market = SimMarket(seed=seed)
    for name, (kind, currency, cash, _) in ACCOUNTS.items():
        market.open_account(name, kind=kind, currency=currency, cash=cash)
    ledger = Ledger()
    market.add_listener(ledger.on_order, ledger.on_trade)
    # Start with something held (yesterday's, after the roll) so sells and closes have material.
    for name, (kind, _, _, keys) in ACCOUNTS.items():
        for key in keys[:2]:
            qty = 2 * market.instrument(*key).lot_size
            if kind is InstrumentKind.STOCK:
                market.submit(name, *key, Side.BUY, qty, kind=OrderType.MARKET)
            else:
                for side in Side:
                    market.submit(name, *key, side, qty, kind=OrderType.MARKET, offset=Offset.OPEN)
    market.new_trading_day()
    return market, ledger


def price_near(market: SimMarket, key: tuple[str, str], ticks: int) -> float:
    inst = market.instrument(*key)
    q = market.quote(*key)
    price = q.bids[0][0] if q.bids else q.asks[0][0]
    for _ in range(abs(ticks)):
        price = tick_up(inst, price) if ticks > 0 else tick_down(inst, price)
    return price


def apply(market: SimMarket, action: tuple) -> None:
    kind = action[0]
    if kind == "step":
        market.step()
    elif kind == "day":
        market.new_trading_day()
    elif kind == "submit":
        _, name, idx, side, lots, ticks, offset = action
        acc_kind, _, _, keys = ACCOUNTS[name]
        key = keys[idx % len(keys)]
        qty = lots * market.instrument(*key).lot_size
        offset = offset if acc_kind is InstrumentKind.FUTURE else Offset.NONE
        if ticks is None:
            market.submit(name, *key, side, qty, kind=OrderType.MARKET, offset=offset)
        else:
            market.submit(name, *key, side, qty, price_near(market, key, ticks), offset=offset)
    else:
        _, _, pick, _, lots, ticks, _ = action
        working = [o for n in NAMES for o in market.orders(n) if o.status in _WORKING]
        if not working:
            return
        order = working[pick % len(working)]
        if kind == "cancel":
            market.cancel(order.account, order.order_id)
        else:
            lot = market.instrument(order.market, order.symbol).lot_size
            price = price_near(market, (order.market, order.symbol), ticks or 0)
            market.modify(order.account, order.order_id, order.filled_qty + lots * lot, price)


_WORKING = (SimOrderStatus.QUEUED, SimOrderStatus.PARTIAL)


def check_invariants(market: SimMarket, ledger: Ledger) -> None:
    trades_by_order: dict[str, list[SimTrade]] = defaultdict(list)
    for t in ledger.trades:
        assert t.qty > 0 and t.fee >= 0
        trades_by_order[t.order_id].append(t)
    for name in NAMES:
        orders = market.orders(name)
        for o in orders:
            fills = trades_by_order.get(o.order_id, [])
            assert 0 <= o.filled_qty <= o.qty  # no fill exceeds its order
            assert sum(t.qty for t in fills) == o.filled_qty
            if o.filled_qty:
                avg = sum(t.qty * t.price for t in fills) / o.filled_qty
                assert o.avg_fill_price == pytest.approx(avg)
            assert (o.status is SimOrderStatus.FILLED) == (o.filled_qty == o.qty)
            assert ledger.last_order[o.order_id] == o  # listeners saw the final state
        check_account(market, ledger, name, any(o.status in _WORKING for o in orders))


def check_account(market: SimMarket, ledger: Ledger, name: str, working: bool) -> None:
    kind, _, initial, _ = ACCOUNTS[name]
    funds = market.funds(name)
    positions = market.positions(name)
    mine = [t for t in ledger.trades if t.account == name]
    assert funds.fees == pytest.approx(sum(t.fee for t in mine))
    assert funds.frozen_cash >= -1e-9
    net: dict[tuple[str, str, str], int] = defaultdict(int)
    for t in mine:
        if kind is InstrumentKind.STOCK:
            net[(t.market, t.symbol, "long")] += t.qty if t.side is Side.BUY else -t.qty
        else:
            long_side = (t.side is Side.BUY) == (t.offset is Offset.OPEN)
            sign = 1 if t.offset is Offset.OPEN else -1
            net[(t.market, t.symbol, "long" if long_side else "short")] += sign * t.qty
    held = {(p.market, p.symbol, "long"): p.long_qty for p in positions}
    held.update({(p.market, p.symbol, "short"): p.short_qty for p in positions})
    assert {k: v for k, v in held.items() if v} == {k: v for k, v in net.items() if v}  # quantity conserved
    for p in positions:
        assert p.long_qty >= 0 and p.short_qty >= 0
        assert 0 <= p.long_today <= p.long_qty and 0 <= p.short_today <= p.short_qty
        assert 0 <= p.long_frozen <= p.long_qty and 0 <= p.short_frozen <= p.short_qty
        if not working:
            assert p.long_frozen == 0 and p.short_frozen == 0
    if not working:
        assert funds.frozen_cash == 0.0
    if kind is InstrumentKind.STOCK:
        assert all(p.short_qty == 0 for p in positions)
        cost = sum(p.long_qty * p.long_avg_price for p in positions)
        # Cash conservation: what left the cash is in the positions at cost, in fees, or was P&L.
        assert funds.cash + cost + funds.fees - funds.realised_pnl == pytest.approx(initial, rel=1e-9)
        assert funds.cash >= -1e-6 and funds.available >= -1e-6
        assert funds.equity == pytest.approx(funds.cash + funds.market_value)
    else:
        assert funds.cash + funds.fees - funds.realised_pnl == pytest.approx(initial, rel=1e-9)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), actions=st.lists(action_st, min_size=15, max_size=50))
def test_random_sessions_keep_the_books(seed: int, actions: list[tuple]) -> None:
    market, ledger = build(seed)
    for action in actions:
        before = market.snapshot()
        seen = len(ledger.trades), dict(ledger.last_order)
        try:
            apply(market, action)
        except SimReject:
            assert market.snapshot() == before  # a refusal changes nothing
            assert (len(ledger.trades), ledger.last_order) == seen  # and tells nobody
        check_invariants(market, ledger)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), actions=st.lists(action_st, min_size=5, max_size=25))
def test_snapshot_restore_mid_session(seed: int, actions: list[tuple]) -> None:
    market, _ = build(seed)
    for action in actions:
        try:
            apply(market, action)
        except SimReject:
            pass
        data = market.snapshot()
        assert SimMarket.restore(data).snapshot() == data


# Two accounts on one instrument each, few steps: user orders meet each other, not just the crowd.
pair_action_st = st.tuples(
    st.sampled_from(["submit"] * 8 + ["cancel", "modify", "step", "step"]),
    st.sampled_from(["hk_a", "hk_b", "fu_a", "fu_b"]), st.just(0), st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1, 3), st.one_of(st.none(), st.integers(-2, 2)), st.sampled_from(FUT_OFFSETS),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), actions=st.lists(pair_action_st, min_size=15, max_size=50))
def test_thin_books_make_accounts_trade_with_each_other(seed: int, actions: list[tuple]) -> None:
    # With one or two lots per synthetic level the crowd is soon used up and user orders meet.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(walk, "MAX_LEVEL_LOTS", {"HK": 1, "US": 2})
        mp.setattr(walk, "FUTURE_LEVEL_LOTS", 1)
        market, ledger = build(seed)
        for action in actions:
            try:
                apply(market, action)
            except SimReject:
                pass
            check_invariants(market, ledger)
