"""Order answers: tradebus :class:`OrderView` → the seed's order objects, and FMZ ``type`` → side/offset.

Number types follow the seed per method: ``orders`` shows ``avg_price`` as a string (``"1000"``),
``order`` and ``historyorders`` as a number; every other order number is a number.
"""

from __future__ import annotations

from typing import Any

from fmz_edge.protocol import FmzError, num, num_str
from fmz_edge.symbols import format_order_id, format_symbol
from tradebus.schemas.orders import Offset, OrderStatus, OrderView, Side

# tradebus status → FMZ status. CANCELLED/EXPIRED become "partial-canceled" when something filled.
STATUS: dict[OrderStatus, str] = {
    OrderStatus.INITIALIZED: "pre-submitted",
    OrderStatus.SUBMITTED: "submitting",
    OrderStatus.UNKNOWN: "submitting",  # outcome not known yet: still in flight
    OrderStatus.ACCEPTED: "pending",
    OrderStatus.PENDING_CANCEL: "pending",
    OrderStatus.PENDING_UPDATE: "pending",
    OrderStatus.PARTIALLY_FILLED: "partial-filled",
    OrderStatus.FILLED: "filled",
    OrderStatus.CANCELLED: "canceled",
    OrderStatus.EXPIRED: "canceled",
    OrderStatus.REJECTED: "closed",
    OrderStatus.DENIED: "closed",
}
OPEN_STATUSES = frozenset(s for s, fmz in STATUS.items() if fmz in {"pre-submitted", "submitting", "pending",
                                                                        "partial-filled"})

# FMZ trade `type` → (side, offset) for futures venues. "closebuy" closes a long (a sell), "closesell"
# closes a short (a buy), as FMZ's SetDirection names them; *_today closes today's position (SHFE/INE).
FUTURES_TYPES: dict[str, tuple[Side, Offset]] = {
    "buy": (Side.BUY, Offset.OPEN),
    "sell": (Side.SELL, Offset.OPEN),
    "closebuy": (Side.SELL, Offset.CLOSE),
    "closesell": (Side.BUY, Offset.CLOSE),
    "closebuy_today": (Side.SELL, Offset.CLOSE_TODAY),
    "closesell_today": (Side.BUY, Offset.CLOSE_TODAY),
}
STOCK_TYPES: dict[str, tuple[Side, Offset]] = {
    "buy": (Side.BUY, Offset.NONE),
    "sell": (Side.SELL, Offset.NONE),
}
SIDE_TYPE: dict[Side, str] = {Side.BUY: "buy", Side.SELL: "sell"}


def trade_type(kind: str, futures: bool) -> tuple[Side, Offset]:
    table = FUTURES_TYPES if futures else STOCK_TYPES
    found = table.get(kind.lower())
    if found is None:
        raise FmzError(f"params.type must be one of {', '.join(table)}, got {kind!r}")
    return found


def fmz_status(view: OrderView) -> str:
    status = STATUS.get(view.status, "pending")
    if status == "canceled" and view.filled_qty > 0:
        return "partial-canceled"
    return status


def order_object(view: OrderView, *, avg_as_string: bool) -> dict[str, Any]:
    avg = view.avg_fill_price if view.filled_qty else 0
    return {
        "id": format_order_id(view.exchange, view.symbol, view.client_order_id),
        "symbol": format_symbol(view.exchange, view.symbol),
        "amount": view.qty,
        "price": num(view.price),
        "deal_amount": view.filled_qty,
        "avg_price": num_str(avg) if avg_as_string else num(avg),
        "type": SIDE_TYPE[view.side],
        "status": fmz_status(view),
    }
