"""``TradingDay``: the venue's trading day, never the calendar date.

The venue says it where it can: a CTP front gives its trading day at login, and td_exec passes it on in
``VenueInfo``. Where the venue gives none (Futu, or td_exec not answering), the day follows the market's
calendar rule, written here: China futures trade their evening session as part of the next trading day,
so from 18:00 China time the day is the next one; a Saturday or Sunday belongs to the Monday after. Stock
markets use the exchange's local date, weekends moved to Monday the same way. Public holidays are not
known to the rule (the venue's own day, when there is one, has them).

An order or trade of the venue's current trading day shows the venue's day; an older one shows the day
the rule gives for its time.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from functools import lru_cache

from tradebus.ctp.exchanges import CTP_EXCHANGES
from tradebus.ctp.time import BEIJING
from tradebus.exchange_zones import EXCHANGE_TZ

NIGHT_SESSION_HOUR = 18  # China time from which a futures exchange's activity counts for the next day
_SATURDAY = 5
_MINUTE_NS = 60_000_000_000


def rule_day(ts_ns: int, exchange: str) -> str:
    """The trading day a moment belongs to on ``exchange``, by the calendar rule above."""
    return _rule_day_of_minute(ts_ns // _MINUTE_NS, exchange)


@lru_cache(maxsize=8192)
def _rule_day_of_minute(minute: int, exchange: str) -> str:
    """Cached per whole minute: every boundary of the rule (18:00, midnight) falls on one, and every
    order an edge renders asks for its day (a replay renders each of its events)."""
    local = datetime.fromtimestamp(minute * 60, EXCHANGE_TZ.get(exchange, BEIJING))
    day = local.date()
    if exchange in CTP_EXCHANGES and local.hour >= NIGHT_SESSION_HOUR:
        day += timedelta(days=1)
    if day.weekday() >= _SATURDAY:
        day += timedelta(days=7 - day.weekday())
    return day.strftime("%Y%m%d")


def trading_day(ts_ns: int, exchange: str, *, venue_day: str | None, now_ns: int) -> str:
    """The ``TradingDay`` of something that happened at ``ts_ns``: the venue's own day when it is the
    current one (the rule puts ``ts_ns`` and now on the same day), else the rule's."""
    day = rule_day(ts_ns, exchange)
    if venue_day and day == rule_day(now_ns, exchange):
        return venue_day
    return day


def china_now() -> datetime:
    """The wall clock in Beijing time: CTP fronts' ``LoginTime`` and exchange times are in it."""
    return datetime.fromtimestamp(time.time(), BEIJING)
