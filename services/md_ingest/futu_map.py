"""Futu push messages → tick fields. Venue ↔ domain tables first, inverses generated.

Futu pushes three separate things per security — a basic quote (L1 + day statistics), an order book
and tickers (trades) — which we merge per instrument into one tick: every quote or order-book push
emits the merged state, a ticker push only updates ``last_qty``. A security is not published before
its first quote push (an order book alone has no last price or volume).

Times: futu's ``*Timestamp`` fields are UTC epoch seconds; when absent we parse the time string,
which OpenD writes in the market's own time zone (``tradebus.futu.markets.MARKET_TZ``). Markets and
codes are the Futu kit's (``tradebus.futu.markets``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tradebus.futu.markets import MARKET_TZ
from tradebus.schemas.market import Level

BOOK_LEVELS = 5
NS = 1_000_000_000


def stamp_ns(timestamp: float, text: str, exchange: str) -> int:
    if timestamp > 0:
        return round(timestamp * 1_000_000) * 1000  # microsecond precision, as futu sends it
    if not text:
        return 0
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in text else "%Y-%m-%d %H:%M:%S"
    moment = datetime.strptime(text, fmt).replace(tzinfo=MARKET_TZ[exchange])
    return round(moment.timestamp() * 1_000_000) * 1000


def book_side(levels: Any) -> tuple[Level, ...]:
    return tuple(Level(float(lv.price), int(lv.volume)) for lv in list(levels)[:BOOK_LEVELS] if lv.volume > 0)


@dataclass(slots=True)
class MergedQuote:
    """What we know of one security, merged from its three push kinds."""

    exchange: str
    symbol: str
    have_quote: bool = False
    ts_event: int = 0
    last: float | None = None
    open: float | None = None
    high: float | None = None
    low: float | None = None
    prev_close: float | None = None
    volume: int = 0
    turnover: float = 0.0
    last_qty: int | None = None
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()

    def apply_quote(self, q: Any) -> None:
        self.have_quote = True
        self.ts_event = stamp_ns(q.updateTimestamp, q.updateTime, self.exchange) or self.ts_event
        self.last = _positive(q.curPrice)
        self.open = _positive(q.openPrice)
        self.high = _positive(q.highPrice)
        self.low = _positive(q.lowPrice)
        self.prev_close = _positive(q.lastClosePrice)
        self.volume = int(q.volume)
        self.turnover = float(q.turnover)

    def apply_book(self, s2c: Any) -> None:
        self.bids = book_side(s2c.orderBookBidList)
        self.asks = book_side(s2c.orderBookAskList)
        stamp = max(s2c.svrRecvTimeBidTimestamp, s2c.svrRecvTimeAskTimestamp)
        self.ts_event = max(self.ts_event, stamp_ns(stamp, s2c.svrRecvTimeBid, self.exchange))

    def apply_ticker(self, ticker: Any) -> None:
        self.last_qty = int(ticker.volume)


def _positive(value: float) -> float | None:
    """Futu sends 0 for a price it does not have (no trade yet, a field the market lacks)."""
    return float(value) if value > 0 else None
