"""Value types of the simulated market shared by ``opend_sim`` and ``ctp_sim``.

The simulated market is pure and synchronous: no asyncio, no I/O, no threads. A venue simulator
owns one :class:`tradebus.sim.market.SimMarket`, drives its clock from its event loop, and turns
what the market reports into its own wire protocol (Futu protobuf, CTP structs). Everything the
market hands out is an immutable snapshot, so a simulator may keep or queue it freely.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# Side, Offset and OrderType are the bus's own enums: one set per concept, and the sim's orders carry the
# same values as the bus's. In the sim, Offset.CLOSE closes yesterday's position first, then today's (as
# every exchange but SHFE/INE does).
from tradebus.schemas.orders import Offset, OrderType, Side


class InstrumentKind(StrEnum):
    STOCK = "stock"
    FUTURE = "future"


class SimOrderStatus(StrEnum):
    QUEUED = "queued"  # accepted and resting, nothing filled
    PARTIAL = "partial"  # resting, partly filled
    FILLED = "filled"
    CANCELLED = "cancelled"  # may carry filled_qty > 0 (partly filled, rest cancelled)
    REJECTED = "rejected"


class RejectReason(StrEnum):
    UNKNOWN_ACCOUNT = "unknown_account"
    UNKNOWN_INSTRUMENT = "unknown_instrument"
    BAD_QUANTITY = "bad_quantity"  # <= 0
    BAD_LOT_SIZE = "bad_lot_size"  # not a multiple of the board lot
    PRICE_OFF_TICK = "price_off_tick"
    PRICE_OUT_OF_LIMITS = "price_out_of_limits"
    INSUFFICIENT_CASH = "insufficient_cash"
    INSUFFICIENT_MARGIN = "insufficient_margin"
    INSUFFICIENT_POSITION = "insufficient_position"  # selling / closing more than is held
    BAD_OFFSET = "bad_offset"  # e.g. CLOSE_TODAY on a stock, NONE on a future
    NO_LIQUIDITY = "no_liquidity"  # market order with nothing to trade against
    UNKNOWN_ORDER = "unknown_order"
    ORDER_NOT_ACTIVE = "order_not_active"  # cancel/modify of a filled, cancelled or rejected order


class SimReject(Exception):
    """A definite refusal by the simulated venue, with the venue's reason."""

    def __init__(self, reason: RejectReason, text: str) -> None:
        super().__init__(f"{reason}: {text}")
        self.reason = reason
        self.text = text


@dataclass(frozen=True, slots=True)
class SimInstrument:
    market: str  # "HK", "US", "SHFE", "DCE", "CZCE", "CFFEX", "INE"
    symbol: str  # "00700", "AAPL", "rb2601", "TA601", "IF2512"
    name: str
    kind: InstrumentKind
    currency: str  # "HKD", "USD", "CNY"
    lot_size: int  # shares per board lot (HK), 1 for US stocks and for futures (volume is in lots)
    price_tick: float  # flat tick; HK stocks use the HKEX ladder through tick_size()
    multiplier: float  # 1 for stocks; contract multiplier for futures
    margin_rate: float  # futures margin as a fraction of notional; 1.0 for stocks (cash account)
    ref_price: float  # previous close / pre-settlement price, the start of the price walk
    limit_pct: float | None  # futures daily price limit as a fraction of ref_price; None: no limits
    fee_rate: float  # fee as a fraction of notional
    fee_per_lot: float  # fixed fee per lot (futures) added to fee_rate * notional


@dataclass(frozen=True, slots=True)
class Quote:
    """Snapshot of one instrument after a market step: L1, five levels, day statistics."""

    market: str
    symbol: str
    seq: int  # per-instrument, +1 per quote
    ts_ns: int  # UTC nanoseconds
    last: float
    open: float
    high: float
    low: float
    prev_close: float  # pre-settlement for futures
    volume: int  # cumulative for the day (shares or lots)
    turnover: float  # cumulative for the day (price * qty * multiplier)
    open_interest: int  # futures; 0 for stocks
    bids: tuple[tuple[float, int], ...]  # up to 5 (price, qty), best first
    asks: tuple[tuple[float, int], ...]
    upper_limit: float | None
    lower_limit: float | None
    last_qty: int  # size of the last trade print (0 if none in this step)


@dataclass(frozen=True, slots=True)
class SimOrder:
    order_id: str  # venue order id, unique and increasing per market
    account: str
    market: str
    symbol: str
    side: Side
    offset: Offset
    kind: OrderType
    price: float  # 0.0 for market orders
    qty: int
    filled_qty: int
    avg_fill_price: float
    status: SimOrderStatus
    remark: str  # caller's free text, echoed (Futu remark; CTP carries OrderRef separately)
    reject_reason: RejectReason | None
    reject_text: str
    created_ns: int
    updated_ns: int


@dataclass(frozen=True, slots=True)
class SimTrade:
    trade_id: str  # unique per market
    order_id: str
    account: str
    market: str
    symbol: str
    side: Side
    offset: Offset
    price: float
    qty: int
    fee: float
    ts_ns: int


@dataclass(frozen=True, slots=True)
class Funds:
    account: str
    currency: str
    cash: float  # balance after fees and realised P&L
    frozen_cash: float  # held for working buy orders (stocks) or margin of working open orders (futures)
    margin: float  # margin of open futures positions
    available: float  # cash - frozen_cash - margin
    market_value: float  # stocks: sum qty * last; futures: 0
    realised_pnl: float
    unrealised_pnl: float
    fees: float
    equity: float  # cash + market_value + unrealised_pnl (futures)


@dataclass(frozen=True, slots=True)
class Position:
    account: str
    market: str
    symbol: str
    long_qty: int
    short_qty: int  # futures only
    long_today: int  # futures: part of long_qty opened today
    short_today: int
    long_avg_price: float
    short_avg_price: float
    long_frozen: int  # held by working sell/close orders
    short_frozen: int
    margin: float
    unrealised_pnl: float
