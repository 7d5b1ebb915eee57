"""Account and position snapshots (answers to queries; projections rebuilt from events)."""

from __future__ import annotations

from enum import StrEnum

from tradebus.schemas.base import BusMessage


class PositionSide(StrEnum):
    LONG = "long"
    SHORT = "short"


class AccountSnapshot(BusMessage, frozen=True, kw_only=True):
    venue: str
    account: str
    currency: str
    cash: float
    available: float
    frozen: float = 0.0
    margin: float = 0.0
    market_value: float = 0.0
    equity: float = 0.0
    realised_pnl: float = 0.0
    unrealised_pnl: float = 0.0
    fees: float = 0.0
    ts_event: int


class PositionSnapshot(BusMessage, frozen=True, kw_only=True):
    venue: str
    account: str
    exchange: str
    symbol: str
    side: PositionSide
    qty: int
    today_qty: int = 0
    yesterday_qty: int = 0
    frozen_qty: int = 0
    avg_price: float = 0.0
    margin: float = 0.0
    unrealised_pnl: float = 0.0
    ts_event: int


class InstrumentInfo(BusMessage, frozen=True, kw_only=True):
    """Reference data, kept in KV ``instruments`` under ``<venue>.<exchange>.<symbol>``."""

    venue: str
    exchange: str
    symbol: str
    name: str = ""
    kind: str = "stock"  # "stock" | "future"
    currency: str = ""
    lot_size: int = 1
    price_tick: float = 0.01
    multiplier: float = 1.0
    upper_limit: float | None = None
    lower_limit: float | None = None
    trading_day: str | None = None


class PositionsReply(BusMessage, frozen=True, kw_only=True):
    """Answer to ``QueryPositions``: the venue's snapshot."""

    positions: list[PositionSnapshot]


class FundsReply(BusMessage, frozen=True, kw_only=True):
    """Answer to ``QueryFunds``: one snapshot per currency."""

    funds: list[AccountSnapshot]


class InstrumentsReply(BusMessage, frozen=True, kw_only=True):
    """Answer to ``QueryInstruments``."""

    instruments: list[InstrumentInfo]
