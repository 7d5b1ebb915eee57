"""changes() / apply_changes(): a snapshot plus the changes taken after it is the market of now."""

from __future__ import annotations

import pytest

from tradebus.sim import InstrumentKind, Offset, Side, SimMarket, SimOrder, SimTrade


def _touched(m: SimMarket) -> tuple[set[str], set[str], set[str]]:
    accounts: set[str] = set()
    orders: set[str] = set()
    instruments: set[str] = set()

    def on_order(o: SimOrder) -> None:
        accounts.add(o.account)
        orders.add(o.order_id)
        instruments.add(f"{o.market}.{o.symbol}")

    def on_trade(t: SimTrade) -> None:
        accounts.add(t.account)

    m.add_listener(on_order, on_trade)
    return accounts, orders, instruments


def test_a_snapshot_plus_changes_is_the_market_of_now(clock) -> None:
    m = SimMarket(seed=21, clock=clock)
    m.open_account("fut", kind=InstrumentKind.FUTURE, currency="CNY", cash=1_000_000.0)
    m.open_account("other", kind=InstrumentKind.FUTURE, currency="CNY", cash=1_000_000.0)
    high = m.quote("INE", "sc2601").upper_limit
    m.submit("fut", "INE", "sc2601", Side.BUY, 2, high, offset=Offset.OPEN)  # trades at once
    base = m.snapshot()
    marks = m.change_marks()
    accounts, orders, instruments = _touched(m)
    replica = SimMarket.restore(base, clock=clock)
    taken = []
    low = m.quote("INE", "sc2601").lower_limit
    resting = m.submit("other", "INE", "sc2601", Side.BUY, 3, low, offset=Offset.OPEN)
    for _ in range(2):  # each batch: what happened since the last one
        m.submit("fut", "INE", "sc2601", Side.SELL, 1, low, offset=Offset.CLOSE_TODAY)  # a close: fills at the best bid
        taken.append(m.changes(accounts, orders, instruments, marks))
        accounts.clear(), orders.clear(), instruments.clear()
    m.cancel("other", resting.order_id)
    taken.append(m.changes(accounts, orders, instruments, marks))
    fut = [next(a for a in ch.accounts if a.account == "fut") for ch in taken[:2]]
    assert [(a.trades_from, len(a.trades)) for a in fut] == [(1, 1), (2, 1)]  # tails, not the whole day
    for ch in taken:
        replica.apply_changes(ch)
    for name in m.accounts():
        assert replica.funds(name) == m.funds(name)
        assert replica.positions(name) == m.positions(name)
        assert replica.orders(name) == m.orders(name)
        assert replica.trades(name) == m.trades(name)
    assert replica.quote("INE", "sc2601") == m.quote("INE", "sc2601")
    for ch in taken:  # applying again changes nothing
        replica.apply_changes(ch)
    assert replica.trades("fut") == m.trades("fut")
    # A change that continues a list past its end means one went missing.
    fresh = SimMarket.restore(base, clock=clock)
    with pytest.raises(ValueError, match="a change is missing"):
        fresh.apply_changes(taken[1])
