"""Trading calendars and the made-up history of ``tradebus.sim`` (no clock: dates are given)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from tradebus.sim import SimInstrument, a_share_instruments, default_instruments
from tradebus.sim.calendar import Phase, is_trading_day, phase, previous_trading_day, session_minutes, trading_days
from tradebus.sim.history import InstrumentHistory

TODAY = date(2026, 12, 4)  # a Friday


def inst(market: str, symbol: str) -> SimInstrument:
    return next(i for i in default_instruments() + a_share_instruments() if (i.market, i.symbol) == (market, symbol))


@pytest.mark.parametrize(("calendar", "minutes"), [("HK", 330), ("US", 390), ("CN", 240)])
def test_session_minutes(calendar: str, minutes: int) -> None:
    assert len(session_minutes(calendar)) == minutes


@pytest.mark.parametrize(("calendar", "when", "expected"), [
    ("HK", datetime(2026, 12, 4, 9, 10), Phase.AUCTION),
    ("HK", datetime(2026, 12, 4, 12, 30), Phase.LUNCH),
    ("HK", datetime(2026, 12, 4, 16, 5), Phase.CLOSING_AUCTION),
    ("HK", datetime(2026, 12, 5, 10, 0), Phase.CLOSED),  # Saturday
    ("HK", datetime(2026, 12, 25, 10, 0), Phase.CLOSED),  # Christmas
    ("US", datetime(2026, 12, 4, 5, 0), Phase.PRE_MARKET),
    ("US", datetime(2026, 12, 4, 10, 0), Phase.AFTERNOON),
    ("US", datetime(2026, 12, 4, 17, 0), Phase.AFTER_HOURS),
    ("CN", datetime(2026, 12, 4, 9, 20), Phase.AUCTION),
    ("CN", datetime(2026, 12, 4, 14, 0), Phase.AFTERNOON),
    ("CN", datetime(2026, 10, 6, 10, 0), Phase.CLOSED),  # Golden Week
])
def test_phases(calendar: str, when: datetime, expected: Phase) -> None:
    assert phase(calendar, when) is expected


def test_trading_days_skip_weekends_and_holidays() -> None:
    days = list(trading_days("US", date(2026, 11, 23), date(2026, 11, 30)))
    assert days == [date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 27),
                    date(2026, 11, 30)]
    assert previous_trading_day("HK", date(2026, 12, 28)) == date(2026, 12, 24)
    assert not is_trading_day("CN", date(2027, 1, 1)) and is_trading_day("CN", date(2027, 1, 4))


def test_history_is_anchored_deterministic_and_consistent() -> None:
    stock = inst("HK", "00700")
    hist = InstrumentHistory(stock, 7, TODAY, 602.5)
    assert hist.day_bar(date(2026, 12, 3)).close == 602.5
    again = InstrumentHistory(stock, 7, TODAY, 602.5)
    assert again.day_bar(date(2026, 3, 2)) == hist.day_bar(date(2026, 3, 2))
    assert InstrumentHistory(stock, 8, TODAY, 602.5).day_bar(date(2026, 3, 2)) != hist.day_bar(date(2026, 3, 2))
    day = hist.day_bar(date(2026, 6, 15))
    minutes = hist.minute_bars(date(2026, 6, 15))
    assert (minutes[0].open, minutes[-1].close) == (day.open, day.close)
    assert max(b.high for b in minutes) == day.high and min(b.low for b in minutes) == day.low
    assert sum(b.volume for b in minutes) == day.volume


def test_a_share_history_keeps_to_its_daily_limit() -> None:
    stock = inst("SH", "600519")
    hist = InstrumentHistory(stock, 3, TODAY, 1448.0)
    for day in hist.trading_days(date(2024, 1, 1), date(2026, 12, 3)):
        bar = hist.day_bar(day)
        for price in (bar.open, bar.high, bar.low, bar.close):
            assert abs(price / bar.last_close - 1) <= 0.10 + 0.01 / bar.last_close
