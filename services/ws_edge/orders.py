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
    TimeInForce,
    TradeView,
)
from ws_edge.fields import INPUT_ORDER, ORDER, TRADE_QRY, TRADE_RTN, fill
from ws_edge.instruments import EXCHANGE_TZ

# --- CTP enum tables (venue ↔ domain), inverses by comprehension -------------------------------

DIRECTION: dict[str, Side] = {"0": Side.BUY, "1": Side.SELL}
DIRECTION_OF: dict[Side, str] = {side: code for code, side in DIRECTION.items()}

OFFSET: dict[str, Offset] = {"0": Offset.OPEN, "1": Offset.CLOSE, "3": Offset.CLOSE_TODAY,
                             "4": Offset.CLOSE_YESTERDAY}
OFFSET_OF: dict[Offset, str] = {offset: code for code, offset in OFFSET.items()}
OFFSET_ALIASES: dict[str, Offset] = {"2": Offset.CLOSE, "5": Offset.CLOSE, "6": Offset.CLOSE}  # force close etc.

PRICE_TYPE: dict[str, OrderType] = {"2": OrderType.LIMIT, "1": OrderType.MARKET}
PRICE_TYPE_OF: dict[OrderType, str] = {kind: code for code, kind in PRICE_TYPE.items()}

# (TimeCondition, VolumeCondition) → time in force; GFD is a day order, IOC+any is FAK, IOC+all is FOK.
TIME_IN_FORCE: dict[tuple[str, str], TimeInForce] = {
    ("3", "1"): TimeInForce.DAY, ("1", "1"): TimeInForce.IOC, ("1", "3"): TimeInForce.FOK,
}
TIME_IN_FORCE_OF: dict[TimeInForce, tuple[str, str]] = {tif: codes for codes, tif in TIME_IN_FORCE.items()}

# Bus order status → CTP OrderStatus and the front's StatusMsg.
ORDER_STATUS: dict[OrderStatus, tuple[str, str]] = {
    OrderStatus.INITIALIZED: ("a", "报单已提交"),
    OrderStatus.SUBMITTED: ("a", "报单已提交"),
    OrderStatus.UNKNOWN: ("a", "报单已提交"),
    OrderStatus.ACCEPTED: ("3", "未成交"),
    OrderStatus.PARTIALLY_FILLED: ("1", "部分成交"),
    OrderStatus.FILLED: ("0", "全部成交"),
    OrderStatus.CANCELLED: ("5", "已撤单"),
    OrderStatus.EXPIRED: ("5", "已撤单"),
    OrderStatus.REJECTED: ("5", "已撤单"),
    OrderStatus.DENIED: ("5", "已撤单"),
}
SUBMIT_INSERTED, SUBMIT_ACCEPTED, SUBMIT_REJECTED = "0", "3", "4"

COID = re.compile(r"^ws-(\d+)-(-?\d+)-(\d+)$")
REF_WIDTH = 12  # CTP's OrderRef / OrderSysID are right-aligned in 12 characters


def pad(value: str | int) -> str:
    return str(value).strip().rjust(REF_WIDTH)


def coid_for(front_id: int, session_id: int, order_ref: int) -> str:
    return f"ws-{front_id}-{session_id}-{order_ref}"


def ctp_ids(client_order_id: str) -> tuple[int, int, str]:
    """(FrontID, SessionID, OrderRef) of a bus order."""
    match = COID.match(client_order_id)
    if match:
        return int(match.group(1)), int(match.group(2)), pad(match.group(3))
    return 0, 0, pad(client_order_id[-REF_WIDTH:])


def order_sys_id(venue_order_id: str | None) -> str:
    if not venue_order_id:
        return ""
    vid = venue_order_id.strip()
    return pad(vid) if len(vid) <= REF_WIDTH else vid


def offset_code(offset: Offset, side: Side) -> str:
    """Stocks have no offset: a buy shows as open and a sell as close."""
    if offset == Offset.NONE:
        return "0" if side == Side.BUY else "1"
    return OFFSET_OF[offset]


