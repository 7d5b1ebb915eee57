"""Past trading days of a simulated instrument, made up on demand and consistent with the live walk.

The live market starts each instrument at its previous close (``Quote.prev_close``); the history ends
there: the last trading day before today closes exactly at that price, and each earlier close is
derived backwards from the one after it by a seeded daily return. Every number of a day comes from
a generator keyed by (seed, instrument, date), so a day reads the same in every request, whatever
range asked for it, and two runs with one seed agree.

A day's minute path runs from its open to its close and touches exactly its high and its low, so
minute bars aggregate to the day bar (open, high, low, close and volume; turnover to within rounding).
Prices are on the instrument's tick; A-shares and futures keep to their daily limit around the
previous close. History reaches back at most :data:`MAX_YEARS` years.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from tradebus.sim.calendar import calendar_of, is_trading_day, previous_trading_day, session_minutes
from tradebus.sim.instruments import floor_to_tick, min_price, tick_up
from tradebus.sim.rng import Rng
from tradebus.sim.types import InstrumentKind, SimInstrument

MAX_YEARS = 20
DAILY_SIGMA = {InstrumentKind.STOCK: 0.018, InstrumentKind.FUTURE: 0.012}
GAP_SIGMA = 0.004  # open against the previous close
RANGE_SIGMA = 0.007  # how far the high and low reach beyond the open/close
VOLUME_SIGMA = 0.35
DAY_LOTS = {"HK": 80_000, "US": 3_000_000, "SH": 60_000, "SZ": 60_000}  # typical daily volume, in lots
_DEFAULT_DAY_LOTS = 50_000


@dataclass(frozen=True, slots=True)
class HistBar:
    start: datetime  # exchange-local, naive: the start of the minute (or midnight of the day)
    open: float
    high: float
    low: float
    close: float
    volume: int
    turnover: float
    last_close: float  # close of the bar before (the previous day's close for a day or its first minute)


def nearest_tick(inst: SimInstrument, price: float) -> float:
    """The valid price nearest to ``price`` (never below the minimum). Monotone, so it keeps max/min."""
    down = max(floor_to_tick(inst, price), min_price(inst))
    up = tick_up(inst, down)
    return up if up - price < price - down else down


class InstrumentHistory:
    """History of one instrument up to the trading day before ``today`` (exchange-local date)."""

    def __init__(self, inst: SimInstrument, seed: int, today: date, prev_close: float) -> None:
        self.inst = inst
        self.calendar = calendar_of(inst.market)
        self.today = today
        self.last_day = previous_trading_day(self.calendar, today)
        self.first_day = today - timedelta(days=round(365.25 * MAX_YEARS))
        self._seed = seed
        self._closes: dict[date, float] = {self.last_day: prev_close}  # unrounded
        self._oldest = self.last_day
        self._minutes = session_minutes(self.calendar)

    def _rng(self, what: str, day: date) -> Rng:
        return Rng.for_key(self._seed, f"history:{what}:{self.inst.market}.{self.inst.symbol}:{day.isoformat()}")

    def _band(self, prev: float) -> tuple[float, float]:
        pct = self.inst.limit_pct
        low = max(prev * (1.0 - pct), min_price(self.inst)) if pct is not None else min_price(self.inst)
        return low, (prev * (1.0 + pct) if pct is not None else math.inf)

    def _clamp(self, price: float, prev: float) -> float:
        low, high = self._band(prev)
        return min(max(price, low), high)

    def _day_return(self, day: date) -> float:
        return DAILY_SIGMA[self.inst.kind] * self._rng("close", day).gauss()

    def close(self, day: date) -> float:
        """The (unrounded) close of trading day ``day``, derived backwards from the anchor."""
        while day < self._oldest:
            earlier = previous_trading_day(self.calendar, self._oldest)
            after = self._closes[self._oldest]
            # the close before a day is what that day's return started from (inside the day's limit band)
            before = after / math.exp(self._day_return(self._oldest))
            pct = self.inst.limit_pct
            if pct is not None:
                before = min(max(before, after / (1.0 + pct)), after / (1.0 - pct))
            self._closes[earlier] = before
            self._oldest = earlier
        return self._closes[day]

    def trading_days(self, first: date, last: date) -> list[date]:
        """The trading days with a history in ``first..last`` (never today or later)."""
        first, last = max(first, self.first_day), min(last, self.last_day)
        days: list[date] = []
        day = first
        while day <= last:
            if is_trading_day(self.calendar, day):
                days.append(day)
            day += timedelta(days=1)
        return days

    def _day_prices(self, day: date) -> tuple[float, float, float, float, float, int]:
        """(previous close, open, high, low, close, volume) of a day, unrounded."""
        prev = self.close(previous_trading_day(self.calendar, day))
        close = self.close(day)
        rng = self._rng("day", day)
        open_ = self._clamp(prev * math.exp(GAP_SIGMA * rng.gauss()), prev)
        high = self._clamp(max(open_, close) * math.exp(abs(RANGE_SIGMA * rng.gauss())), prev)
        low = self._clamp(min(open_, close) * math.exp(-abs(RANGE_SIGMA * rng.gauss())), prev)
        lots = DAY_LOTS.get(self.inst.market, _DEFAULT_DAY_LOTS) * math.exp(VOLUME_SIGMA * rng.gauss())
        return prev, open_, high, low, close, max(1, round(lots)) * self.inst.lot_size

    def day_bar(self, day: date) -> HistBar:
        prev, open_, high, low, close, volume = self._day_prices(day)
        tick = self._tick
        bar_open, bar_high, bar_low, bar_close = tick(open_), tick(high), tick(low), tick(close)
        typical = (bar_open + bar_high + bar_low + bar_close) / 4.0
        return HistBar(datetime.combine(day, time()), bar_open, bar_high, bar_low, bar_close, volume,
                       round(volume * typical * self.inst.multiplier, 2), tick(prev))

    def minute_bars(self, day: date) -> list[HistBar]:
        """One bar per trading minute of ``day``; together they make :meth:`day_bar`."""
        prev, open_, high, low, close, volume = self._day_prices(day)
        path = self._path(day, open_, high, low, close)
        volumes = self._split(day, volume, len(path) - 1)
        tick = self._tick
        bars: list[HistBar] = []
        last_close = tick(prev)
        for i, end in enumerate(self._minutes):
            start = datetime.combine(day, end) - timedelta(minutes=1)
            first, last = tick(path[i]), tick(path[i + 1])
            bar = HistBar(start, first, max(first, last), min(first, last), last, volumes[i],
                          round(volumes[i] * (first + last) / 2.0 * self.inst.multiplier, 2), last_close)
            bars.append(bar)
            last_close = last
        return bars

    def _tick(self, price: float) -> float:
        return nearest_tick(self.inst, price)

    def _path(self, day: date, open_: float, high: float, low: float, close: float) -> list[float]:
        """Prices at each minute boundary: a random bridge from open to close, stretched to the day's range."""
        n = len(self._minutes)
        rng = self._rng("minutes", day)
        walk = [0.0]
        for _ in range(n):
            walk.append(walk[-1] + rng.gauss())
        raw = [math.log(open_) + (math.log(close) - math.log(open_)) * i / n + 0.002 * (walk[i] - walk[-1] * i / n)
               for i in range(n + 1)]
        prices = [math.exp(x) for x in raw]
        prices[0], prices[-1] = open_, close
        lo, hi = min(open_, close), max(open_, close)
        raw_low, raw_high = min(prices), max(prices)
        out = [_stretch(p, lo, hi, raw_low, raw_high, low, high) for p in prices]
        if n >= 3:  # the day's extremes are touched somewhere inside the day
            at_high = 1 + rng.randint(0, n - 2)
            at_low = 1 + rng.randint(0, n - 3)
            at_low += at_low >= at_high
            out[at_high], out[at_low] = high, low
        return out

    def _split(self, day: date, volume: int, parts: int) -> list[int]:
        """``volume`` in whole lots over ``parts`` minutes, random weights, exact total."""
        lot = self.inst.lot_size
        lots = volume // lot
        rng = self._rng("volume", day)
        weights = [0.2 + rng.uniform() for _ in range(parts)]
        total = sum(weights)
        shares = [int(lots * w / total) for w in weights]
        shares[-1] += lots - sum(shares)
        return [s * lot for s in shares]


def _stretch(p: float, lo: float, hi: float, raw_low: float, raw_high: float, low: float, high: float) -> float:
    """Map the raw path's range onto [low, high], keeping everything between open and close as it is."""
    if p < lo:
        return low + (p - raw_low) * (lo - low) / (lo - raw_low) if lo > raw_low else lo
    if p > hi:
        return hi + (p - hi) * (high - hi) / (raw_high - hi) if raw_high > hi else hi
    return p
