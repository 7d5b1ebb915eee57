"""CTP ↔ tradebus mapping tables (inverses generated), in one place so the CTP manual maps 1:1.

Unknown CTP values fail closed: the lookup functions return ``None`` and the caller logs and keeps
the report out of the engine rather than guessing a state.
"""

from __future__ import annotations

from tradebus.schemas.orders import Offset, OrderStatus, OrderType, Side, TimeInForce

# TThostFtdcDirectionType
DIRECTION_TB2CTP: dict[Side, str] = {Side.BUY: "0", Side.SELL: "1"}
DIRECTION_CTP2TB: dict[str, Side] = {v: k for k, v in DIRECTION_TB2CTP.items()}

# TThostFtdcOffsetFlagType. SHFE and INE keep today's and yesterday's positions apart: closing
# today's position there needs CloseToday ('3'); a plain Close ('1') closes yesterday's.
OFFSET_TB2CTP: dict[Offset, str] = {
    Offset.OPEN: "0",
    Offset.CLOSE: "1",
    Offset.CLOSE_TODAY: "3",
    Offset.CLOSE_YESTERDAY: "4",
}
OFFSET_CTP2TB: dict[str, Offset] = {v: k for k, v in OFFSET_TB2CTP.items()}
# Forced closes ('2' ForceClose, '5' ForceOff, '6' LocalForceClose) are closes done by the broker.
OFFSET_CTP2TB |= {"2": Offset.CLOSE, "5": Offset.CLOSE, "6": Offset.CLOSE}

# (OrderPriceType, TimeCondition, VolumeCondition). IOC + AV is CTP's FAK, IOC + CV its FOK.
# A market order (AnyPrice) never rests, so only IOC is offered for it.
ORDER_KIND_TB2CTP: dict[tuple[OrderType, TimeInForce], tuple[str, str, str]] = {
    (OrderType.LIMIT, TimeInForce.DAY): ("2", "3", "1"),
    (OrderType.LIMIT, TimeInForce.IOC): ("2", "1", "1"),
    (OrderType.LIMIT, TimeInForce.FOK): ("2", "1", "3"),
    (OrderType.MARKET, TimeInForce.IOC): ("1", "1", "1"),
}
ORDER_KIND_CTP2TB: dict[tuple[str, str, str], tuple[OrderType, TimeInForce]] = {
    v: k for k, v in ORDER_KIND_TB2CTP.items()
}

# TThostFtdcOrderStatusType → our status. 'a' (unknown: taken by the front, not yet by the
# exchange) is still "submitted"; '2'/'4' (not in the queue any more) are finished, i.e. cancelled.
STATUS_CTP2TB: dict[str, OrderStatus] = {
    "a": OrderStatus.SUBMITTED,
    "3": OrderStatus.ACCEPTED,
    "1": OrderStatus.PARTIALLY_FILLED,
    "0": OrderStatus.FILLED,
    "2": OrderStatus.CANCELLED,
    "4": OrderStatus.CANCELLED,
    "5": OrderStatus.CANCELLED,
    "b": OrderStatus.ACCEPTED,  # NotTouched (conditional order waiting)
    "c": OrderStatus.ACCEPTED,  # Touched
}
# TThostFtdcOrderSubmitStatusType values that override the order status: an order cancelled with
# InsertRejected is an exchange rejection (definite venue evidence), not a cancel.
SUBMIT_STATUS_INSERT_REJECTED = "4"
SUBMIT_STATUS_CANCEL_REJECTED = "5"
SUBMIT_STATUS_OVERRIDES: dict[str, OrderStatus] = {SUBMIT_STATUS_INSERT_REJECTED: OrderStatus.REJECTED}

# TThostFtdcPosiDirectionType
POSI_LONG, POSI_SHORT = "2", "3"

# How far an order has got: a report that does not move an order forward is a replay.
STATUS_RANK: dict[OrderStatus, int] = {
    OrderStatus.SUBMITTED: 1,
    OrderStatus.ACCEPTED: 2,
    OrderStatus.PARTIALLY_FILLED: 3,
    OrderStatus.FILLED: 9,
    OrderStatus.CANCELLED: 9,
    OrderStatus.REJECTED: 9,
    OrderStatus.EXPIRED: 9,
}


def order_status(ctp_status: str, submit_status: str) -> OrderStatus | None:
    override = SUBMIT_STATUS_OVERRIDES.get(submit_status)
    if override is not None and ctp_status in ("5", "4"):
        return override
    return STATUS_CTP2TB.get(ctp_status)


def ctp_order_kind(order_type: OrderType, tif: TimeInForce) -> tuple[str, str, str] | None:
    if order_type is OrderType.MARKET and tif is TimeInForce.DAY:
        tif = TimeInForce.IOC  # a market order never rests on a CTP exchange
    return ORDER_KIND_TB2CTP.get((order_type, tif))


def parse_venue_order_id(venue_order_id: str | None) -> tuple[int, int, int] | None:
    """``"<FrontID>:<SessionID>:<OrderRef>"`` → the three CTP keys, or None."""
    if not venue_order_id:
        return None
    parts = venue_order_id.split(":")
    if len(parts) != 3 or not all(p.strip().lstrip("-").isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])


def venue_order_id(front_id: int, session_id: int, order_ref: int) -> str:
    """Our venue order id: CTP's FrontID+SessionID+OrderRef key, stable for the order's whole life."""
    return f"{front_id}:{session_id}:{order_ref}"


def ref_number(order_ref: str) -> int | None:
    """CTP sends OrderRef right-aligned and space-padded; ours are plain numbers."""
    text = str(order_ref).strip()
    return int(text) if text.isdigit() else None
