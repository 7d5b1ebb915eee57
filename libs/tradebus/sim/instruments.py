"""Instrument facts of the simulated market: tick ladders, limit prices, fees, the default list.

Prices are floats; every price the market produces goes through :func:`round_price` so that it is
exactly the float nearest to a whole number of ticks (no 3100.0000000004 on the wire).
"""

from __future__ import annotations

import math

from tradebus.sim.types import InstrumentKind, SimInstrument

# HKEX spread table, part A: (upper bound of the band, inclusive; tick inside the band).
# A price equal to a bound belongs to the lower band, so 10.00 has tick 0.01 and the next
# price above it is 10.02.
HK_SPREAD_TABLE: tuple[tuple[float, float], ...] = (
    (0.25, 0.001),
    (0.50, 0.005),
    (10.00, 0.01),
    (20.00, 0.02),
    (100.00, 0.05),
    (200.00, 0.10),
    (500.00, 0.20),
    (1000.00, 0.50),
    (2000.00, 1.00),
    (5000.00, 2.00),
    (9995.00, 5.00),
)
HK_MIN_PRICE = 0.01
HK_MAX_PRICE = 9995.00

_EPS = 1e-9
_DECIMALS = 6


def round_price(price: float) -> float:
    """Strip float noise; every tick in use has at most 3 decimals."""
    return round(price, _DECIMALS)


def hk_tick_size(price: float) -> float:
    """Tick of the HKEX band that contains ``price`` (band upper bounds are inclusive)."""
    for upper, tick in HK_SPREAD_TABLE:
        if price <= upper + _EPS:
            return tick
    return HK_SPREAD_TABLE[-1][1]


def _hk_tick_above(price: float) -> float:
    """Tick of the band just above ``price``: the step to the next valid price upwards."""
    for upper, tick in HK_SPREAD_TABLE:
        if price < upper - _EPS:
            return tick
    return HK_SPREAD_TABLE[-1][1]


def uses_hk_ladder(inst: SimInstrument) -> bool:
    return inst.market == "HK"


def tick_size(inst: SimInstrument, price: float) -> float:
    """Tick that applies at ``price`` (the step downwards from it)."""
    return hk_tick_size(price) if uses_hk_ladder(inst) else inst.price_tick


def tick_up(inst: SimInstrument, price: float) -> float:
    """Next valid price above an on-tick ``price``."""
    step = _hk_tick_above(price) if uses_hk_ladder(inst) else inst.price_tick
    return round_price(price + step)


def tick_down(inst: SimInstrument, price: float) -> float:
    """Next valid price below an on-tick ``price``."""
    return round_price(price - tick_size(inst, price))


def is_on_tick(inst: SimInstrument, price: float) -> bool:
    tick = tick_size(inst, price)
    units = price / tick
    return abs(units - round(units)) < 1e-6


def floor_to_tick(inst: SimInstrument, price: float) -> float:
    """Largest valid price <= ``price``."""
    tick = tick_size(inst, price)
    return round_price(math.floor(price / tick + 1e-6) * tick)


def ceil_to_tick(inst: SimInstrument, price: float) -> float:
    """Smallest valid price >= ``price``."""
    down = floor_to_tick(inst, price)
    return down if down >= price - _EPS else tick_up(inst, down)


def limit_prices(inst: SimInstrument, ref_price: float) -> tuple[float | None, float | None]:
    """(upper, lower) daily limit prices on the tick, inside the percentage band; None without limits."""
    if inst.limit_pct is None:
        return None, None
    upper = floor_to_tick(inst, ref_price * (1.0 + inst.limit_pct))
    lower = ceil_to_tick(inst, ref_price * (1.0 - inst.limit_pct))
    return upper, lower


def min_price(inst: SimInstrument) -> float:
    return HK_MIN_PRICE if uses_hk_ladder(inst) else inst.price_tick


def trade_fee(inst: SimInstrument, qty: int, price: float) -> float:
    """Fee of one fill (or of a whole order, for reserving cash): rate on notional plus per lot."""
    notional = qty * price * inst.multiplier
    return inst.fee_rate * notional + inst.fee_per_lot * (qty / inst.lot_size)


def _hk(symbol: str, name: str, ref: float) -> SimInstrument:
    # Commission ~0.03 % plus stamp duty 0.1 % plus exchange/SFC levies ~0.008 %.
    return SimInstrument(
        market="HK", symbol=symbol, name=name, kind=InstrumentKind.STOCK, currency="HKD",
        lot_size=100, price_tick=hk_tick_size(ref), multiplier=1.0, margin_rate=1.0,
        ref_price=ref, limit_pct=None, fee_rate=0.00138, fee_per_lot=0.0,
    )


def _us(symbol: str, name: str, ref: float) -> SimInstrument:
    # Per-share commission plus platform fee, ~0.0099 USD per share.
    return SimInstrument(
        market="US", symbol=symbol, name=name, kind=InstrumentKind.STOCK, currency="USD",
        lot_size=1, price_tick=0.01, multiplier=1.0, margin_rate=1.0,
        ref_price=ref, limit_pct=None, fee_rate=0.0, fee_per_lot=0.0099,
    )


