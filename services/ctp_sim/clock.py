"""The CTP trading day of a moment, as ctp_sim rolls it (Beijing time itself: ``tradebus.ctp.time``).

China's futures exchanges keep Beijing time (UTC+8, no daylight saving). The trading day changes
in the evening: the night session that opens at 21:00 already belongs to the next business day,
and Friday night trades for Monday. ``ROLL_HOUR`` is when ctp_sim starts the new day (real fronts
switch after the day's settlement, late afternoon). Exchange holidays are not modelled.
"""

from __future__ import annotations

from datetime import date, timedelta

from tradebus.ctp.time import beijing

ROLL_HOUR = 18
NIGHT_END_HOUR = 3  # the night session ends 02:30 at the latest


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
