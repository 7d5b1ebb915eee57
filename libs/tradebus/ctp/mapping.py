"""CTP codes ↔ the bus's order enums (``tradebus.schemas.orders``), one table per concept.

Each forward table maps CTP's code to the bus value and is one-to-one; the way back (``*_OF``) is
generated from it by :func:`inverse`, never typed. CTP codes with no bus value of their own are
listed apart as aliases (read, never written): the force-close offset flags read as a close, the
order statuses of a finished or conditional order read as cancelled or accepted. Lookups of an
unknown code return ``None`` so callers fail closed. The facts behind the tables: docs/ctp.md.
"""

from __future__ import annotations

from tradebus.ctp.codes import (
    Direction,
    OffsetFlag,
    OrderPriceType,
    OrderSubmitStatus,
    PosiDirection,
    TimeCondition,
    VolumeCondition,
)
from tradebus.ctp.codes import OrderStatus as CtpStatus
from tradebus.ctp.exchanges import CLOSE_TODAY_EXCHANGES
from tradebus.schemas.account import PositionSide
from tradebus.schemas.orders import Offset, OrderStatus, OrderType, Side, TimeInForce
from tradebus.tables import inverse

DIRECTION: dict[str, Side] = {Direction.BUY: Side.BUY, Direction.SELL: Side.SELL}
DIRECTION_OF: dict[Side, str] = inverse(DIRECTION)

OFFSET: dict[str, Offset] = {
    OffsetFlag.OPEN: Offset.OPEN,
    OffsetFlag.CLOSE: Offset.CLOSE,
    OffsetFlag.CLOSE_TODAY: Offset.CLOSE_TODAY,
    OffsetFlag.CLOSE_YESTERDAY: Offset.CLOSE_YESTERDAY,
}
OFFSET_OF: dict[Offset, str] = inverse(OFFSET)
# Closes made by the broker (risk control): a report may carry them, an order of ours never does.
OFFSET_ALIASES: dict[str, Offset] = {
    OffsetFlag.FORCE_CLOSE: Offset.CLOSE,
    OffsetFlag.FORCE_OFF: Offset.CLOSE,
    OffsetFlag.LOCAL_FORCE_CLOSE: Offset.CLOSE,
}
OFFSET_READ: dict[str, Offset] = OFFSET | OFFSET_ALIASES

PRICE_TYPE: dict[str, OrderType] = {OrderPriceType.LIMIT_PRICE: OrderType.LIMIT,
                                    OrderPriceType.ANY_PRICE: OrderType.MARKET}
PRICE_TYPE_OF: dict[OrderType, str] = inverse(PRICE_TYPE)

# (TimeCondition, VolumeCondition): GFD is a day order; IOC + any volume is CTP's FAK, IOC + complete
# volume its FOK.
TIME_IN_FORCE: dict[tuple[str, str], TimeInForce] = {
    (TimeCondition.GFD, VolumeCondition.AV): TimeInForce.DAY,
    (TimeCondition.IOC, VolumeCondition.AV): TimeInForce.IOC,
    (TimeCondition.IOC, VolumeCondition.CV): TimeInForce.FOK,
}
TIME_IN_FORCE_OF: dict[TimeInForce, tuple[str, str]] = inverse(TIME_IN_FORCE)

# (OrderPriceType, TimeCondition, VolumeCondition) of each order kind we send. An any-price order
# never rests on a CTP exchange, so it is only sent as FAK.
ORDER_KIND_OF: dict[tuple[OrderType, TimeInForce], tuple[str, str, str]] = {
    (kind, tif): (PRICE_TYPE_OF[kind], *TIME_IN_FORCE_OF[tif])
    for kind in PRICE_TYPE_OF
    for tif in TIME_IN_FORCE_OF
    if kind is OrderType.LIMIT or tif is TimeInForce.IOC
}
ORDER_KIND: dict[tuple[str, str, str], tuple[OrderType, TimeInForce]] = inverse(ORDER_KIND_OF)

