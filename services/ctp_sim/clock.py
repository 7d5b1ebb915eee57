"""Beijing wall time and the CTP trading day.

China's futures exchanges keep Beijing time (UTC+8, no daylight saving). The trading day changes
in the evening: the night session that opens at 21:00 already belongs to the next business day,
and Friday night trades for Monday. ``ROLL_HOUR`` is when ctp_sim starts the new day (real fronts
switch after the day's settlement, late afternoon). Exchange holidays are not modelled.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
ROLL_HOUR = 18
NIGHT_END_HOUR = 3  # the night session ends 02:30 at the latest


def beijing(ts_ns: int) -> datetime:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).astimezone(BEIJING)


def _next_business_day(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def trading_day_of(ts_ns: int) -> str:
    """The CTP TradingDay (yyyymmdd) a moment belongs to."""
    now = beijing(ts_ns)
    day = now.date()
    if now.hour >= ROLL_HOUR:
        day = _next_business_day(day)
    elif day.weekday() >= 5:
        # Saturday small hours are Friday's night session, which trades for Monday.
        day = _next_business_day(day - timedelta(days=1)) if day.weekday() == 5 else _next_business_day(day)
    return day.strftime("%Y%m%d")


def is_night(ts_ns: int) -> bool:
    hour = beijing(ts_ns).hour
    return hour >= ROLL_HOUR or hour < NIGHT_END_HOUR


def calendar_day(ts_ns: int) -> str:
    return beijing(ts_ns).strftime("%Y%m%d")


def clock_time(ts_ns: int) -> str:
    return beijing(ts_ns).strftime("%H:%M:%S")


def millis(ts_ns: int) -> int:
    return (ts_ns // 1_000_000) % 1000
