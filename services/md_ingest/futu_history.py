"""Futu history K-lines as our :class:`~tradebus.schemas.market.Bar` (``request_history_kline``).

OpenD labels intraday K-lines with their *end* time and day/week K-lines with their (first) day, in
the market's own time zone; a Bar carries ``[start_ns, end_ns)`` in UTC nanoseconds. To find the last
``count`` bars before a moment, ask for a window of calendar days that holds them even across weekends
and holidays, read it page by page, and keep the last ``count`` (bounded by :data:`MAX_PAGES`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tradebus.futu.markets import MARKET_TZ, join_code
from tradebus.schemas.market import Bar

MINUTE_NS = 60_000_000_000
# period → (futu KLType name, length in minutes; 0 for day-based periods)
PERIODS: dict[str, tuple[str, int]] = {
    "1m": ("K_1M", 1), "5m": ("K_5M", 5), "15m": ("K_15M", 15), "30m": ("K_30M", 30), "60m": ("K_60M", 60),
    "1d": ("K_DAY", 0), "1w": ("K_WEEK", 0),
}  # fmt: skip
TRADING_MINUTES_PER_DAY = 240  # the shortest regular session of the markets served (A-shares)
MAX_PAGES = 20
PAGE = 1000


def window_days(period: str, count: int) -> int:
    """Calendar days back from the end that hold ``count`` bars of ``period`` with room for non-trading days."""
    minutes = PERIODS[period][1]
    if period == "1w":
        return count * 7 + 14
    if period == "1d":
        return math.ceil(count * 1.6) + 10
    return math.ceil(count * minutes / TRADING_MINUTES_PER_DAY) * 2 + 4


def bar_from_row(row: Any, exchange: str, symbol: str, period: str) -> Bar:
    zone = MARKET_TZ[exchange]
    label = datetime.strptime(str(row["time_key"]), "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)
    minutes = PERIODS[period][1]
    if minutes:
        end = label
        start = label - timedelta(minutes=minutes)
    else:
        start = label
        end = label + timedelta(days=7 if period == "1w" else 1)
    return Bar(venue="futu", exchange=exchange, symbol=symbol, interval=period,
               start_ns=round(start.timestamp()) * 1_000_000_000, end_ns=round(end.timestamp()) * 1_000_000_000,
               open=float(row["open"]), high=float(row["high"]), low=float(row["low"]), close=float(row["close"]),
               volume=int(row["volume"]), turnover=float(row["turnover"]))


def fetch_bars(ctx: Any, futu: Any, exchange: str, symbol: str, period: str, start_ns: int | None, end_ns: int,
               count: int, *, now: Callable[[], int]) -> list[Bar]:
    """Blocking (run it on a thread): closed bars starting in [start_ns, end_ns), oldest first; without
    ``start_ns`` the last ``count`` of them. Raises RuntimeError with OpenD's text on a refusal."""
    zone = MARKET_TZ[exchange]
    now_ns = now()
    end = datetime.fromtimestamp(min(end_ns, now_ns) / 1e9, tz=zone)
    start = (datetime.fromtimestamp(start_ns / 1e9, tz=zone) if start_ns is not None
             else end - timedelta(days=window_days(period, count)))
    ktype = getattr(futu.KLType, PERIODS[period][0])
    fmt = "%Y-%m-%d %H:%M:%S"
    keep: deque[Bar] = deque(maxlen=count) if start_ns is None else deque()
    key = None
    for _ in range(MAX_PAGES):
        ret, data, key = ctx.request_history_kline(join_code(exchange, symbol), start=start.strftime(fmt),
                                                   end=end.strftime(fmt), ktype=ktype, max_count=PAGE,
                                                   page_req_key=key)
        if ret != 0:
            raise RuntimeError(str(data))
        for _index, row in data.iterrows():
            bar = bar_from_row(row, exchange, symbol, period)
            if bar.start_ns >= end_ns or bar.end_ns > now_ns or (start_ns is not None and bar.start_ns < start_ns):
                continue  # outside the range, or still forming
            keep.append(bar)
        if key is None or (start_ns is not None and len(keep) > count):
            break
    return list(keep)
