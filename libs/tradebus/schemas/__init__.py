"""Every payload on the bus, and one reusable decoder per subject family.

Use :func:`decoder_for_subject` (or the named decoders) rather than building decoders ad hoc: a
decoder is built once per union and reused, which is both the fast path and the single place where a
subject family's accepted types are listed.
"""

from __future__ import annotations

import msgspec

from tradebus.schemas.account import (
    AccountSnapshot,
    FundsReply,
    InstrumentInfo,
    InstrumentsReply,
    PositionSide,
    PositionSnapshot,
    PositionsReply,
)
from tradebus.schemas.auth import (
    STATE_BY_NUMBER,
    STATUS_NUMBER,
    AuthCommand,
    AuthMessage,
    AuthReply,
    AuthState,
    AuthStateChanged,
)
from tradebus.schemas.base import BusMessage, encode, now_ns
from tradebus.schemas.health import ChildProcess, HealthState, Heartbeat, SystemMessage
from tradebus.schemas.history import BarsPage, BarsQuery, HistoryMessage, HistoryRefused, TicksPage, TicksQuery
from tradebus.schemas.market import (
    Bar,
    FeedFence,
    FeedState,
    FeedStatus,
    Level,
    MarketControl,
    MarketData,
    SubscribeRequest,
    SubscriptionReply,
    Tick,
    UnsubscribeRequest,
)
from tradebus.schemas.orders import (
    TERMINAL_STATUSES,
    AccountFence,
    CancelOrder,
    CommandAccepted,
    CommandDenied,
    ModifyOrder,
    Offset,
    OrderAccepted,
    OrderCancelled,
    OrderCancelRejected,
    OrderDenied,
    OrderEvent,
    OrderEventBase,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrdersReply,
    OrderStatus,
    OrderStatusUnknown,
    OrderSubmitted,
    OrderType,
    OrderUpdated,
    OrderView,
    QueryFunds,
    QueryInstruments,
    QueryOrders,
    QueryPositions,
    QueryTrades,
    QueryVenue,
    Side,
    SubmitOrder,
    TimeInForce,
    TradeCommand,
    TradesReply,
    TradeView,
    VenueInfo,
)

TradeReply = (
    CommandAccepted | CommandDenied | OrderView | AccountSnapshot | PositionSnapshot | InstrumentInfo | OrdersReply
    | TradesReply | TradeView | PositionsReply | FundsReply | InstrumentsReply | VenueInfo
)

MARKET_DATA_DECODER = msgspec.json.Decoder(MarketData)
MARKET_CONTROL_DECODER = msgspec.json.Decoder(MarketControl)
TRADE_COMMAND_DECODER = msgspec.json.Decoder(TradeCommand)
ORDER_EVENT_DECODER = msgspec.json.Decoder(OrderEvent)
TRADE_REPLY_DECODER = msgspec.json.Decoder(TradeReply)
HISTORY_DECODER = msgspec.json.Decoder(HistoryMessage)
AUTH_DECODER = msgspec.json.Decoder(AuthMessage)
SYSTEM_DECODER = msgspec.json.Decoder(SystemMessage)
FENCE_DECODER = msgspec.json.Decoder(AccountFence)  # td.fence.<venue>.<account>.<holder> in TD_EVT

# Subject family (first two tokens, or one) → the decoder for everything published under it.
_FAMILIES: tuple[tuple[str, msgspec.json.Decoder], ...] = (
    ("md.ctl.history", HISTORY_DECODER),
    ("md.ctl.", MARKET_CONTROL_DECODER),
    ("md.", MARKET_DATA_DECODER),
    ("td.cmd.", TRADE_COMMAND_DECODER),
    ("td.evt.", ORDER_EVENT_DECODER),
    ("td.fence.", FENCE_DECODER),
    ("td.fwd.", TRADE_COMMAND_DECODER),
    ("auth.", AUTH_DECODER),
    ("sys.", SYSTEM_DECODER),
)


def decoder_for_subject(subject: str) -> msgspec.json.Decoder | None:
    for prefix, decoder in _FAMILIES:
        if subject.startswith(prefix):
            return decoder
    return None


__all__ = [
    "AUTH_DECODER",
    "FENCE_DECODER",
    "HISTORY_DECODER",
    "MARKET_CONTROL_DECODER",
    "MARKET_DATA_DECODER",
    "ORDER_EVENT_DECODER",
    "STATE_BY_NUMBER",
    "STATUS_NUMBER",
    "SYSTEM_DECODER",
    "TERMINAL_STATUSES",
    "TRADE_COMMAND_DECODER",
    "TRADE_REPLY_DECODER",
    "AccountFence",
    "AccountSnapshot",
    "AuthCommand",
    "AuthMessage",
    "AuthReply",
    "AuthState",
    "AuthStateChanged",
    "Bar",
    "BarsPage",
    "BarsQuery",
    "BusMessage",
    "CancelOrder",
    "ChildProcess",
    "CommandAccepted",
    "CommandDenied",
    "FeedFence",
    "FeedState",
    "FeedStatus",
    "FundsReply",
    "HealthState",
    "Heartbeat",
    "HistoryMessage",
    "HistoryRefused",
    "InstrumentInfo",
    "InstrumentsReply",
    "Level",
    "MarketControl",
    "MarketData",
    "ModifyOrder",
    "Offset",
    "OrderAccepted",
    "OrderCancelRejected",
    "OrderCancelled",
    "OrderDenied",
    "OrderEvent",
    "OrderEventBase",
    "OrderExpired",
    "OrderFilled",
    "OrderRejected",
    "OrderStatus",
    "OrderStatusUnknown",
    "OrderSubmitted",
    "OrderType",
    "OrderUpdated",
    "OrderView",
    "OrdersReply",
    "PositionSide",
    "PositionSnapshot",
    "PositionsReply",
    "QueryFunds",
    "QueryInstruments",
    "QueryOrders",
    "QueryPositions",
    "QueryTrades",
    "QueryVenue",
    "Side",
    "SubmitOrder",
    "SubscribeRequest",
    "SubscriptionReply",
    "SystemMessage",
    "Tick",
    "TicksPage",
    "TicksQuery",
    "TimeInForce",
    "TradeCommand",
    "TradeReply",
    "TradeView",
    "TradesReply",
    "UnsubscribeRequest",
    "VenueInfo",
    "decoder_for_subject",
    "encode",
    "now_ns",
]
