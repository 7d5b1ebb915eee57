"""K-lines over the past: the sim's made-up history joined to the live tape of today.

Days before today come from :class:`tradebus.sim.history.InstrumentHistory` (anchored at the live
quote's previous close, so the day before today closes where the live walk started); today comes from
the tape the live walk fills, so the last bar of every K-line type agrees with the live price. Bars
longer than a day (week, month, quarter, year) group the day bars and are labelled with the first
trading day they contain; intraday bars are labelled with their end time, as the live ones.

Pages: at most ``limit`` bars per reply; ``nextReqKey`` carries the offset of the next one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from opend_sim.api import timefmt
from opend_sim.api.mapping import KL_DAY, KL_TYPE_MINUTES, KL_TYPE_PERIOD
from opend_sim.api.tape import Bar, InstrumentTape, bar_label
from tradebus.sim import Quote, SimInstrument
from tradebus.sim.calendar import session_minutes
from tradebus.sim.history import HistBar, InstrumentHistory

_ANY_DAY = date(2000, 1, 3)
_MINUTE = timedelta(minutes=1)
PeriodKey = Callable[[date], tuple[int, int]]
PERIOD_KEY: dict[str, PeriodKey] = {
    "week": lambda d: d.isocalendar()[:2],
    "month": lambda d: (d.year, d.month),
    "quarter": lambda d: (d.year, (d.month - 1) // 3),
    "year": lambda d: (d.year, 0),
}


def is_supported(kl_type: int) -> bool:
    return kl_type in KL_TYPE_MINUTES or kl_type in KL_TYPE_PERIOD


class HistoryBook:
    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._histories: dict[tuple[str, str], InstrumentHistory] = {}

    def history(self, inst: SimInstrument, quote: Quote) -> InstrumentHistory:
        """The history ending the trading day before the live quote's date, at its previous close."""
        today = timefmt.local(inst.market, quote.ts_ns).date()
        key = (inst.market, inst.symbol)
        hist = self._histories.get(key)
        if hist is None or hist.today != today or hist.close(hist.last_day) != quote.prev_close:
            hist = InstrumentHistory(inst, self._seed, today, quote.prev_close)
            self._histories[key] = hist
        return hist

    # -- ranges (request_history_kline) ---------------------------------------------------------

    def page(self, inst: SimInstrument, tape: InstrumentTape, kl_type: int, begin: datetime, end: datetime,
             offset: int, limit: int) -> tuple[list[Bar], int | None]:
        """Bars labelled in [begin, end] (exchange-local, aware), from ``offset``; and the next offset."""
        hist = self.history(inst, tape.quote)
        wanted = limit + 1  # one more tells whether another page follows
        if kl_type in KL_TYPE_PERIOD:
            bars = self._period_bars(hist, tape, kl_type, begin, end)[offset:offset + wanted]
        else:
            bars = self._intraday_or_day(hist, tape, kl_type, begin, end, offset, wanted)
        if len(bars) > limit:
            return bars[:limit], offset + limit
        return bars, None

    def _intraday_or_day(self, hist: InstrumentHistory, tape: InstrumentTape, kl_type: int, begin: datetime,
                         end: datetime, offset: int, wanted: int) -> list[Bar]:
        minutes = KL_TYPE_MINUTES[kl_type]
        zone = timefmt.MARKET_TZ[hist.inst.market]
        per_day = 1 if minutes == 0 else len(
            {bar_label(datetime.combine(_ANY_DAY, end_) - _MINUTE, minutes) for end_ in session_minutes(hist.calendar)})
        out: list[Bar] = []
        skip = offset
        for day in hist.trading_days(begin.date(), end.date()):
            inside = begin.date() < day < end.date()
            if inside and skip >= per_day:  # a whole day before the page: count it without making it
                skip -= per_day
                continue
            for bar in self._day_bars(hist, day, minutes, zone):
                if not begin <= bar.label <= end:
                    continue
                if skip:
                    skip -= 1
                    continue
                out.append(bar)
                if len(out) >= wanted:
                    return out
        for bar in self._today(hist, tape, kl_type, begin, end):
            if skip:
                skip -= 1
                continue
            out.append(bar)
            if len(out) >= wanted:
                break
        return out

    @staticmethod
    def _day_bars(hist: InstrumentHistory, day: date, minutes: int, zone: ZoneInfo) -> list[Bar]:
        if minutes == 0:
            return [_bar(hist.day_bar(day), zone)]
        bars: list[Bar] = []
        for minute in hist.minute_bars(day):
            label = bar_label(_aware(minute.start, zone), minutes)
            if bars and bars[-1].label == label:
                bars[-1].add_bar(minute.high, minute.low, minute.close, minute.volume, minute.turnover)
            else:
                bars.append(Bar(label, minute.open, minute.high, minute.low, minute.close, minute.volume,
                                minute.turnover, minute.last_close))
        return bars

    @staticmethod
    def _today(hist: InstrumentHistory, tape: InstrumentTape, kl_type: int, begin: datetime,
               end: datetime) -> list[Bar]:
        if not begin.date() <= hist.today <= end.date():
            return []
        return [bar for bar in tape.bars[kl_type].bars
                if bar.label.date() == hist.today and begin <= bar.label <= end] if \
            KL_TYPE_MINUTES[kl_type] else [b for b in tape.bars[KL_DAY].bars if b.label.date() == hist.today]

    def _period_bars(self, hist: InstrumentHistory, tape: InstrumentTape, kl_type: int, begin: datetime,
                     end: datetime) -> list[Bar]:
        zone = timefmt.MARKET_TZ[hist.inst.market]
        days = [_bar(hist.day_bar(day), zone) for day in hist.trading_days(begin.date(), end.date())]
        if begin.date() <= hist.today <= end.date():
            days += [b for b in tape.bars[KL_DAY].bars if b.label.date() == hist.today]
        return group_days(days, PERIOD_KEY[KL_TYPE_PERIOD[kl_type]])

    # -- the latest bars (get_cur_kline and K-line pushes of the longer types) ------------------

    def latest_period_bars(self, inst: SimInstrument, tape: InstrumentTape, kl_type: int, num: int) -> list[Bar]:
        """The last ``num`` week/month/quarter/year bars, the current (unfinished) one last."""
        hist = self.history(inst, tape.quote)
        key = PERIOD_KEY[KL_TYPE_PERIOD[kl_type]]
        zone = timefmt.MARKET_TZ[inst.market]
        first = hist.first_day
        # enough days for num periods: walk back a period at a time (a year of days is cheap)
        span_days = {"week": 7, "month": 31, "quarter": 92, "year": 366}[KL_TYPE_PERIOD[kl_type]]
        start = max(first, date.fromordinal(hist.today.toordinal() - span_days * (num + 1)))
        begin = datetime.combine(start, datetime.min.time(), zone)
        end = datetime.combine(hist.today, datetime.max.time(), zone)
        bars = self._period_bars(hist, tape, kl_type, begin, end)
        if bars and key(bars[0].label.date()) == key(start) and start != first:
            bars = bars[1:]  # the first period is cut at ``start``: incomplete
        return bars[-num:] if num > 0 else []


def group_days(days: Iterable[Bar], key: PeriodKey) -> list[Bar]:
    out: list[Bar] = []
    current: tuple[int, int] | None = None
    for day in days:
        k = key(day.label.date())
        if out and k == current:
            out[-1].add_bar(day.high, day.low, day.close, day.volume, day.turnover)
        else:
            out.append(Bar(day.label, day.open, day.high, day.low, day.close, day.volume, day.turnover,
                           day.last_close))
            current = k
    return out


def _aware(naive: datetime, zone: ZoneInfo) -> datetime:
    return naive.replace(tzinfo=zone)


def _bar(hist_bar: HistBar, zone: ZoneInfo) -> Bar:
    return Bar(_aware(hist_bar.start, zone), hist_bar.open, hist_bar.high, hist_bar.low, hist_bar.close,
               hist_bar.volume, hist_bar.turnover, hist_bar.last_close)
