"""Orders between the bus and CTP's shapes: enums, ids, the order fold, and the Order/Trade bodies.

Ids: an order placed through ws_edge gets the client order id ``ws-<FrontID>-<SessionID>-<OrderRef>``,
so CTP's (FrontID, SessionID, OrderRef) triple — the key a CTP client cancels by — maps to the bus
order and back without a table, across edge restarts. Orders placed elsewhere (FMZ, a strategy) show
FrontID 0, SessionID 0 and the tail of their client order id as OrderRef.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tradebus.ctp.codes import (
    STATUS_MSG,
    ActionFlag,
    ContingentCondition,
    ForceCloseReason,
    HedgeFlag,
    OffsetFlag,
    OrderActionStatus,
    OrderPriceType,
    OrderSource,
    OrderSubmitStatus,
    TimeCondition,
    TradeSource,
    VolumeCondition,
)
from tradebus.ctp.codes import OrderStatus as CtpStatus
from tradebus.ctp.codes import OrderType as CtpOrderType
from tradebus.ctp.exchanges import ONE_DIGIT_YEAR_EXCHANGES
from tradebus.ctp.ids import ID_WIDTH, padded
from tradebus.ctp.mapping import (
    DIRECTION,
    DIRECTION_OF,
    OFFSET_OF,
    OFFSET_READ,
    PRICE_TYPE,
    PRICE_TYPE_OF,
    TIME_IN_FORCE,
    TIME_IN_FORCE_OF,
    ctp_status,
)
from tradebus.ctp.time import BEIJING
from tradebus.exchange_zones import EXCHANGE_TZ
from tradebus.orders.bounds import price_problem, qty_problem
from tradebus.orders.order import Order
from tradebus.orders.order import apply as apply_event
from tradebus.orders.order import new_order as new_shared_order
from tradebus.schemas.orders import (
    Offset,
    OrderAccepted,
    OrderCancelled,
    OrderEvent,
    OrderStatus,
    OrderSubmitted,
    OrderType,
    Side,
    TradeView,
)
from ws_edge.fields import INPUT_ORDER, ORDER, ORDER_ACTION, TRADE_QRY, TRADE_RTN, fill

# The CTP codes and their bus meanings are the kit's (tradebus.ctp.codes / .mapping, docs/ctp.md 'Codes').
SUBMIT_INSERTED, SUBMIT_ACCEPTED, SUBMIT_REJECTED = (
    OrderSubmitStatus.INSERT_SUBMITTED, OrderSubmitStatus.ACCEPTED, OrderSubmitStatus.INSERT_REJECTED)
FINISHED_CODES = frozenset({CtpStatus.ALL_TRADED, CtpStatus.CANCELED})  # VolumeTotal 0: nothing left to trade

COID = re.compile(r"^ws-(\d+)-(-?\d+)-(\d+)$")


def coid_for(front_id: int, session_id: int, order_ref: int) -> str:
    return f"ws-{front_id}-{session_id}-{order_ref}"


def ctp_ids(client_order_id: str) -> tuple[int, int, str]:
    """(FrontID, SessionID, OrderRef) of a bus order."""
    match = COID.match(client_order_id)
    if match:
        return int(match.group(1)), int(match.group(2)), padded(match.group(3))
    return 0, 0, padded(client_order_id[-ID_WIDTH:])


def order_sys_id(venue_order_id: str | None) -> str:
    if not venue_order_id:
        return ""
    vid = venue_order_id.strip()
    return padded(vid) if len(vid) <= ID_WIDTH else vid


def offset_code(offset: Offset, side: Side) -> str:
    """Stocks have no offset: a buy shows as open and a sell as close."""
    if offset == Offset.NONE:
        return OffsetFlag.OPEN if side == Side.BUY else OffsetFlag.CLOSE
    return OFFSET_OF[offset]


def _local(ts_ns: int, exchange: str) -> datetime:
    return datetime.fromtimestamp(ts_ns / 1e9, EXCHANGE_TZ.get(exchange, BEIJING))


# --- the fold --------------------------------------------------------------------------------------


@dataclass(slots=True)
class OrderState(Order):
    """The shared order fold plus what only the webctp view needs."""

    sequence: int = 0  # SequenceNo / BrokerOrderSeq shown to the client
    accepted: bool = False  # the venue took it (OrderSubmitStatus 3 rather than 0)
    ts_cancel: int = 0
    fill_sequences: dict[str, int] = field(default_factory=dict)  # trade id → its SequenceNo


def new_order(event: OrderSubmitted, sequence: int) -> OrderState:
    order = new_shared_order(event, OrderState)
    order.sequence = sequence
    return order


def apply(order: OrderState, event: OrderEvent, sequence: int) -> TradeView | None:
    """Fold one event into ``order`` with the shared state table; the new fill, the first time one is seen."""
    trades_before = len(order.trades)
    apply_event(order, event)
    if isinstance(event, OrderAccepted) or order.filled_qty:
        order.accepted = True
    if isinstance(event, OrderCancelled) and order.status is OrderStatus.CANCELLED:
        order.ts_cancel = event.ts_event
    if len(order.trades) == trades_before:
        return None  # not a fill, or a replayed / refused one
    trade = order.trades[-1]
    order.fill_sequences[trade.trade_id] = sequence
    return trade


# --- bodies ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Labels:
    """What the client sees for ids that are not the order's own."""

    broker_id: str
    instrument_id: str  # webctp InstrumentID (HK.00700 / rb2601)
    trading_day: str  # the order's TradingDay (ws_edge.trading_day), shared by its trades


