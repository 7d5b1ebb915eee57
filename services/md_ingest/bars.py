"""1-minute bars from ticks, one builder per instrument.

Prices come from ``Tick.last``; volume and turnover from the *cumulative* day figures, as the
difference to the previous tick (the baseline), so a coalesced or deduplicated push loses nothing:

* the first tick after start only sets the baseline (what traded before we listened is not ours);
* after a venue reconnect the baseline is kept, so the trades that happened during the outage land
  in the bar of the first tick after it;
* a new ``trading_day`` restarts the cumulative count: the whole cumulative figure is new volume;
* a cumulative figure that goes *down* within a day (a venue reset) rebases without adding volume.

A bar is emitted when a tick of a later minute arrives, or by :meth:`BarBuilder.flush` once its
minute plus a grace period is over — so the 11:29 bar is out at 11:30:02, not after the lunch break.
Minutes without ticks produce no bar. Ticks without a last price (no trade yet) are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from md_ingest.sessions import MINUTE_NS, bar_start
from tradebus.schemas.market import Bar, Tick


@dataclass(slots=True)
class _Open:
    start_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: int
    turnover: float
    open_interest: int | None
    tick_count: int
    trading_day: str | None


class BarBuilder:
    def __init__(self, venue: str, exchange: str, symbol: str) -> None:
        self.venue, self.exchange, self.symbol = venue, exchange, symbol
        self._bar: _Open | None = None
        self._base: tuple[int, float, str | None] | None = None  # cumulative volume, turnover, day
        self._closed_until = 0  # end of the last emitted bar: a later tick never reopens its minute

    def _delta(self, tick: Tick) -> tuple[int, float]:
        base = self._base
        self._base = (tick.volume, tick.turnover, tick.trading_day)
        if base is None:
            return 0, 0.0
        volume, turnover, day = base
        if tick.trading_day is not None and day is not None and tick.trading_day != day:
            return tick.volume, tick.turnover
        if tick.volume < volume:
            return 0, 0.0
        return tick.volume - volume, max(0.0, tick.turnover - turnover)

    def on_tick(self, tick: Tick) -> list[Bar]:
        """Fold one tick in; returns the bars it closed (zero or one)."""
        if tick.last is None:
            return []
        volume, turnover = self._delta(tick)
        start = max(bar_start(self.exchange, tick.ts_event), self._closed_until)
        bar = self._bar
        closed: list[Bar] = []
        if bar is not None and start > bar.start_ns:
            closed.append(self._emit(bar))
            bar = None
        if bar is None:
            self._bar = _Open(start, tick.last, tick.last, tick.last, tick.last, volume, turnover,
                              tick.open_interest, 1, tick.trading_day)
            return closed
        bar.volume += volume
        bar.turnover += turnover
        bar.tick_count += 1
        if start == bar.start_ns:  # a late tick (older minute) adds its volume but not its price
            bar.high = max(bar.high, tick.last)
            bar.low = min(bar.low, tick.last)
            bar.close = tick.last
            bar.open_interest = tick.open_interest
        return closed

    def flush(self, now_ns: int, grace_ns: int) -> Bar | None:
        """Close the open bar if its minute ended more than ``grace_ns`` ago."""
        bar = self._bar
        if bar is None or now_ns < bar.start_ns + MINUTE_NS + grace_ns:
            return None
        self._bar = None
        return self._emit(bar)

    def _emit(self, bar: _Open) -> Bar:
        self._closed_until = bar.start_ns + MINUTE_NS
        return Bar(venue=self.venue, exchange=self.exchange, symbol=self.symbol, interval="1m",
                   start_ns=bar.start_ns, end_ns=bar.start_ns + MINUTE_NS, open=bar.open, high=bar.high,
                   low=bar.low, close=bar.close, volume=bar.volume, turnover=round(bar.turnover, 6),
                   open_interest=bar.open_interest, tick_count=bar.tick_count, trading_day=bar.trading_day)
