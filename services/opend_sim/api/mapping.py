"""Venue <-> domain tables: futu wire enums on one side, ``tradebus.sim`` values on the other.

Every table is written once, in the direction that is natural to read, and its inverse is generated.
The facts OpenD and futu-api share with the client side — markets, time zones, TrdEnv, TrdSide,
OrderType, OrderStatus, ModifyOrderOp — come from the Futu kit (``tradebus.futu``), so the simulator
and td_exec agree on them by construction; the rest are the futu-api 10.11 wire values
(docs/simulators.md, 'Wire values').
"""

from __future__ import annotations

from tradebus.futu import markets, trade
from tradebus.sim import OrderType, RejectReason, Side, SimOrderStatus
from tradebus.tables import inverse

# market of the sim instrument (= futu's market token) -> Qot_Common.QotMarket (quote messages)
QOT_MARKET: dict[str, int] = markets.QOT_MARKET
QOT_MARKET_TO_SIM: dict[int, str] = markets.QOT_MARKET_TO_EXCHANGE

# market of the sim instrument -> Trd_Common.TrdSecMarket (secMarket of orders, fills, positions)
SEC_MARKET: dict[str, int] = markets.TRD_SEC_MARKET
SEC_MARKET_TO_SIM: dict[int, str] = markets.TRD_SEC_MARKET_TO_EXCHANGE

# market of the sim instrument -> Trd_Common.TrdMarket (header.trdMarket, trdMarketAuthList)
TRD_MARKET: dict[str, int] = markets.TRD_MARKET
TRD_MARKET_TO_SIM: dict[int, str] = markets.TRD_MARKET_TO_EXCHANGE

CURRENCY: dict[str, int] = {"HKD": 1, "USD": 2, "CNH": 3}
CURRENCY_TO_SIM: dict[int, str] = inverse(CURRENCY)

TRD_ENV_SIMULATE = trade.TRD_ENV_WIRE[trade.ENV_SIMULATE]
TRD_ENV_REAL = trade.TRD_ENV_WIRE[trade.ENV_REAL]
TRD_CATEGORY_SECURITY = trade.TRD_CATEGORY_WIRE["SECURITY"]

TRD_SIDE: dict[Side, int] = {side: trade.TRD_SIDE_WIRE[name] for side, name in trade.SIDE_TO_FUTU.items()}
TRD_SIDE_TO_SIM: dict[int, Side] = inverse(TRD_SIDE)

ORDER_TYPE: dict[OrderType, int] = {t: trade.ORDER_TYPE_WIRE[name] for t, name in trade.ORDER_TYPE_TO_FUTU.items()}
ORDER_TYPE_TO_SIM: dict[int, OrderType] = inverse(ORDER_TYPE)

# Trd_Common.OrderStatus; a cancelled order that had fills is CANCELLED_PART, see order_status()
_SIM_STATUS_TO_FUTU: dict[SimOrderStatus, str] = {
    SimOrderStatus.QUEUED: "SUBMITTED",
    SimOrderStatus.PARTIAL: "FILLED_PART",
    SimOrderStatus.FILLED: "FILLED_ALL",
    SimOrderStatus.CANCELLED: "CANCELLED_ALL",
    SimOrderStatus.REJECTED: "SUBMIT_FAILED",
}
ORDER_STATUS: dict[SimOrderStatus, int] = {
    status: trade.ORDER_STATUS_WIRE[name] for status, name in _SIM_STATUS_TO_FUTU.items()}
ORDER_STATUS_TO_SIM: dict[int, SimOrderStatus] = inverse(ORDER_STATUS)
ORDER_STATUS_SUBMITTING = trade.ORDER_STATUS_WIRE["SUBMITTING"]
ORDER_STATUS_SUBMITTED = trade.ORDER_STATUS_WIRE["SUBMITTED"]
ORDER_STATUS_CANCELLED_PART = trade.ORDER_STATUS_WIRE["CANCELLED_PART"]

# Trd_Common.ModifyOrderOp
MODIFY_NORMAL = trade.MODIFY_OP_WIRE["NORMAL"]
MODIFY_CANCEL = trade.MODIFY_OP_WIRE["CANCEL"]