def _local(ts_ns: int, exchange: str) -> datetime:
    return datetime.fromtimestamp(ts_ns / 1e9, EXCHANGE_TZ.get(exchange, EXCHANGE_TZ["SHFE"]))


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
    status, status_msg = ORDER_STATUS[order.status]
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
        "CombOffsetFlag": offset_code(order.offset, order.side), "CombHedgeFlag": "1",
        "LimitPrice": float(order.price or 0.0), "VolumeTotalOriginal": order.qty,
        "TimeCondition": time_cond, "VolumeCondition": volume_cond, "MinVolume": 1 if volume_cond == "3" else 0,
        "ContingentCondition": "1", "ForceCloseReason": "0", "OrderLocalID": sys_id,
        "ExchangeID": order.exchange, "ClientID": order.account, "InstallID": 1,
        "OrderSubmitStatus": submit_status, "TradingDay": labels.trading_day, "SettlementID": 1,
        "OrderSysID": sys_id if order.accepted or order.filled_qty else "", "OrderSource": "0",
        "OrderStatus": status, "OrderType": "0", "VolumeTraded": order.filled_qty,
        "VolumeTotal": 0 if status in ("0", "5") else max(order.qty - order.filled_qty, 0),
        "InsertDate": created.strftime("%Y%m%d"), "InsertTime": created.strftime("%H:%M:%S"),
        "CancelTime": _local(order.ts_cancel, order.exchange).strftime("%H:%M:%S") if order.ts_cancel else "",
        "SequenceNo": order.sequence, "FrontID": front_id, "SessionID": session_id,
        "UserProductInfo": "tradebus", "StatusMsg": status_msg, "BrokerOrderSeq": order.sequence,
        "ZCETotalTradedVolume": order.filled_qty if order.exchange == "CZCE" else 0,
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
        "OffsetFlag": offset_code(offset, order.side), "HedgeFlag": "1", "Price": float(fill_.price),
        "Volume": fill_.qty, "TradeDate": when.strftime("%Y%m%d"), "TradeTime": when.strftime("%H:%M:%S"),
        "OrderLocalID": order_sys_id(order.venue_order_id),
        "SequenceNo": order.fill_sequences.get(fill_.trade_id, order.sequence),
        "TradingDay": labels.trading_day, "SettlementID": 1, "BrokerOrderSeq": order.sequence,
        "TradeSource": "0", "InstrumentID": labels.instrument_id, "ExchangeInstID": order.symbol,
    })


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
        raise OrderFieldError(f"Direction {body.get('Direction')!r} must be '0' (buy) or '1' (sell)")
    order_type = PRICE_TYPE.get(body.get("OrderPriceType", "2") or "2")
    if order_type is None:
        raise OrderFieldError(f"OrderPriceType {body.get('OrderPriceType')!r} is not supported (use '2' or '1')")
    tif = TIME_IN_FORCE.get((body.get("TimeCondition", "3") or "3", body.get("VolumeCondition", "1") or "1"))
    if tif is None:
        raise OrderFieldError("TimeCondition/VolumeCondition: use 3/1 (GFD), 1/1 (FAK) or 1/3 (FOK)")
    qty = int(body.get("VolumeTotalOriginal", 0))
    problem = qty_problem(qty)
    if problem:
        raise OrderFieldError(f"VolumeTotalOriginal: {problem}")
    flag = (body.get("CombOffsetFlag", "") or "0")[0]
    offset = OFFSET.get(flag) or OFFSET_ALIASES.get(flag)
    if offset is None:
        raise OrderFieldError(f"CombOffsetFlag {body.get('CombOffsetFlag')!r} is not supported")
    price = float(body.get("LimitPrice", 0.0))
    problem = price_problem(price) if order_type == OrderType.LIMIT else None
    if problem:
        raise OrderFieldError(f"LimitPrice: {problem}")
    return {"side": side, "qty": qty, "order_type": order_type,
            "price": price if order_type == OrderType.LIMIT else None,
            "offset": offset, "time_in_force": tif}


ACTION_DELETE, ACTION_MODIFY = "0", "3"  # CTP ActionFlag


def action_change(body: dict[str, Any]) -> tuple[float | None, int | None] | None:
    """What an InputOrderAction asks: None for a cancel, else a modify's (new price, new total quantity) —
    ``LimitPrice`` and ``VolumeChange``, each None when not given (as Futu takes a modify). Any other
    ActionFlag, or a bound broken, is :class:`OrderFieldError`."""
    flag = body.get("ActionFlag", ACTION_DELETE) or ACTION_DELETE
    if flag == ACTION_DELETE:
        return None
    if flag != ACTION_MODIFY:
        raise OrderFieldError(f"ActionFlag {flag!r} is not supported (use '0' or '3')")
    price = body.get("LimitPrice") or None
    qty = body.get("VolumeChange") or None
    if (qty is not None and qty_problem(qty)) or (price is not None and price_problem(price)):
        raise OrderFieldError("LimitPrice / VolumeChange out of bounds")
    return price, qty