ORDER_STATUS: dict[str, OrderStatus] = {
    CtpStatus.UNKNOWN: OrderStatus.SUBMITTED,
    CtpStatus.NO_TRADE_QUEUEING: OrderStatus.ACCEPTED,
    CtpStatus.PART_TRADED_QUEUEING: OrderStatus.PARTIALLY_FILLED,
    CtpStatus.ALL_TRADED: OrderStatus.FILLED,
    CtpStatus.CANCELED: OrderStatus.CANCELLED,
}
ORDER_STATUS_OF: dict[OrderStatus, str] = inverse(ORDER_STATUS)
# Out of the queue without (all) trades is finished, i.e. cancelled; a conditional order waiting or
# triggered is accepted.
ORDER_STATUS_ALIASES: dict[str, OrderStatus] = {
    CtpStatus.PART_TRADED_NOT_QUEUEING: OrderStatus.CANCELLED,
    CtpStatus.NO_TRADE_NOT_QUEUEING: OrderStatus.CANCELLED,
    CtpStatus.NOT_TOUCHED: OrderStatus.ACCEPTED,
    CtpStatus.TOUCHED: OrderStatus.ACCEPTED,
}
ORDER_STATUS_READ: dict[str, OrderStatus] = ORDER_STATUS | ORDER_STATUS_ALIASES
# Bus states CTP has no code for, shown as the nearest one it has.
STATUS_SHOWN_AS: dict[OrderStatus, OrderStatus] = {
    OrderStatus.INITIALIZED: OrderStatus.SUBMITTED,
    OrderStatus.UNKNOWN: OrderStatus.SUBMITTED,
    OrderStatus.PENDING_CANCEL: OrderStatus.ACCEPTED,  # still in the queue until the cancel lands
    OrderStatus.PENDING_UPDATE: OrderStatus.ACCEPTED,
    OrderStatus.EXPIRED: OrderStatus.CANCELLED,
    OrderStatus.REJECTED: OrderStatus.CANCELLED,
    OrderStatus.DENIED: OrderStatus.CANCELLED,
}

POSITION_SIDE: dict[str, PositionSide] = {PosiDirection.LONG: PositionSide.LONG,
                                          PosiDirection.SHORT: PositionSide.SHORT}
POSITION_SIDE_OF: dict[PositionSide, str] = inverse(POSITION_SIDE)


def order_status(ctp_status: str, submit_status: str) -> OrderStatus | None:
    """A CTP (OrderStatus, OrderSubmitStatus) as a bus status; an order the exchange refused is
    reported cancelled with InsertRejected, which is a rejection (definite venue evidence)."""
    if submit_status == OrderSubmitStatus.INSERT_REJECTED and ctp_status in (
        CtpStatus.CANCELED, CtpStatus.NO_TRADE_NOT_QUEUEING,
    ):
        return OrderStatus.REJECTED
    return ORDER_STATUS_READ.get(ctp_status)


def ctp_status(status: OrderStatus) -> str:
    """The OrderStatus code a CTP client is shown for a bus status."""
    return ORDER_STATUS_OF[STATUS_SHOWN_AS.get(status, status)]


def ctp_order_kind(order_type: OrderType, tif: TimeInForce) -> tuple[str, str, str] | None:
    """The (OrderPriceType, TimeCondition, VolumeCondition) of an order; a market day order is sent as
    FAK (it never rests); None when CTP has no such order."""
    if order_type is OrderType.MARKET and tif is TimeInForce.DAY:
        tif = TimeInForce.IOC
    return ORDER_KIND_OF.get((order_type, tif))


def position_effect(exchange: str, flag: str) -> Offset | None:
    """What an order's offset flag closes at ``exchange``: where today's and yesterday's positions are
    kept apart a plain Close closes yesterday's; elsewhere every close flag is a plain close."""
    offset = OFFSET.get(flag)
    if offset is None or offset is Offset.OPEN:
        return offset
    if exchange in CLOSE_TODAY_EXCHANGES:
        return Offset.CLOSE_YESTERDAY if offset is Offset.CLOSE else offset
    return Offset.CLOSE
