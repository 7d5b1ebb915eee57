"""History on the bus: request/reply on ``md.ctl.history``, served by md_ingest.

Pages are bounded (:data:`MAX_PAGE` rows); a page that stops early says ``more`` and gives the cursor
of the next one. Bars and ticks come oldest first.
"""

from __future__ import annotations

from tradebus.schemas.base import BusMessage
from tradebus.schemas.market import Bar, Tick

MAX_PAGE = 1000
BAR_PERIODS = ("1m", "5m", "15m", "30m", "60m", "1d", "1w")


class BarsQuery(BusMessage, frozen=True, kw_only=True):
    """Bars of one instrument. With ``start_ns``: those starting in [start_ns, end_ns), oldest first, at
    most ``count`` (page on with ``next_start_ns``). Without it: the last ``count`` bars that end by
    ``end_ns`` (default: now). 1-minute bars come from stream MD (built by md_ingest from ticks) and, for
    Futu, from OpenD's history K-lines before the first stored bar; other periods only from the venue."""

    venue: str
    exchange: str
    symbol: str
    period: str = "1m"
    start_ns: int | None = None
    end_ns: int | None = None
    count: int = 500


class TicksQuery(BusMessage, frozen=True, kw_only=True):
    """Stored ticks of one instrument with ``ts_event`` in [start_ns, end_ns), oldest first; at most
    ``count`` per page, then ``next_seq`` continues after the last one returned."""

    venue: str
    exchange: str
    symbol: str
    start_ns: int
    end_ns: int | None = None
    count: int = MAX_PAGE
    after_seq: int | None = None  # stream sequence cursor from a previous page


class BarsPage(BusMessage, frozen=True, kw_only=True):
    bars: list[Bar]
    more: bool = False
    next_start_ns: int | None = None
    sources: list[str] = []  # "stream", "venue"


class TicksPage(BusMessage, frozen=True, kw_only=True):
    ticks: list[Tick]
    more: bool = False
    next_seq: int | None = None


class HistoryRefused(BusMessage, frozen=True, kw_only=True):
    code: str  # "bad_request", "unknown_venue", "unsupported_period", "venue_unavailable"
    reason: str


HistoryMessage = BarsQuery | TicksQuery | BarsPage | TicksPage | HistoryRefused