# Qot_Common.SubType -> the name futu-api shows for it (query_subscription, error texts)
SUB_TYPE_NAME: dict[int, str] = {
    1: "QUOTE", 2: "ORDER_BOOK", 4: "TICKER", 5: "RT_DATA", 6: "K_DAY", 7: "K_5M", 8: "K_15M",
    9: "K_30M", 10: "K_60M", 11: "K_1M", 12: "K_WEEK", 13: "K_MON", 14: "BROKER", 15: "K_QUARTER",
    16: "K_YEAR", 17: "K_3M", 18: "K_10M", 19: "K_120M", 20: "K_180M", 21: "K_240M", 22: "ORDER_BOOK_ODD",
}
SUB_QUOTE = 1
SUB_ORDER_BOOK = 2
SUB_TICKER = 4
SUB_RT = 5
SUB_BROKER = 14

# K-line subscription type -> Qot_Common.KLType (the numberings differ)
SUB_TO_KL_TYPE: dict[int, int] = {11: 1, 17: 10, 7: 6, 18: 12, 8: 7, 9: 8, 10: 9, 6: 2,
                                  12: 3, 13: 4, 15: 11, 16: 5}
KL_TYPE_TO_SUB: dict[int, int] = inverse(SUB_TO_KL_TYPE)
# intraday KLType -> bar length in minutes; 0 = the trading day (built from the quote's day statistics)
KL_TYPE_MINUTES: dict[int, int] = {1: 1, 10: 3, 6: 5, 12: 10, 7: 15, 8: 30, 9: 60, 2: 0}
KL_DAY = 2
# KLTypes longer than a day -> the period their bars cover (week, month, quarter, year)
KL_TYPE_PERIOD: dict[int, str] = {3: "week", 4: "month", 11: "quarter", 5: "year"}
SUPPORTED_SUB_TYPES: frozenset[int] = frozenset({SUB_QUOTE, SUB_ORDER_BOOK, SUB_TICKER, SUB_RT, SUB_BROKER,
                                                 *SUB_TO_KL_TYPE})

# Qot_Common.QotMarketState for each phase of tradebus.sim.calendar (US regular hours read AFTERNOON at Futu)
MARKET_STATE: dict[str, int] = {
    "closed": 6, "pre_market": 8, "auction": 1, "waiting_open": 2, "morning": 3, "lunch": 4, "afternoon": 5,
    "closing_auction": 19, "after_hours": 10,
}
# Qot_Common.TradeDateMarket -> calendar; Qot_Common.SecurityType of a stock; ExchType per market
TRADE_DATE_MARKET: dict[int, str] = {1: "HK", 2: "US", 3: "CN"}
SECURITY_TYPE_EQUITY = 3
EXCH_TYPE: dict[str, int] = {"HK": 1, "US": 5, "SH": 14, "SZ": 15}

# Qot_Common.TickerDirection
TICKER_BUY = 1
TICKER_SELL = 2
TICKER_NEUTRAL = 3
TICKER_TYPE_AUTO_MATCH = 1

# venue refusal -> OpenD-style retMsg (the venue's own detail text is appended)
REJECT_MESSAGE: dict[RejectReason, str] = {
    RejectReason.UNKNOWN_ACCOUNT: "Account does not exist",
    RejectReason.UNKNOWN_INSTRUMENT: "Unknown stock",
    RejectReason.BAD_QUANTITY: "Invalid order quantity",
    RejectReason.BAD_LOT_SIZE: "The order quantity must be an integer multiple of the lot size",
    RejectReason.PRICE_OFF_TICK: "The price does not conform to the spread table",
    RejectReason.PRICE_OUT_OF_LIMITS: "The price is outside the allowed price range",
    RejectReason.INSUFFICIENT_CASH: "Insufficient buying power",
    RejectReason.INSUFFICIENT_MARGIN: "Insufficient margin",
    RejectReason.INSUFFICIENT_POSITION: "Insufficient sellable quantity",
    RejectReason.BAD_OFFSET: "Invalid position effect for this security",
    RejectReason.NO_LIQUIDITY: "No counterparty for the market order",
    RejectReason.UNKNOWN_ORDER: "The order does not exist",
    RejectReason.ORDER_NOT_ACTIVE: "The current order status does not allow this operation",
}


def order_status(status: SimOrderStatus, filled_qty: int) -> int:
    if status is SimOrderStatus.CANCELLED and filled_qty > 0:
        return ORDER_STATUS_CANCELLED_PART
    return ORDER_STATUS[status]


def reject_message(reason: RejectReason, text: str) -> str:
    base = REJECT_MESSAGE.get(reason, "Order rejected")
    return f"{base} ({text})" if text else base
