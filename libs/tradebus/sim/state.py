"""Mutable internal state of the simulated market, as msgspec structs so one encode snapshots it all.

Nothing here leaves the package: the market hands out the frozen value types of ``types.py``.
Frozen cash, frozen margin and frozen positions are not stored; they are derived from the working
orders, so they cannot drift and are zero whenever no order is working.
"""

from __future__ import annotations

import msgspec

from tradebus.sim.rng import Rng
from tradebus.sim.types import (
    InstrumentKind,
    Offset,
    OrderType,
    Side,
    SimInstrument,
    SimOrder,
    SimOrderStatus,
    SimTrade,
)

WORKING: frozenset[SimOrderStatus] = frozenset({SimOrderStatus.QUEUED, SimOrderStatus.PARTIAL})


class Level(msgspec.Struct):
    """One synthetic market-maker price level; ``qty`` shrinks as users trade against it."""

    price: float
    qty: int


class InstState(msgspec.Struct):
    inst: SimInstrument
    rng: Rng
    fair: float  # the random-walk value; the book is built around it
    last: float
    open: float
    high: float
    low: float
    prev_close: float
    upper: float | None
    lower: float | None
    open_interest: int
    volume: int = 0
    turnover: float = 0.0
    traded_today: bool = False
    seq: int = 0
    ts_ns: int = 0
    last_qty: int = 0
    burst_left: int = 0  # steps left in the current burst of larger moves
    burst_scale: float = 1.0
    bids: list[Level] = msgspec.field(default_factory=list)
    asks: list[Level] = msgspec.field(default_factory=list)
    book_prio: int = 0  # time priority of the synthetic levels against user orders at the same price
    resting: list[str] = msgspec.field(default_factory=list)  # working order ids, arrival order

    @property
    def key(self) -> str:
        return inst_key(self.inst.market, self.inst.symbol)


class OrderRec(msgspec.Struct):
    order_id: str
    account: str
    market: str
    symbol: str
    side: Side
    offset: Offset
    kind: OrderType
    price: float
    qty: int
    created_ns: int
    updated_ns: int
    prio: int
    remark: str = ""
    filled_qty: int = 0
    fill_value: float = 0.0  # sum of price * qty over fills, for the average
    status: SimOrderStatus = SimOrderStatus.QUEUED

    @property
    def remaining(self) -> int:
        return self.qty - self.filled_qty

    @property
    def working(self) -> bool:
        return self.status in WORKING

    def view(self) -> SimOrder:
        avg = self.fill_value / self.filled_qty if self.filled_qty else 0.0
        return SimOrder(
            order_id=self.order_id, account=self.account, market=self.market, symbol=self.symbol,
            side=self.side, offset=self.offset, kind=self.kind, price=self.price, qty=self.qty,
            filled_qty=self.filled_qty, avg_fill_price=avg, status=self.status, remark=self.remark,
            reject_reason=None, reject_text="", created_ns=self.created_ns, updated_ns=self.updated_ns,
        )


class PosRec(msgspec.Struct):
    market: str
    symbol: str
    long_qty: int = 0
    short_qty: int = 0
    long_today: int = 0
    short_today: int = 0
    long_avg: float = 0.0
    short_avg: float = 0.0


class AccountRec(msgspec.Struct):
    account: str
    kind: InstrumentKind
    currency: str
    cash: float
    realised_pnl: float = 0.0
    fees: float = 0.0
    positions: dict[str, PosRec] = msgspec.field(default_factory=dict)
    order_ids: list[str] = msgspec.field(default_factory=list)  # the day's orders, oldest first
    trades: list[SimTrade] = msgspec.field(default_factory=list)


class MarketState(msgspec.Struct):
    seed: int
    instruments: list[InstState]
    accounts: dict[str, AccountRec] = msgspec.field(default_factory=dict)
    orders: dict[str, OrderRec] = msgspec.field(default_factory=dict)
    next_order_id: int = 1
    next_trade_id: int = 1
    next_prio: int = 1

    def take_prio(self) -> int:
        prio = self.next_prio
        self.next_prio += 1
        return prio


def inst_key(market: str, symbol: str) -> str:
    return f"{market}.{symbol}"

