"""Stock-market calendars of the simulated venues: trading days, sessions and the market phase.

A trading day is a weekday that is not in the holiday table. The table is deliberately small: each
market's fixed-date public holidays (every year) plus the moving ones of 2025 and 2026 (lunar new
year, Easter, Golden Week…), written from the exchanges' published calendars. Outside those two
years only the fixed dates are known, so a moving holiday then reads as a trading day. Half days
(HK's Christmas Eve, the US day after Thanksgiving) are whole days here.

Times are the exchange's local time. ``CN`` is the calendar of Shanghai and Shenzhen (``SH``/``SZ``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from enum import StrEnum

_T = time
Session = tuple[time, time]

CALENDAR_OF_MARKET: dict[str, str] = {"HK": "HK", "US": "US", "SH": "CN", "SZ": "CN"}
TIMEZONE: dict[str, str] = {"HK": "Asia/Hong_Kong", "US": "America/New_York", "CN": "Asia/Shanghai"}

# Continuous trading sessions (the auctions are phases, see PHASES).
SESSIONS: dict[str, tuple[Session, ...]] = {
    "HK": ((_T(9, 30), _T(12)), (_T(13), _T(16))),
    "US": ((_T(9, 30), _T(16)),),
    "CN": ((_T(9, 30), _T(11, 30)), (_T(13), _T(15))),
}

# Holidays that fall on the same date every year: (month, day).
_FIXED: dict[str, frozenset[tuple[int, int]]] = {
    "HK": frozenset({(1, 1), (5, 1), (7, 1), (10, 1), (12, 25), (12, 26)}),
    "US": frozenset({(1, 1), (6, 19), (7, 4), (12, 25)}),
    "CN": frozenset({(1, 1), (5, 1), (10, 1), (10, 2), (10, 3)}),
}


def _days(*isodates: str) -> frozenset[date]:
    return frozenset(date.fromisoformat(d) for d in isodates)


# Moving holidays (and weekday substitutes of fixed ones) of 2025 and 2026.
_DATED: dict[str, frozenset[date]] = {
    "HK": _days("2025-01-29", "2025-01-30", "2025-01-31", "2025-04-04", "2025-04-18", "2025-04-21",
                "2025-05-05", "2025-10-07", "2025-10-29",
                "2026-02-17", "2026-02-18", "2026-02-19", "2026-04-03", "2026-04-06", "2026-04-07",
                "2026-05-25", "2026-06-19", "2026-10-19"),
    "US": _days("2025-01-09", "2025-01-20", "2025-02-17", "2025-04-18", "2025-05-26", "2025-09-01",
                "2025-11-27",
                "2026-01-19", "2026-02-16", "2026-04-03", "2026-05-25", "2026-07-03", "2026-09-07",
                "2026-11-26"),
    "CN": _days("2025-01-28", "2025-01-29", "2025-01-30", "2025-01-31", "2025-02-03", "2025-02-04",
                "2025-04-04", "2025-05-02", "2025-05-05", "2025-06-02", "2025-10-06", "2025-10-07",
                "2025-10-08",
                "2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19", "2026-02-20", "2026-02-23",
                "2026-04-06", "2026-05-04", "2026-05-05", "2026-06-19", "2026-09-25", "2026-10-05",
                "2026-10-06", "2026-10-07"),
}


class Phase(StrEnum):
    """Where a market stands in its day (what Futu calls the market state)."""

    CLOSED = "closed"  # not a trading day, or after the day's last phase
    PRE_MARKET = "pre_market"  # US 04:00-09:30
    AUCTION = "auction"  # opening auction: HK 09:00-09:20, CN 09:15-09:25
    WAITING_OPEN = "waiting_open"  # between the auction and the open
    MORNING = "morning"
    LUNCH = "lunch"
    AFTERNOON = "afternoon"  # the afternoon session (HK, CN); the whole regular session in the US
    CLOSING_AUCTION = "closing_auction"  # HK 16:00-16:10
    AFTER_HOURS = "after_hours"  # US 16:00-20:00


# (start, phase): the phase runs until the next entry's start; before the first one it is CLOSED.
PHASES: dict[str, tuple[tuple[time, Phase], ...]] = {
    "HK": ((_T(9), Phase.AUCTION), (_T(9, 20), Phase.WAITING_OPEN), (_T(9, 30), Phase.MORNING),
           (_T(12), Phase.LUNCH), (_T(13), Phase.AFTERNOON), (_T(16), Phase.CLOSING_AUCTION),
           (_T(16, 10), Phase.CLOSED)),
    "US": ((_T(4), Phase.PRE_MARKET), (_T(9, 30), Phase.AFTERNOON), (_T(16), Phase.AFTER_HOURS),
           (_T(20), Phase.CLOSED)),
    "CN": ((_T(9, 15), Phase.AUCTION), (_T(9, 25), Phase.WAITING_OPEN), (_T(9, 30), Phase.MORNING),
           (_T(11, 30), Phase.LUNCH), (_T(13), Phase.AFTERNOON), (_T(15), Phase.CLOSED)),
}


def calendar_of(market: str) -> str:
    """The calendar an instrument market follows (``SH`` and ``SZ`` follow ``CN``)."""
    try:
        return CALENDAR_OF_MARKET[market]
    except KeyError:
        raise ValueError(f"no trading calendar for market {market!r}") from None


def is_holiday(calendar: str, day: date) -> bool:
    return (day.month, day.day) in _FIXED[calendar] or day in _DATED[calendar]


def is_trading_day(calendar: str, day: date) -> bool:
    return day.weekday() < 5 and not is_holiday(calendar, day)


def trading_days(calendar: str, first: date, last: date) -> Iterator[date]:
    """Every trading day from ``first`` to ``last``, both included, in order."""
    day = first
    while day <= last:
        if is_trading_day(calendar, day):
            yield day
        day += timedelta(days=1)


def previous_trading_day(calendar: str, day: date) -> date:
    """The last trading day strictly before ``day``."""
    day -= timedelta(days=1)
    while not is_trading_day(calendar, day):
        day -= timedelta(days=1)
    return day


def phase(calendar: str, local: datetime) -> Phase:
    """The phase at an exchange-local time."""
    if not is_trading_day(calendar, local.date()):
        return Phase.CLOSED
    now = local.time()
    current = Phase.CLOSED
    for start, name in PHASES[calendar]:
        if now < start:
            break
        current = name
    return current


def session_minutes(calendar: str) -> list[time]:
    """The end time of every trading minute of a day (09:31 for 09:30-09:31), in order."""
    ends: list[time] = []
    for start, end in SESSIONS[calendar]:
        minute = datetime.combine(date.min, start)
        stop = datetime.combine(date.min, end)
        while minute < stop:
            minute += timedelta(minutes=1)
            ends.append(minute.time())
    return ends
