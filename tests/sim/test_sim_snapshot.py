"""snapshot() / restore() carry the whole state: a restored market continues exactly as the original."""

from __future__ import annotations

from tradebus.sim import InstrumentKind, Offset, OrderType, Side, SimMarket


def _busy_market(clock) -> SimMarket:
    m = SimMarket(seed=21, clock=clock)
    m.open_account("hk", kind=InstrumentKind.STOCK, currency="HKD", cash=5_000_000.0)
    m.open_account("fut", kind=InstrumentKind.FUTURE, currency="CNY", cash=1_000_000.0)
    m.submit("hk", "HK", "09988", Side.BUY, 1000, kind=OrderType.MARKET)
    for _ in range(5):
        m.step()
    bid = m.quote("HK", "09988").bids[2][0]
    m.submit("hk", "HK", "09988", Side.BUY, 500, bid, remark="resting")
    m.submit("fut", "INE", "sc2601", Side.SELL, 3, kind=OrderType.MARKET, offset=Offset.OPEN)
    m.new_trading_day()
    m.submit("fut", "INE", "sc2601", Side.SELL, 2, kind=OrderType.MARKET, offset=Offset.OPEN)
    low = m.quote("INE", "sc2601").lower_limit
    m.submit("fut", "INE", "sc2601", Side.BUY, 1, low, offset=Offset.CLOSE_YESTERDAY)
    return m


def test_round_trip_is_exact(clock) -> None:
    m = _busy_market(clock)
    data = m.snapshot()
    restored = SimMarket.restore(data, clock=clock)
    assert restored.snapshot() == data
    for name in m.accounts():
        assert restored.funds(name) == m.funds(name)
        assert restored.positions(name) == m.positions(name)
        assert restored.orders(name) == m.orders(name)
        assert restored.trades(name) == m.trades(name)
    for inst in m.instruments():
        assert restored.quote(inst.market, inst.symbol) == m.quote(inst.market, inst.symbol)
    assert restored.instruments() == m.instruments()


def test_restored_market_continues_identically(clock_factory) -> None:
    m = _busy_market(clock_factory())
    data = m.snapshot()
    # Same clock readings from here on for both, so every field must match.
    a = SimMarket.restore(data, clock=clock_factory())
    b = SimMarket.restore(data, clock=clock_factory())
    for _ in range(30):
        assert a.step() == b.step()
    oa = a.submit("hk", "HK", "09988", Side.SELL, 500, kind=OrderType.MARKET)
    ob = b.submit("hk", "HK", "09988", Side.SELL, 500, kind=OrderType.MARKET)
    assert oa == ob and int(oa.order_id) > max(int(o.order_id) for o in m.orders("fut"))
    assert a.snapshot() == b.snapshot()


def test_restore_accepts_its_own_snapshot_twice(clock) -> None:
    data = _busy_market(clock).snapshot()
    assert SimMarket.restore(SimMarket.restore(data).snapshot()).snapshot() == data
