"""Time strings as OpenD writes them: the exchange's local time, ``YYYY-MM-DD HH:MM:SS[.mmm]``.

futu-api splits quote ``updateTime`` on the space and copies the other strings as they are; a
missing time part loses the push (docs/simulators.md, 'Time strings').
"""

from __future__ import annotations

from datetime import datetime

from tradebus.futu.markets import MARKET_TZ

NS = 1_000_000_000


def local(market: str, ts_ns: int) -> datetime:
    return datetime.fromtimestamp(ts_ns / NS, MARKET_TZ[market])


def seconds(market: str, ts_ns: int) -> str:
    return local(market, ts_ns).strftime("%Y-%m-%d %H:%M:%S")


def millis(market: str, ts_ns: int) -> str:
    dt = local(market, ts_ns)
    return f"{dt:%Y-%m-%d %H:%M:%S}.{dt.microsecond // 1000:03d}"


def epoch(ts_ns: int) -> float:
    return ts_ns / NS
