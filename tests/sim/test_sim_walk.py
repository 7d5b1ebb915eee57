"""The seeded price process, the synthetic book and the quote statistics."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from tradebus.sim import InstrumentKind, SimInstrument, SimMarket
from tradebus.sim.instruments import is_on_tick

Clock = Callable[[], int]


@pytest.fixture
def fake_clock(clock_factory: Callable[[], Clock]) -> Callable[[], Clock]:
    return clock_factory


def _run(seed: int, steps: int, fake_clock: Callable[[], Clock]) -> list:
    m = SimMarket(seed=seed, clock=fake_clock())
    return [q for _ in range(steps) for q in m.step()]


def test_same_seed_same_quotes(fake_clock: Callable[[], Clock]) -> None:
    assert _run(5, 60, fake_clock) == _run(5, 60, fake_clock)


def test_different_seed_different_path(fake_clock: Callable[[], Clock]) -> None:
    a = [q.last for q in _run(5, 60, fake_clock)]
    b = [q.last for q in _run(6, 60, fake_clock)]
    assert a != b


def test_one_instrument_stream_does_not_depend_on_stepping_the_others(fake_clock: Callable[[], Clock]) -> None:
    m1 = SimMarket(seed=5, clock=fake_clock())
    m2 = SimMarket(seed=5, clock=fake_clock())
    only = [m1.step("SHFE", "rb2601")[0].last for _ in range(50)]
    every = [next(q for q in m2.step() if q.symbol == "rb2601").last for _ in range(50)]
    assert only == every


def test_quotes_are_on_tick_inside_limits_and_sequenced(fake_clock: Callable[[], Clock]) -> None:
    m = SimMarket(seed=9, clock=fake_clock())
    seqs = {i.symbol: 0 for i in m.instruments()}
    prev_volume = {i.symbol: 0 for i in m.instruments()}
    for _ in range(400):
        for q in m.step():
            inst = m.instrument(q.market, q.symbol)
            assert q.seq == seqs[q.symbol] + 1
            seqs[q.symbol] = q.seq
            prices = [q.last] + [p for p, _ in q.bids + q.asks]
            assert all(is_on_tick(inst, p) for p in prices), q
            assert all(size > 0 and size % inst.lot_size == 0 for _, size in q.bids + q.asks)
            if q.bids and q.asks:
                assert q.bids[0][0] < q.asks[0][0]
            assert [p for p, _ in q.bids] == sorted((p for p, _ in q.bids), reverse=True)
            assert [p for p, _ in q.asks] == sorted(p for p, _ in q.asks)
            assert q.low <= q.last <= q.high
            assert q.volume >= prev_volume[q.symbol]
            prev_volume[q.symbol] = q.volume
            if inst.kind is InstrumentKind.FUTURE:
                assert all(q.lower_limit <= p <= q.upper_limit for p in prices)
                assert q.open_interest >= 0
            else:
                assert q.open_interest == 0


def test_book_has_five_levels_each_side_away_from_limits(fake_clock: Callable[[], Clock]) -> None:
    m = SimMarket(seed=9, clock=fake_clock())
    q = m.step("HK", "00700")[0]
    assert len(q.bids) == 5 and len(q.asks) == 5


def test_walk_has_bursts_of_larger_moves(fake_clock: Callable[[], Clock]) -> None:
    m = SimMarket(seed=4, clock=fake_clock())
    rets = []
    prev = m.quote("US", "AAPL").last
    for _ in range(3000):
        last = m.step("US", "AAPL")[0].last
        rets.append(abs(math.log(last / prev)))
        prev = last
    # Median move is around a cent or two; bursts bring moves many times as large.
    median = sorted(rets)[len(rets) // 2]
    assert max(rets) > 8 * median


def test_futures_stay_inside_tight_limits(fake_clock: Callable[[], Clock]) -> None:
    # A 0.1 % limit on a 1-point tick leaves three prices: the walk must pin at the limits.
    inst = SimInstrument(market="DCE", symbol="x", name="x", kind=InstrumentKind.FUTURE, currency="CNY",
                         lot_size=1, price_tick=1.0, multiplier=10.0, margin_rate=0.1, ref_price=3000.0,
                         limit_pct=0.001, fee_rate=0.0, fee_per_lot=1.0)
    m = SimMarket([inst], seed=1, clock=fake_clock())
    saw_limit_up = False
    for _ in range(500):
        q = m.step()[0]
        assert q.lower_limit == 2997.0 and q.upper_limit == 3003.0
        assert all(2997.0 <= p <= 3003.0 for p, _ in q.bids + q.asks)
        saw_limit_up |= not q.asks and q.bids[0][0] == 3003.0
    assert saw_limit_up
