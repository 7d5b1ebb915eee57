"""Market data: normalised ticks, bars and feed status (subjects ``md.*``)."""

from __future__ import annotations

from enum import StrEnum

import msgspec

from tradebus.schemas.base import BusMessage


class Level(msgspec.Struct, frozen=True, array_like=True):
    """One book level, on the wire as ``[price, qty]``."""

    price: float
    qty: int


class Tick(BusMessage, frozen=True, kw_only=True):
    """L1 plus up to five book levels of one instrument, in one format for every venue.

    ``None`` means "the venue gave no value" (CTP's DBL_MAX, a Futu field absent for the market).
    ``volume``, ``turnover`` and ``open_interest`` are the venue's cumulative day figures.
    """

    venue: str
    exchange: str
    symbol: str
    seq: int  # per feed, +1 per published tick; a gap means loss
    ts_event: int  # venue time, UTC ns
    ts_init: int  # when tradebus built the tick, UTC ns
    trading_day: str | None = None  # YYYYMMDD where the venue has one
    last: float | None = None
    last_qty: int | None = None
    open: float | None = None
    high: float | None = None
    low: float | None = None
    prev_close: float | None = None  # pre-settlement for futures
    pre_close: float | None = None  # futures only: the previous close (stocks' previous close is prev_close)
    volume: int = 0
    turnover: float = 0.0
    open_interest: int | None = None
    upper_limit: float | None = None
    lower_limit: float | None = None
    average_price: float | None = None
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()

    @property
    def best_bid(self) -> Level | None:
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> Level | None:
        return self.asks[0] if self.asks else None


class Bar(BusMessage, frozen=True, kw_only=True):
    """A time bar built from ticks; volume and turnover are for the bar, not cumulative."""

    venue: str
    exchange: str
    symbol: str
    interval: str  # "1m"
    start_ns: int  # inclusive, UTC ns, aligned to the interval in exchange time
    end_ns: int  # exclusive
    open: float
    high: float
    low: float
    close: float
    volume: int
    turnover: float
    open_interest: int | None = None
    tick_count: int = 0
    trading_day: str | None = None


class FeedState(StrEnum):
    CONNECTING = "connecting"
    UP = "up"
    STALE = "stale"
    DOWN = "down"


class FeedStatus(BusMessage, frozen=True, kw_only=True):
    """A feed (or one subscription of it, when ``exchange``/``symbol`` are set) changed state."""

    venue: str
    state: FeedState
    reason: str = ""
    ts_event: int
    exchange: str | None = None
    symbol: str | None = None


class SubscribeRequest(BusMessage, frozen=True, kw_only=True):
    venue: str
    exchange: str
    symbol: str
    requester: str  # who holds the reference (e.g. "ws_edge:3f2a"), so it can be released
    # > 0: the reference lapses unless the requester subscribes again within this many seconds (edges
    # renew theirs, so a killed edge's references go by themselves); 0: held until released.
    lease_s: float = 0.0


class UnsubscribeRequest(BusMessage, frozen=True, kw_only=True):
    venue: str
    exchange: str
    symbol: str
    requester: str


class SubscriptionReply(BusMessage, frozen=True, kw_only=True):
    ok: bool
    venue: str
    exchange: str
    symbol: str
    refcount: int = 0
    error: str = ""


class FeedFence(BusMessage, frozen=True, kw_only=True):
    """The md_ingest instance that holds a venue's session (its lease) marks the MD stream with it.

    Every tick, bar and status the holder stores afterwards must find this fence still the last message on
    ``md.fence.<venue>``; a newer holder's fence makes the older holder's stores fail (no tick from two
    holders). Readers of market data skip it."""

    venue: str
    holder: str  # the holder's [md] instance_id
    epoch: int  # the lease's revision when it was taken: grows with every takeover
    ts_event: int


MarketData = Tick | Bar | FeedStatus | FeedFence
MarketControl = SubscribeRequest | UnsubscribeRequest | SubscriptionReply