def _cn(market: str, symbol: str, name: str, ref: float, *, limit: float = 0.10) -> SimInstrument:
    # Shanghai / Shenzhen A-shares: 0.01 CNY tick, 100-share lots, a daily limit of 10 % around the previous
    # close (20 % on ChiNext and STAR). Commission ~0.025 % plus stamp duty 0.05 % (sells) averaged in.
    return SimInstrument(
        market=market, symbol=symbol, name=name, kind=InstrumentKind.STOCK, currency="CNY",
        lot_size=100, price_tick=0.01, multiplier=1.0, margin_rate=1.0,
        ref_price=ref, limit_pct=limit, fee_rate=0.0005, fee_per_lot=0.0,
    )


def a_share_instruments() -> list[SimInstrument]:
    """Shanghai (SH) and Shenzhen (SZ) A-shares, served by opend_sim's quote API."""
    return [
        _cn("SH", "600519", "贵州茅台", 1448.0),
        _cn("SH", "601318", "中国平安", 56.21),
        _cn("SZ", "000001", "平安银行", 11.52),
        _cn("SZ", "300750", "宁德时代", 262.4, limit=0.20),
    ]


def _fut(
    market: str, symbol: str, name: str, *, tick: float, mult: int, margin: float, limit: float,
    ref: float, fee_rate: float = 0.0, fee_per_lot: float = 0.0,
) -> SimInstrument:
    return SimInstrument(
        market=market, symbol=symbol, name=name, kind=InstrumentKind.FUTURE, currency="CNY",
        lot_size=1, price_tick=tick, multiplier=float(mult), margin_rate=margin,
        ref_price=ref, limit_pct=limit, fee_rate=fee_rate, fee_per_lot=fee_per_lot,
    )


def default_instruments() -> list[SimInstrument]:
    """HK and US stocks and China futures with their real ticks, lots and multipliers."""
    return [
        _hk("00700", "TENCENT", 602.5),
        _hk("09988", "BABA-W", 158.3),
        _hk("03690", "MEITUAN-W", 98.55),
        _us("AAPL", "Apple Inc.", 232.14),
        _us("NVDA", "NVIDIA Corporation", 181.85),
        _us("TSLA", "Tesla, Inc.", 429.83),
        _fut("SHFE", "rb2601", "螺纹钢2601", tick=1.0, mult=10, margin=0.09, limit=0.06,
             ref=3112.0, fee_rate=0.0001),
        _fut("SHFE", "au2602", "黄金2602", tick=0.02, mult=1000, margin=0.14, limit=0.10,
             ref=918.56, fee_per_lot=10.0),
        _fut("DCE", "m2601", "豆粕2601", tick=1.0, mult=10, margin=0.08, limit=0.06,
             ref=2946.0, fee_per_lot=1.5),
        _fut("DCE", "i2601", "铁矿石2601", tick=0.5, mult=100, margin=0.13, limit=0.08,
             ref=781.5, fee_rate=0.0001),
        _fut("CZCE", "TA601", "PTA601", tick=2.0, mult=5, margin=0.08, limit=0.06,
             ref=4702.0, fee_per_lot=3.0),
        _fut("CZCE", "SR601", "白糖601", tick=1.0, mult=10, margin=0.08, limit=0.06,
             ref=5487.0, fee_per_lot=3.0),
        _fut("CFFEX", "IF2512", "沪深300指数2512", tick=0.2, mult=300, margin=0.12, limit=0.10,
             ref=4612.4, fee_rate=0.000023),
        _fut("CFFEX", "IC2512", "中证500指数2512", tick=0.2, mult=200, margin=0.14, limit=0.10,
             ref=7186.8, fee_rate=0.000023),
        _fut("INE", "sc2601", "原油2601", tick=0.1, mult=1000, margin=0.10, limit=0.08,
             ref=481.3, fee_per_lot=20.0),
    ]


# A real SHFE product code (wire rod), so a client that maps a CTP InstrumentID to its exchange by the
# product (ws_edge does, for instruments it has not learnt yet) finds SHFE; five digits, so no made-up
# symbol reads like a listed contract (wr2601 is four).
SYNTHETIC_FUTURE_PREFIX = "wr"
MAX_SYNTHETIC_FUTURES = 10_000


def synthetic_futures(count: int) -> list[SimInstrument]:
    """``count`` made-up SHFE futures ``wr00000``, ``wr00001``… for benchmarks that need many instruments.

    Each is shaped like rb2601 (tick 1, multiplier 10, five-level depth as SHFE sends it) with its own
    reference price, so each walks its own path.
    """
    if not 0 <= count <= MAX_SYNTHETIC_FUTURES:
        raise ValueError(f"synthetic futures: 0..{MAX_SYNTHETIC_FUTURES}, got {count}")
    return [_fut("SHFE", f"{SYNTHETIC_FUTURE_PREFIX}{n:05d}", f"SYNTHETIC {n:05d}", tick=1.0, mult=10, margin=0.09,
                 limit=0.06, ref=float(2000 + n), fee_rate=0.0001) for n in range(count)]
