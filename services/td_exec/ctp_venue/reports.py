"""CTP records (struct fields copied into dicts) → the venue contract's reports and snapshots.

Pure functions: the mapping of keys to ``client_order_id`` is done by the caller, which passes it in.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from td_exec.venue import FillReport, OrderReport
from tradebus.ctp.ids import order_key as ctp_order_key
from tradebus.ctp.ids import ref_number
from tradebus.ctp.mapping import DIRECTION, OFFSET_READ, POSITION_SIDE, order_status
from tradebus.ctp.structs import DBL_MAX
from tradebus.ctp.time import beijing_ns_or_none
from tradebus.ids import venue_trade_key
from tradebus.schemas.account import AccountSnapshot, InstrumentInfo, PositionSide, PositionSnapshot
from tradebus.schemas.orders import Offset, OrderStatus

VENUE = "ctp"

Row = dict[str, Any]


def price_or_none(value: float) -> float | None:
    """CTP fills empty prices with DBL_MAX (or 0)."""
    return None if value is None or value >= DBL_MAX / 2 or value <= 0 else float(value)


def order_key(row: Row) -> str | None:
    ref = ref_number(row.get("OrderRef", ""))
    if ref is None:
        return None
    return ctp_order_key(int(row.get("FrontID", 0)), int(row.get("SessionID", 0)), ref)


def order_report(row: Row, account: str, coid: str | None, *, reconciliation: bool = False) -> OrderReport | None:
    """An RtnOrder / QryOrder row; None when its status or direction is not one we know."""
    status = order_status(str(row.get("OrderStatus", "")), str(row.get("OrderSubmitStatus", "")))
    side = DIRECTION.get(str(row.get("Direction", "")))
    if status is None or side is None:
        return None
    rejected = status is OrderStatus.REJECTED
    stamp = row.get("CancelTime") or row.get("UpdateTime") or row.get("InsertTime") or ""
    return OrderReport(
        account=account,
        client_order_id=coid,
        venue_order_id=order_key(row),
        exchange=str(row.get("ExchangeID", "")),
        symbol=str(row.get("InstrumentID", "")),
        side=side,
        qty=int(row.get("VolumeTotalOriginal", 0)),
        price=price_or_none(float(row.get("LimitPrice", 0.0))),
        status=status,
        offset=OFFSET_READ.get(str(row.get("CombOffsetFlag", ""))[:1], Offset.NONE),
        filled_qty=int(row.get("VolumeTraded", 0)),
        code=f"OrderSubmitStatus={row.get('OrderSubmitStatus', '')}" if rejected else "",
        reason=str(row.get("StatusMsg", "")),
        ts_event=beijing_ns_or_none(str(row.get("InsertDate", "")), str(stamp)) or time.time_ns(),
        reconciliation=reconciliation,
        foreign=coid is None,  # our journal names every order our sessions sent
        ts_inserted=beijing_ns_or_none(str(row.get("InsertDate", "")), str(row.get("InsertTime", ""))) or 0,
    )


def rejected_insert(row: Row, account: str, coid: str | None, key: str | None, error: tuple[int, str],
                    *, reconciliation: bool = False) -> OrderReport | None:
    """RspOrderInsert / ErrRtnOrderInsert: the front refused the order; it never existed."""
    side = DIRECTION.get(str(row.get("Direction", "")))
    if side is None:
        return None
    return OrderReport(
        account=account,
        client_order_id=coid,
        venue_order_id=key,
        exchange=str(row.get("ExchangeID", "")),
        symbol=str(row.get("InstrumentID", "")),
        side=side,
        qty=int(row.get("VolumeTotalOriginal", 0)),
        price=price_or_none(float(row.get("LimitPrice", 0.0))),
        status=OrderStatus.REJECTED,
        code=str(error[0]),
        reason=error[1],
        ts_event=time.time_ns(),
        reconciliation=reconciliation,
    )


def trade_id(row: Row) -> str:
    """Stable across the day's replays and queries: ``ctp:<ExchangeID>:<TradeID>``."""
    return venue_trade_key(VENUE, str(row.get("ExchangeID", "")), str(row.get("TradeID", "")))