def order_body(order: OrderState, labels: Labels) -> dict[str, Any]:
    front_id, session_id, order_ref = ctp_ids(order.client_order_id)
    status = ctp_status(order.status)
    status_msg = STATUS_MSG[status]
    time_cond, volume_cond = TIME_IN_FORCE_OF[order.time_in_force]
    created = _local(order.ts_created, order.exchange)
    rejected = order.status in (OrderStatus.REJECTED, OrderStatus.DENIED)
    submit_status = SUBMIT_REJECTED if rejected else SUBMIT_ACCEPTED if order.accepted else SUBMIT_INSERTED
    if rejected and order.reason:
        status_msg = order.reason
    sys_id = order_sys_id(order.venue_order_id)
    return fill(ORDER, {
        "BrokerID": labels.broker_id, "InvestorID": order.account, "OrderRef": order_ref, "UserID": order.user,
        "OrderPriceType": PRICE_TYPE_OF[order.order_type], "Direction": DIRECTION_OF[order.side],
        "CombOffsetFlag": offset_code(order.offset, order.side), "CombHedgeFlag": HedgeFlag.SPECULATION,
        "LimitPrice": float(order.price or 0.0), "VolumeTotalOriginal": order.qty,
        "TimeCondition": time_cond, "VolumeCondition": volume_cond,
        "MinVolume": 1 if volume_cond == VolumeCondition.CV else 0,
        "ContingentCondition": ContingentCondition.IMMEDIATELY, "ForceCloseReason": ForceCloseReason.NOT_FORCE_CLOSE,
        "OrderLocalID": sys_id,
        "ExchangeID": order.exchange, "ClientID": order.account, "InstallID": 1,
        "OrderSubmitStatus": submit_status, "TradingDay": labels.trading_day, "SettlementID": 1,
        "OrderSysID": sys_id if order.accepted or order.filled_qty else "", "OrderSource": OrderSource.PARTICIPANT,
        "OrderStatus": status, "OrderType": CtpOrderType.NORMAL, "VolumeTraded": order.filled_qty,
        "VolumeTotal": 0 if status in FINISHED_CODES else max(order.qty - order.filled_qty, 0),
        "InsertDate": created.strftime("%Y%m%d"), "InsertTime": created.strftime("%H:%M:%S"),
        "CancelTime": _local(order.ts_cancel, order.exchange).strftime("%H:%M:%S") if order.ts_cancel else "",
        "SequenceNo": order.sequence, "FrontID": front_id, "SessionID": session_id,
        "UserProductInfo": "tradebus", "StatusMsg": status_msg, "BrokerOrderSeq": order.sequence,
        "ZCETotalTradedVolume": order.filled_qty if order.exchange in ONE_DIGIT_YEAR_EXCHANGES else 0,
        "InstrumentID": labels.instrument_id, "ExchangeInstID": order.symbol,
    })


def trade_id_of(trade_id: str) -> str:
    """The venue's own trade id out of the bus's ``<venue>:<exchange>:<id>`` key."""
    return trade_id.rsplit(":", 1)[-1]


def trade_body(order: OrderState, fill_: TradeView, labels: Labels, *, query: bool = False) -> dict[str, Any]:
    _, _, order_ref = ctp_ids(order.client_order_id)
    when = _local(fill_.ts_event, order.exchange)
    offset = fill_.offset if fill_.offset != Offset.NONE else order.offset
    return fill(TRADE_QRY if query else TRADE_RTN, {
        "BrokerID": labels.broker_id, "InvestorID": order.account, "OrderRef": order_ref, "UserID": order.user,
        "ExchangeID": order.exchange, "TradeID": trade_id_of(fill_.trade_id), "Direction": DIRECTION_OF[order.side],
        "OrderSysID": order_sys_id(order.venue_order_id), "ClientID": order.account,
        "OffsetFlag": offset_code(offset, order.side), "HedgeFlag": HedgeFlag.SPECULATION, "Price": float(fill_.price),
        "Volume": fill_.qty, "TradeDate": when.strftime("%Y%m%d"), "TradeTime": when.strftime("%H:%M:%S"),
        "OrderLocalID": order_sys_id(order.venue_order_id),
        "SequenceNo": order.fill_sequences.get(fill_.trade_id, order.sequence),
        "TradingDay": labels.trading_day, "SettlementID": 1, "BrokerOrderSeq": order.sequence,
        "TradeSource": TradeSource.NORMAL, "InstrumentID": labels.instrument_id, "ExchangeInstID": order.symbol,
    })


