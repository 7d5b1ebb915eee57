"""futu-api rows (the dicts its unpackers build) → the venue contract's reports and snapshots."""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from td_exec.venue import FillReport, OrderReport
from tradebus.futu.markets import MARKET_TZ, VENUE, split_code
from tradebus.futu.trade import DEAL_OK, FUTU_TO_SIDE, status_of
from tradebus.ids import venue_trade_key
from tradebus.schemas.account import AccountSnapshot, InstrumentInfo, PositionSide, PositionSnapshot
from tradebus.schemas.orders import OrderStatus

_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")
HK_MIN_TICK = 0.001  # the smallest step of the HKEX spread table; the checks use the whole table
REMARK_MAX_BYTES = 64  # futu-api refuses a longer remark (utf-8 bytes) before sending


def venue_time_ns(text: object, market: str) -> int:
    """A futu time string in ``market``'s zone → ns UTC; now when it is missing or malformed."""
    if isinstance(text, str) and text:
        for fmt in _TIME_FORMATS:
            try:
                local = datetime.strptime(text, fmt).replace(tzinfo=MARKET_TZ.get(market, ZoneInfo("UTC")))
            except ValueError:
                continue
            return int(local.timestamp() * 1_000_000) * 1000
    return time.time_ns()


def _number(value: Any, default: float = 0.0) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return default
    return out if math.isfinite(out) else default


def client_order_id_of(remark: object) -> str | None:
    """Our orders carry their client order id as the whole remark; anything else is not ours."""
    return remark if isinstance(remark, str) and remark else None


def order_report(row: dict[str, Any], account: str, *, reconciliation: bool) -> OrderReport:
    exchange, symbol = split_code(str(row["code"]))
    futu_status = str(row.get("order_status", "N/A"))
    status = status_of(futu_status)
    filled = int(_number(row.get("dealt_qty")))
    avg = _number(row.get("dealt_avg_price"))
    price = _number(row.get("price"), default=math.nan)
    return OrderReport(
        account=account,
        client_order_id=client_order_id_of(row.get("remark")),
        venue_order_id=str(row["order_id"]),
        exchange=exchange,
        symbol=symbol,
        side=FUTU_TO_SIDE.get(str(row.get("trd_side")), FUTU_TO_SIDE["BUY"]),
        qty=int(_number(row.get("qty"))),
        price=price if math.isfinite(price) and price > 0 else None,
        status=status,
        filled_qty=filled,
        avg_fill_price=avg if filled > 0 and avg > 0 else None,
        code=futu_status if status in (OrderStatus.REJECTED, OrderStatus.UNKNOWN) else "",
        reason=str(row.get("last_err_msg") or ""),
        ts_event=venue_time_ns(row.get("updated_time") or row.get("create_time"), exchange),
        reconciliation=reconciliation,
    )


def fill_report(row: dict[str, Any], account: str, client_order_id: str | None, *,
                reconciliation: bool) -> FillReport | None:
    """A deal row → a fill; ``None`` for deal corrections (cancelled/changed deals)."""
    if str(row.get("status", "OK")) not in DEAL_OK:
        return None
    exchange, symbol = split_code(str(row["code"]))
    order_id = row.get("order_id")
    return FillReport(
        account=account,
        client_order_id=client_order_id,
        venue_order_id=str(order_id) if order_id not in (None, "N/A") else None,
        trade_id=venue_trade_key(VENUE, str(row["deal_id"])),
        exchange=exchange,
        symbol=symbol,
        side=FUTU_TO_SIDE.get(str(row.get("trd_side")), FUTU_TO_SIDE["BUY"]),
        qty=int(_number(row.get("qty"))),
        price=_number(row.get("price")),
        ts_event=venue_time_ns(row.get("create_time"), exchange),
        reconciliation=reconciliation,
    )


def position_snapshot(row: dict[str, Any], account: str) -> PositionSnapshot:
    exchange, symbol = split_code(str(row["code"]))
    qty = int(_number(row.get("qty")))
    can_sell = int(_number(row.get("can_sell_qty"), default=qty))
    side = PositionSide.SHORT if str(row.get("position_side")) == "SHORT" else PositionSide.LONG
    return PositionSnapshot(
        venue=VENUE, account=account, exchange=exchange, symbol=symbol, side=side, qty=abs(qty),
        yesterday_qty=0, frozen_qty=max(0, abs(qty) - can_sell),
        avg_price=_number(row.get("average_cost", row.get("cost_price"))),
        unrealised_pnl=_number(row.get("unrealized_pl", row.get("pl_val"))),
        ts_event=time.time_ns(),
    )


def account_snapshot(row: dict[str, Any], account: str, currency: str) -> AccountSnapshot:
    cash = _number(row.get("cash"))
    return AccountSnapshot(
        venue=VENUE, account=account, currency=currency, cash=cash,
        available=_number(row.get("avl_withdrawal_cash", row.get("power"))),
        frozen=_number(row.get("frozen_cash")),
        market_value=_number(row.get("market_val")),
        equity=_number(row.get("total_assets")),
        realised_pnl=_number(row.get("realized_pl")),
        unrealised_pnl=_number(row.get("unrealized_pl")),
        ts_event=time.time_ns(),
    )


def instrument_info(row: dict[str, Any]) -> InstrumentInfo:
    """A get_stock_basicinfo row → reference data. OpenD's static information has the board lot but
    no tick: HK's tick depends on the price band (the checks apply the HKEX spread table, see
    ``td_exec.checks.tick_at``); elsewhere the tick is left unknown (0: no tick check, OpenD decides)."""
    exchange, symbol = split_code(str(row["code"]))
    return InstrumentInfo(
        venue=VENUE, exchange=exchange, symbol=symbol, name=str(row.get("name") or ""), kind="stock",
        currency={"HK": "HKD", "US": "USD"}.get(exchange, ""),
        lot_size=max(1, int(_number(row.get("lot_size"), default=1))),
        price_tick=HK_MIN_TICK if exchange == "HK" else 0.0,
    )
