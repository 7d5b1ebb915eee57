"""The price process and the synthetic market-maker book of one instrument.

Each step moves a log-normal random walk (weakly pulled back to the day's reference so a long
run stays plausible) and, now and then, starts a burst: a short spell of much larger moves.
Futures never leave their daily limits. The book is rebuilt around the walk each step: a
one-tick spread and five levels a side, sizes in whole board lots.
"""

from __future__ import annotations

import math

from tradebus.sim.instruments import floor_to_tick, min_price, round_price, tick_down, tick_up
from tradebus.sim.state import InstState, Level
from tradebus.sim.types import InstrumentKind

BOOK_DEPTH = 5
SIGMA = {InstrumentKind.STOCK: 0.0008, InstrumentKind.FUTURE: 0.0005}  # per-step log-return stdev
MEAN_REVERSION = 0.002  # fraction of the log-distance to the reference closed per step
BURST_CHANCE = 0.01
BURST_STEPS = (5, 20)
BURST_SCALE = (3.0, 8.0)
PRINT_CHANCE = 0.7  # chance that the crowd trades at the touch in a step
MAX_LEVEL_LOTS = {"HK": 40, "US": 300}  # per level; futures use FUTURE_LEVEL_LOTS
FUTURE_LEVEL_LOTS = 80
_EPS = 1e-9


def advance_fair(ist: InstState, ref_price: float) -> None:
    """One step of the walk, including the burst state machine."""
    rng = ist.rng
    if ist.burst_left > 0:
        ist.burst_left -= 1
    elif rng.chance(BURST_CHANCE):
        ist.burst_left = rng.randint(*BURST_STEPS)
        ist.burst_scale = BURST_SCALE[0] + rng.uniform() * (BURST_SCALE[1] - BURST_SCALE[0])
    scale = ist.burst_scale if ist.burst_left > 0 else 1.0
    pull = -MEAN_REVERSION * math.log(ist.fair / ref_price)
    ist.fair = ist.fair * math.exp(pull + SIGMA[ist.inst.kind] * scale * rng.gauss())
    ist.fair = clamp_to_limits(ist, ist.fair)


def clamp_to_limits(ist: InstState, price: float) -> float:
    low = ist.lower if ist.lower is not None else min_price(ist.inst)
    high = ist.upper if ist.upper is not None else math.inf
    return min(max(price, low), high)


def level_qty(ist: InstState, depth: int) -> int:
    max_lots = MAX_LEVEL_LOTS.get(ist.inst.market, FUTURE_LEVEL_LOTS)
    # Deeper levels are a little thicker, as in a real book.
    return ist.rng.randint(1, max_lots) * (1 + depth // 2) * ist.inst.lot_size


def rebuild_book(ist: InstState, prio: int) -> None:
    """Fresh five-level book around the walk; at a limit price the far side is empty."""
    inst = ist.inst
    if ist.upper is not None and ist.fair >= ist.upper - _EPS:
        best_bid, best_ask = ist.upper, None
    elif ist.lower is not None and ist.fair <= ist.lower + _EPS:
        best_bid, best_ask = None, ist.lower
    else:
        best_bid = max(floor_to_tick(inst, ist.fair), min_price(inst))
        best_ask = tick_up(inst, best_bid)
    ist.bids = _levels(ist, best_bid, down=True)
    ist.asks = _levels(ist, best_ask, down=False)
    ist.book_prio = prio


def _levels(ist: InstState, best: float | None, *, down: bool) -> list[Level]:
    levels: list[Level] = []
    price = best
    while price is not None and len(levels) < BOOK_DEPTH and _inside(ist, price):
        levels.append(Level(price=price, qty=level_qty(ist, len(levels))))
        price = tick_down(ist.inst, price) if down else tick_up(ist.inst, price)
    return levels


def _inside(ist: InstState, price: float) -> bool:
    if price < min_price(ist.inst) - _EPS:
        return False
    if ist.upper is not None and price > ist.upper + _EPS:
        return False
    return not (ist.lower is not None and price < ist.lower - _EPS)


def crowd_print(ist: InstState) -> tuple[float, int] | None:
    """The anonymous crowd's trade in this step, at the touch, or None when it stays quiet."""
    if not ist.rng.chance(PRINT_CHANCE):
        return None
    sides = ist.bids[:1] + ist.asks[:1]
    if not sides:
        return None
    level = sides[ist.rng.randint(0, len(sides) - 1)]
    lots = ist.rng.randint(1, max(1, MAX_LEVEL_LOTS.get(ist.inst.market, FUTURE_LEVEL_LOTS) // 4))
    return round_price(level.price), lots * ist.inst.lot_size


def drift_open_interest(ist: InstState, qty: int) -> None:
    """Each crowd print opens or closes some contracts; open interest never goes negative."""
    if ist.inst.kind is InstrumentKind.FUTURE:
        ist.open_interest = max(0, ist.open_interest + ist.rng.randint(-qty, qty))