def input_order_body(order: OrderState, labels: Labels) -> dict[str, Any]:
    """The InputOrder of ErrRtnOrderInsert for an order the venue refused before accepting it."""
    _, _, order_ref = ctp_ids(order.client_order_id)
    time_cond, volume_cond = TIME_IN_FORCE_OF[order.time_in_force]
    return fill(INPUT_ORDER, {
        "BrokerID": labels.broker_id, "InvestorID": order.account, "OrderRef": order_ref, "UserID": order.user,
        "OrderPriceType": PRICE_TYPE_OF[order.order_type], "Direction": DIRECTION_OF[order.side],
        "CombOffsetFlag": offset_code(order.offset, order.side), "CombHedgeFlag": HedgeFlag.SPECULATION,
        "LimitPrice": float(order.price or 0.0), "VolumeTotalOriginal": order.qty, "TimeCondition": time_cond,
        "VolumeCondition": volume_cond, "ContingentCondition": ContingentCondition.IMMEDIATELY,
        "ForceCloseReason": ForceCloseReason.NOT_FORCE_CLOSE, "ExchangeID": order.exchange,
        "InstrumentID": labels.instrument_id})


def order_action_body(order: OrderState, labels: Labels, reason: str) -> dict[str, Any]:
    """The OrderAction of ErrRtnOrderAction: a cancel the venue refused, with its reason."""
    front_id, session_id, order_ref = ctp_ids(order.client_order_id)
    return fill(ORDER_ACTION, {
        "BrokerID": labels.broker_id, "InvestorID": order.account, "OrderRef": order_ref, "FrontID": front_id,
        "SessionID": session_id, "ExchangeID": order.exchange, "OrderSysID": order_sys_id(order.venue_order_id),
        "ActionFlag": ActionFlag.DELETE, "OrderActionStatus": OrderActionStatus.REJECTED, "UserID": order.user,
        "StatusMsg": reason, "InstrumentID": labels.instrument_id})


def input_order_echo(body: dict[str, Any]) -> dict[str, Any]:
    """The client's InputOrder echoed in RspOrderInsert / ErrRtnOrderInsert (30 fields)."""
    return fill(INPUT_ORDER, {k: v for k, v in body.items() if k in INPUT_ORDER})


class OrderFieldError(Exception):
    """An InputOrder this edge cannot express as a bus order (CTP error 15)."""


def parse_order_ref(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit():
        raise OrderFieldError(f"OrderRef {text!r} is not a number")
    return int(text)


def order_terms(body: dict[str, Any]) -> dict[str, Any]:
    """side / qty / type / price / offset / time in force of an InputOrder, or :class:`OrderFieldError`
    (a stock order's offset is dropped by the ``OrderDesk``)."""
    side = DIRECTION.get(body.get("Direction", ""))
    if side is None:
        raise OrderFieldError(f"Direction {body.get('Direction')!r} is not one of {sorted(DIRECTION)}")
    order_type = PRICE_TYPE.get(body.get("OrderPriceType", "") or OrderPriceType.LIMIT_PRICE)
    if order_type is None:
        raise OrderFieldError(f"OrderPriceType {body.get('OrderPriceType')!r} is not one of {sorted(PRICE_TYPE)}")
    tif = TIME_IN_FORCE.get((body.get("TimeCondition", "") or TimeCondition.GFD,
                             body.get("VolumeCondition", "") or VolumeCondition.AV))
    if tif is None:
        raise OrderFieldError(f"TimeCondition/VolumeCondition is not one of {sorted(TIME_IN_FORCE)}")
    qty = int(body.get("VolumeTotalOriginal", 0))
    problem = qty_problem(qty)
    if problem:
        raise OrderFieldError(f"VolumeTotalOriginal: {problem}")
    flag = (body.get("CombOffsetFlag", "") or OffsetFlag.OPEN)[0]
    offset = OFFSET_READ.get(flag)
    if offset is None:
        raise OrderFieldError(f"CombOffsetFlag {body.get('CombOffsetFlag')!r} is not supported")
    price = float(body.get("LimitPrice", 0.0))
    problem = price_problem(price) if order_type == OrderType.LIMIT else None
    if problem:
        raise OrderFieldError(f"LimitPrice: {problem}")
    return {"side": side, "qty": qty, "order_type": order_type,
            "price": price if order_type == OrderType.LIMIT else None,
            "offset": offset, "time_in_force": tif}


def action_change(body: dict[str, Any]) -> tuple[float | None, int | None] | None:
    """What an InputOrderAction asks: None for a cancel, else a modify's (new price, new total quantity) —
    ``LimitPrice`` and ``VolumeChange``, each None when not given (as Futu takes a modify). Any other
    ActionFlag, or a bound broken, is :class:`OrderFieldError`."""
    flag = body.get("ActionFlag", "") or ActionFlag.DELETE
    if flag == ActionFlag.DELETE:
        return None
    if flag != ActionFlag.MODIFY:
        raise OrderFieldError(f"ActionFlag {flag!r} is not one of {sorted(ActionFlag.values())}")
    price = body.get("LimitPrice") or None
    qty = body.get("VolumeChange") or None
    if (qty is not None and qty_problem(qty)) or (price is not None and price_problem(price)):
        raise OrderFieldError("LimitPrice / VolumeChange out of bounds")
    return price, qty
