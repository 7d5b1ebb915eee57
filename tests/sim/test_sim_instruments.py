"""Tick ladder, instrument attributes and daily limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradebus.sim import InstrumentKind, SimMarket, default_instruments, hk_tick_size
from tradebus.sim.instruments import (
    ceil_to_tick,
    floor_to_tick,
    is_on_tick,
    limit_prices,
    tick_down,
    tick_up,
    trade_fee,
)


@pytest.mark.parametrize(
    ("price", "tick"),
    [
        (0.01, 0.001), (0.25, 0.001), (0.251, 0.005), (0.50, 0.005), (0.51, 0.01), (10.0, 0.01),
        (10.02, 0.02), (20.0, 0.02), (20.05, 0.05), (100.0, 0.05), (100.1, 0.1), (200.0, 0.1),
        (200.2, 0.2), (500.0, 0.2), (500.5, 0.5), (1000.0, 0.5), (1001.0, 1.0), (2000.0, 1.0),
        (2002.0, 2.0), (5000.0, 2.0), (5005.0, 5.0), (9995.0, 5.0),
    ],
)
def test_hkex_spread_table(price: float, tick: float) -> None:
    assert hk_tick_size(price) == tick


def _hk():
    return next(i for i in default_instruments() if i.symbol == "00700")


@pytest.mark.parametrize(
    ("price", "up", "down"),
    [(10.0, 10.02, 9.99), (20.0, 20.05, 19.98), (100.0, 100.1, 99.95), (0.5, 0.51, 0.495),
     (602.5, 603.0, 602.0), (500.0, 500.5, 499.8)],
)
def test_tick_steps_cross_band_edges(price: float, up: float, down: float) -> None:
    inst = _hk()
    assert tick_up(inst, price) == up
    assert tick_down(inst, price) == down


def test_on_tick_follows_the_ladder() -> None:
    inst = _hk()
    assert is_on_tick(inst, 602.5)
    assert not is_on_tick(inst, 602.2)  # 0.2 is the tick below 500, not above
    assert is_on_tick(inst, 9.99)
    assert not is_on_tick(inst, 10.01)  # above 10.00 the tick is 0.02
    assert not is_on_tick(inst, 10.03)
    assert is_on_tick(inst, 15.02)
    assert not is_on_tick(inst, 15.01)


@given(st.floats(min_value=0.01, max_value=9990.0, allow_nan=False))
@settings(max_examples=200)
def test_floor_and_ceil_land_on_the_ladder(price: float) -> None:
    inst = _hk()
    lo, hi = floor_to_tick(inst, price), ceil_to_tick(inst, price)
    assert is_on_tick(inst, lo) and is_on_tick(inst, hi)
    assert lo <= price + 1e-9 and hi >= price - 1e-9
    assert hi in (lo, tick_up(inst, lo))


EXPECTED = {
    # symbol: (market, tick, multiplier, lot)
    "00700": ("HK", None, 1.0, 100), "09988": ("HK", None, 1.0, 100), "03690": ("HK", None, 1.0, 100),
    "AAPL": ("US", 0.01, 1.0, 1), "NVDA": ("US", 0.01, 1.0, 1), "TSLA": ("US", 0.01, 1.0, 1),
    "rb2601": ("SHFE", 1.0, 10.0, 1), "au2602": ("SHFE", 0.02, 1000.0, 1),
    "m2601": ("DCE", 1.0, 10.0, 1), "i2601": ("DCE", 0.5, 100.0, 1),
    "TA601": ("CZCE", 2.0, 5.0, 1), "SR601": ("CZCE", 1.0, 10.0, 1),
    "IF2512": ("CFFEX", 0.2, 300.0, 1), "IC2512": ("CFFEX", 0.2, 200.0, 1),
    "sc2601": ("INE", 0.1, 1000.0, 1),
}


def test_default_instruments_have_real_attributes() -> None:
    insts = {i.symbol: i for i in default_instruments()}
    assert set(insts) == set(EXPECTED)
    for symbol, (market, tick, mult, lot) in EXPECTED.items():
        inst = insts[symbol]
        assert (inst.market, inst.multiplier, inst.lot_size) == (market, mult, lot)
        if tick is not None:
            assert inst.price_tick == tick
        assert is_on_tick(inst, inst.ref_price)
        assert inst.fee_rate > 0 or inst.fee_per_lot > 0
        if inst.kind is InstrumentKind.FUTURE:
            assert inst.currency == "CNY"
            assert 0.08 <= inst.margin_rate <= 0.15
            assert inst.limit_pct is not None and 0.04 <= inst.limit_pct <= 0.10
        else:
            assert inst.limit_pct is None and inst.margin_rate == 1.0


def test_limits_are_on_tick_and_inside_the_band() -> None:
    m = SimMarket()
    for inst in m.instruments():
        quote = m.quote(inst.market, inst.symbol)
        if inst.kind is InstrumentKind.STOCK:
            assert quote.upper_limit is None and quote.lower_limit is None
            continue
        assert (quote.upper_limit, quote.lower_limit) == limit_prices(inst, inst.ref_price)
        assert is_on_tick(inst, quote.upper_limit) and is_on_tick(inst, quote.lower_limit)
        pct = inst.limit_pct
        assert inst.ref_price * (1 + pct) - inst.price_tick < quote.upper_limit <= inst.ref_price * (1 + pct)
        assert inst.ref_price * (1 - pct) <= quote.lower_limit < inst.ref_price * (1 - pct) + inst.price_tick


def test_fees_are_plausible() -> None:
    insts = {i.symbol: i for i in default_instruments()}
    hk = trade_fee(insts["00700"], 100, 600.0)  # 60,000 HKD of stock
    assert 30 < hk < 150
    assert trade_fee(insts["AAPL"], 100, 230.0) == pytest.approx(0.99)
    assert trade_fee(insts["au2602"], 2, 900.0) == pytest.approx(20.0)
    assert trade_fee(insts["rb2601"], 1, 3000.0) == pytest.approx(3.0)
