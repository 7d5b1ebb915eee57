"""Per-instrument time and sales and intraday K-lines, derived from the market's successive quotes.

A step's trading shows up as growth of the cumulative day volume; that growth at the step's last
price is one ticker print and goes into every bar period. Bars are labelled by their end time in the
exchange's local time, as Futu labels minute K-lines (the 09:30-09:31 bar is "09:31:00").
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from opend_sim.api import timefmt
from opend_sim.api.mapping import KL_TYPE_MINUTES, TICKER_BUY, TICKER_NEUTRAL, TICKER_SELL
from tradebus.sim import Quote

MAX_TICKS = 1000  # get_rt_ticker returns at most 1000
MAX_BARS = 1000  # get_cur_kline returns at most 1000


@dataclass(frozen=True, slots=True)
class Tick:
    ts_ns: int
    sequence: int
    direction: int
    price: float
    volume: int
    turnover: float


@dataclass(slots=True)
class Bar:
    label: datetime  # bar end, exchange-local
    open: float
    high: float
    low: float
    close: float
    volume: int
    turnover: float
    last_close: float  # close of the bar before (or the previous close for the first bar)

    def add(self, price: float, volume: int, turnover: float) -> None:
        self.add_bar(price, price, price, volume, turnover)

    def add_bar(self, high: float, low: float, close: float, volume: int, turnover: float) -> None:
        """Extend this bar by a later, shorter one."""
        self.high = max(self.high, high)
        self.low = min(self.low, low)
        self.close = close
        self.volume += volume
        self.turnover += turnover


def bar_label(local: datetime, minutes: int) -> datetime:
    """The label of the bar ``local`` falls in: its end for intraday bars, midnight for a day (0)."""
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if minutes == 0:
        return midnight
    elapsed = local.hour * 60 + local.minute
    return midnight + timedelta(minutes=(elapsed // minutes + 1) * minutes)


class PeriodBars:
    def __init__(self, minutes: int) -> None:
        self.minutes = minutes
        self.bars: deque[Bar] = deque(maxlen=MAX_BARS)

    def update(self, local: datetime, quote: Quote, volume: int, turnover: float) -> None:
        label = bar_label(local, self.minutes)
        current = self.bars[-1] if self.bars else None
        if self.minutes == 0:
            self._update_day(label, quote, current)
            return
        if current is None or current.label != label:
            last_close = current.close if current is not None else quote.prev_close
            self.bars.append(Bar(label, quote.last, quote.last, quote.last, quote.last, volume, turnover, last_close))
        else:
            current.add(quote.last, volume, turnover)

    def _update_day(self, label: datetime, quote: Quote, current: Bar | None) -> None:
        # the day bar is the quote's own day statistics
        bar = Bar(label, quote.open or quote.last, quote.high or quote.last, quote.low or quote.last, quote.last,
                  quote.volume, quote.turnover, quote.prev_close)
        if current is not None and current.label == label:
            self.bars[-1] = bar
        else:
            self.bars.append(bar)


class InstrumentTape:
    def __init__(self, quote: Quote) -> None:
        self.market = quote.market
        self._prev = quote
        self._sequence = 0
        self.ticks: deque[Tick] = deque(maxlen=MAX_TICKS)
        self.bars: dict[int, PeriodBars] = {kl: PeriodBars(minutes) for kl, minutes in KL_TYPE_MINUTES.items()}
        self._update_bars(quote, 0, 0.0)

    @property
    def quote(self) -> Quote:
        return self._prev

    def update(self, quote: Quote) -> Tick | None:
        """Take the next quote; return the ticker print it implies, if anything traded."""
        prev, self._prev = self._prev, quote
        volume = quote.volume - prev.volume
        turnover = quote.turnover - prev.turnover
        if volume < 0:  # a new trading day restarted the cumulative counters
            volume, turnover = quote.volume, quote.turnover
        self._update_bars(quote, volume, turnover)
        if volume <= 0:
            return None
        self._sequence += 1
        tick = Tick(quote.ts_ns, self._sequence, _direction(quote.last, prev), quote.last, volume, turnover)
        self.ticks.append(tick)
        return tick

    def _update_bars(self, quote: Quote, volume: int, turnover: float) -> None:
        local = timefmt.local(self.market, quote.ts_ns)
        for period in self.bars.values():
            period.update(local, quote, volume, turnover)

    def latest_bars(self, kl_type: int, num: int) -> list[Bar]:
        bars = self.bars[kl_type].bars
        return list(bars)[-num:] if num > 0 else []


def _direction(price: float, prev: Quote) -> int:
    """Aggressor side, judged against the book standing before the print."""
    if prev.asks and price >= prev.asks[0][0]:
        return TICKER_BUY
    if prev.bids and price <= prev.bids[0][0]:
        return TICKER_SELL
    return TICKER_NEUTRAL