def fill_report(row: Row, account: str, coid: str | None, key: str | None, *,
                reconciliation: bool = False) -> FillReport | None:
    side = DIRECTION.get(str(row.get("Direction", "")))
    offset = OFFSET_READ.get(str(row.get("OffsetFlag", "")))
    if side is None or offset is None:
        return None
    return FillReport(
        account=account,
        client_order_id=coid,
        venue_order_id=key,
        trade_id=trade_id(row),
        exchange=str(row.get("ExchangeID", "")),
        symbol=str(row.get("InstrumentID", "")),
        side=side,
        qty=int(row.get("Volume", 0)),
        price=float(row.get("Price", 0.0)),
        offset=offset,
        fee_currency="CNY",
        ts_event=beijing_ns_or_none(str(row.get("TradeDate", "")), str(row.get("TradeTime", ""))) or time.time_ns(),
        reconciliation=reconciliation,
    )


def instrument_info(row: Row, depth: Row | None, trading_day: str) -> InstrumentInfo:
    upper = price_or_none(float(depth.get("UpperLimitPrice", 0.0))) if depth else None
    lower = price_or_none(float(depth.get("LowerLimitPrice", 0.0))) if depth else None
    return InstrumentInfo(
        venue=VENUE,
        exchange=str(row.get("ExchangeID", "")),
        symbol=str(row.get("InstrumentID", "")),
        name=str(row.get("InstrumentName", "")),
        kind="future",
        currency="CNY",
        lot_size=max(1, int(row.get("MinLimitOrderVolume", 1) or 1)),
        price_tick=float(row.get("PriceTick", 0.0)),
        multiplier=float(row.get("VolumeMultiple", 1) or 1),
        upper_limit=upper,
        lower_limit=lower,
        trading_day=trading_day or None,
    )


def positions(rows: Iterable[Row], account: str, multipliers: dict[str, float]) -> list[PositionSnapshot]:
    """InvestorPosition rows, merged per instrument and direction (SHFE/INE split today/history)."""
    merged: dict[tuple[str, str, PositionSide], dict[str, float]] = {}
    for row in rows:
        side = POSITION_SIDE.get(str(row.get("PosiDirection", "")))
        if side is None or int(row.get("Position", 0)) <= 0:
            continue
        key = (str(row.get("ExchangeID", "")), str(row.get("InstrumentID", "")), side)
        acc = merged.setdefault(key, dict.fromkeys(("qty", "today", "frozen", "cost", "margin", "pnl"), 0.0))
        qty = int(row.get("Position", 0))
        acc["qty"] += qty
        acc["today"] += int(row.get("TodayPosition", 0))  # 0 on SHFE/INE history rows
        # Close orders on a long position freeze "short" volume in CTP's terms, and vice versa.
        acc["frozen"] += int(row.get("ShortFrozen" if side is PositionSide.LONG else "LongFrozen", 0))
        acc["cost"] += float(row.get("PositionCost", 0.0))
        acc["margin"] += float(row.get("UseMargin", 0.0))
        acc["pnl"] += float(row.get("PositionProfit", 0.0))
    now = time.time_ns()
    out: list[PositionSnapshot] = []
    for (exchange, symbol, side), acc in sorted(merged.items()):
        qty = int(acc["qty"])
        mult = multipliers.get(symbol, 1.0) or 1.0
        today = min(qty, int(acc["today"]))
        out.append(PositionSnapshot(
            venue=VENUE, account=account, exchange=exchange, symbol=symbol, side=side, qty=qty,
            today_qty=today, yesterday_qty=qty - today, frozen_qty=int(acc["frozen"]),
            avg_price=acc["cost"] / (qty * mult), margin=acc["margin"], unrealised_pnl=acc["pnl"], ts_event=now,
        ))
    return out


def account_snapshot(row: Row, account: str) -> AccountSnapshot:
    balance = float(row.get("Balance", 0.0))
    unrealised = float(row.get("PositionProfit", 0.0))
    return AccountSnapshot(
        venue=VENUE,
        account=account,
        currency=str(row.get("CurrencyID", "") or "CNY"),
        cash=balance - unrealised,
        available=float(row.get("Available", 0.0)),
        frozen=sum(float(row.get(k, 0.0)) for k in ("FrozenMargin", "FrozenCash", "FrozenCommission")),
        margin=float(row.get("CurrMargin", 0.0)),
        equity=balance,
        realised_pnl=float(row.get("CloseProfit", 0.0)),
        unrealised_pnl=unrealised,
        fees=float(row.get("Commission", 0.0)),
        ts_event=time.time_ns(),
    )
