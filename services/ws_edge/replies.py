"""The bodies of the ``/td/`` and ``/md/`` replies that are not orders, trades or depth (those are in
``ws_edge.orders`` and ``ws_edge.depth``): logins, positions, funds, reference data, the edge's own
answers, and the RspInfo of a refusal. Pure functions of bus records and labels, one per body, each
filling the body's field list (``ws_edge.fields``) in webctp's order.
"""

from __future__ import annotations

from typing import Any

from tradebus.ctp.codes import (
    BizType,
    ClientIdType,
    CloseDealType,
    CombinationType,
    ExchangeProperty,
    HedgeFlag,
    IdentifiedCardType,
    InstLifePhase,
    MaxMarginSideAlgorithm,
    MortgageFundUseRange,
    OrderFreqControlLevel,
    PositionDate,
    PositionDateType,
    PositionType,
    ProductClass,
    TradeType,
)
from tradebus.ctp.errors import ErrorId
from tradebus.ctp.exchanges import CLOSE_TODAY_EXCHANGES
from tradebus.ctp.mapping import DIRECTION_OF, POSITION_SIDE_OF
from tradebus.schemas.account import AccountSnapshot, InstrumentInfo, PositionSide, PositionSnapshot
from tradebus.schemas.orders import Side
from ws_edge.envelope import CTP_TEXT, rsp_info
from ws_edge.fields import (
    EXCHANGE,
    INPUT_ORDER_ACTION,
    INSTRUMENT,
    INVESTOR,
    INVESTOR_POSITION,
    MAX_ORDER_VOLUME,
    MD_LOGIN,
    NUL,
    POSITION_DETAIL,
    PRODUCT,
    TD_LOGIN,
    TRADING_ACCOUNT,
    TRADING_CODE,
    USER_PASSWORD_UPDATE,
    fill,
)
from ws_edge.instruments import EXCHANGE_NAMES, delivery, product_of
from ws_edge.order_desk import ALREADY_SENT, ORDER_NOT_ACTIVE, ORDER_NOT_FOUND, UNKNOWN_ACCOUNT, UNKNOWN_INSTRUMENT

# InstrumentInfo.kind → CTP ProductClass: a stock shows as spot.
PRODUCT_CLASS = {"future": ProductClass.FUTURES, "stock": ProductClass.SPOT}
OPENED_BY: dict[PositionSide, Side] = {PositionSide.LONG: Side.BUY, PositionSide.SHORT: Side.SELL}
SYSTEM_NAME = "tradebus"
MAX_ORDER_VOLUME_SHOWN = 1_000_000  # Max{Market,Limit}OrderVolume of every instrument and product

# Why an order, cancel or query was refused (the edge's codes and td_exec's denial codes) → CTP ErrorID.
REFUSAL_ERROR: dict[str, int] = {
    "not_allowed": ErrorId.NO_PERMISSION,
    UNKNOWN_ACCOUNT: ErrorId.INVESTOR_NOT_FOUND,
    UNKNOWN_INSTRUMENT: ErrorId.INSTRUMENT_NOT_FOUND,
    "insufficient_cash": ErrorId.INSUFFICIENT_MONEY,
    "insufficient_margin": ErrorId.INSUFFICIENT_MONEY,
    "duplicate": ErrorId.DUPLICATE_ORDER,
    ALREADY_SENT: ErrorId.DUPLICATE_ORDER,
    ORDER_NOT_FOUND: ErrorId.ORDER_NOT_FOUND,
    ORDER_NOT_ACTIVE: ErrorId.ORDER_NOT_ACTIVE,
}


def refusal_info(code: str, reason: str) -> dict[str, Any]:
    """The RspInfo of a refusal (``ws_edge.order_desk.NotSent``): a venue's own error id passes through
    with its text, a known code becomes its CTP error, anything else CTP's 15 with the reason."""
    if code.isdigit():
        return rsp_info(int(code), reason)
    error_id = REFUSAL_ERROR.get(code)
    if error_id is None:
        return rsp_info(ErrorId.BAD_ORDER_FIELD, f"CTP:{reason}")
    return rsp_info(error_id, CTP_TEXT[error_id])


# --- logins --------------------------------------------------------------------------------------


def td_login_body(*, trading_day: str, clock: str, broker_id: str, user_id: str, front_id: int, session_id: int,
                  max_order_ref: int) -> dict[str, Any]:
    return fill(TD_LOGIN, {
        "TradingDay": trading_day, "LoginTime": clock, "BrokerID": broker_id, "UserID": user_id,
        "SystemName": SYSTEM_NAME, "FrontID": front_id, "SessionID": session_id, "MaxOrderRef": str(max_order_ref),
        "SHFETime": clock, "DCETime": clock, "CZCETime": clock, "FFEXTime": clock, "INETime": clock})


def md_login_body(*, trading_day: str, clock: str, broker_id: str, user_id: str) -> dict[str, Any]:
    return fill(MD_LOGIN, {"TradingDay": trading_day, "UserID": user_id, "BrokerID": broker_id, "LoginTime": clock,
                           "SystemName": SYSTEM_NAME})


def password_update_echo(body: dict[str, Any]) -> dict[str, Any]:
    """The echoed UserPasswordUpdate, both passwords blank: a client never needs them back."""
    return fill(USER_PASSWORD_UPDATE, {"BrokerID": body.get("BrokerID", ""), "UserID": body.get("UserID", "")})


def order_action_echo(body: dict[str, Any]) -> dict[str, Any]:
    """The client's InputOrderAction echoed in RspOrderAction."""
    return fill(INPUT_ORDER_ACTION, {k: v for k, v in body.items() if k in INPUT_ORDER_ACTION})


# --- the investor's books --------------------------------------------------------------------------


def position_body(p: PositionSnapshot, *, broker_id: str, instrument_id: str, trading_day: str) -> dict[str, Any]:
    cost = p.avg_price * p.qty
    frozen = {"LongFrozen": p.frozen_qty} if p.side == PositionSide.SHORT else {"ShortFrozen": p.frozen_qty}
    return fill(INVESTOR_POSITION, {
        "BrokerID": broker_id, "ExchangeID": p.exchange, "ExchangeMargin": p.margin,
        "HedgeFlag": HedgeFlag.SPECULATION, "InstrumentID": instrument_id, "InvestorID": p.account, "OpenCost": cost,
        "PosiDirection": POSITION_SIDE_OF[p.side], "Position": p.qty, "PositionCost": cost,
        "PositionDate": PositionDate.TODAY,
        "PositionProfit": p.unrealised_pnl, "SettlementID": 1, "TodayPosition": p.today_qty,
        "TradingDay": trading_day, "UseMargin": p.margin, "YdPosition": p.yesterday_qty, **frozen})


def position_detail_body(p: PositionSnapshot, *, broker_id: str, instrument_id: str,
                         trading_day: str) -> dict[str, Any]:
    return fill(POSITION_DETAIL, {
        "BrokerID": broker_id, "Direction": DIRECTION_OF[OPENED_BY[p.side]], "ExchMargin": p.margin,
        "ExchangeID": p.exchange, "HedgeFlag": HedgeFlag.SPECULATION, "InstrumentID": instrument_id,
        "InvestorID": p.account, "Margin": p.margin, "OpenDate": trading_day, "OpenPrice": p.avg_price,
        "PositionProfitByTrade": p.unrealised_pnl, "SettlementID": 1, "TradeType": TradeType.COMMON,
        "TradingDay": trading_day,
        "Volume": p.qty})


def trading_account_body(f: AccountSnapshot, *, broker_id: str, trading_day: str) -> dict[str, Any]:
    return fill(TRADING_ACCOUNT, {
        "AccountID": f.account, "Available": f.available, "Balance": f.equity or f.cash, "BrokerID": broker_id,
        "CloseProfit": f.realised_pnl, "Commission": f.fees, "CurrMargin": f.margin, "CurrencyID": f.currency,
        "ExchangeMargin": f.margin, "FrozenCash": f.frozen, "PositionProfit": f.unrealised_pnl, "PreBalance": f.cash,
        "SettlementID": 1, "TradingDay": trading_day, "WithdrawQuota": f.available})


def max_order_volume_body(body: dict[str, Any], *, broker_id: str, account: str, exchange: str,
                          max_volume: int) -> dict[str, Any]:
    return fill(MAX_ORDER_VOLUME, {
        "BrokerID": broker_id, "InvestorID": account, "InstrumentID": body.get("InstrumentID", ""),
        "ExchangeID": exchange, "MaxVolume": max_volume, "Direction": body.get("Direction", ""),
        "OffsetFlag": body.get("OffsetFlag", ""), "HedgeFlag": body.get("HedgeFlag", "") or HedgeFlag.SPECULATION})


def investor_body(*, broker_id: str, venue: str, account: str, user_name: str) -> dict[str, Any]:
    return fill(INVESTOR, {"BrokerID": broker_id, "InvestorID": account, "InvestorName": user_name,
                           "IdentifiedCardType": IdentifiedCardType.IDCARD, "IsActive": 1, "InvestorGroupID": venue})


def trading_code_body(*, broker_id: str, account: str, exchange: str) -> dict[str, Any]:
    return fill(TRADING_CODE, {"BrokerID": broker_id, "ClientID": account, "ClientIDType": ClientIdType.SPECULATION,
                               "ExchangeID": exchange, "InvestorID": account, "IsActive": 1,
                               "BizType": BizType.FUTURE})


# --- reference data ----------------------------------------------------------------------------------


def instrument_body(info: InstrumentInfo, *, instrument_id: str, reference_year: int) -> dict[str, Any]:
    """``reference_year``: the trading day's year, which places a CZCE contract's one-digit year."""
    future = info.kind == "future"
    year, month = delivery(info.symbol, reference_year) if future else (0, 0)
    return fill(INSTRUMENT, {
        "InstrumentID": instrument_id, "ExchangeID": info.exchange, "InstrumentName": info.name,
        "ExchangeInstID": info.symbol, "ProductID": product_of(info.symbol) if future else info.exchange,
        "ProductClass": PRODUCT_CLASS.get(info.kind, ProductClass.SPOT), "DeliveryYear": year,
        "DeliveryMonth": month,
        "MaxMarketOrderVolume": MAX_ORDER_VOLUME_SHOWN, "MinMarketOrderVolume": info.lot_size,
        "MaxLimitOrderVolume": MAX_ORDER_VOLUME_SHOWN, "MinLimitOrderVolume": info.lot_size,
        "VolumeMultiple": int(info.multiplier), "PriceTick": info.price_tick, "InstLifePhase": InstLifePhase.STARTED,
        "IsTrading": 1, "PositionType": PositionType.GROSS, "PositionDateType": _position_date_type(info.exchange),
        "MaxMarginSideAlgorithm": MaxMarginSideAlgorithm.YES, "OptionsType": NUL, "UnderlyingMultiple": 1.0,
        "CombinationType": CombinationType.FUTURE})


def _position_date_type(exchange: str) -> str:
    """Whether the exchange keeps today's and yesterday's positions apart (SHFE, INE)."""
    if exchange in CLOSE_TODAY_EXCHANGES:
        return PositionDateType.USE_HISTORY
    return PositionDateType.NO_USE_HISTORY


def product_body(info: InstrumentInfo, instrument: dict[str, Any]) -> dict[str, Any]:
    """The Product of an instrument, from the instrument's own body (``instrument_body``)."""
    return fill(PRODUCT, {
        "ExchangeID": info.exchange, "ExchangeProductID": instrument["ProductID"],
        "MaxLimitOrderVolume": MAX_ORDER_VOLUME_SHOWN, "MaxMarketOrderVolume": MAX_ORDER_VOLUME_SHOWN,
        "MinLimitOrderVolume": info.lot_size, "MinMarketOrderVolume": info.lot_size,
        "PositionDateType": instrument["PositionDateType"], "PositionType": PositionType.GROSS,
        "PriceTick": info.price_tick,
        "ProductClass": instrument["ProductClass"], "ProductID": instrument["ProductID"],
        "ProductName": instrument["ProductID"], "TradeCurrencyID": info.currency, "UnderlyingMultiple": 1.0,
        "VolumeMultiple": int(info.multiplier), "CloseDealType": CloseDealType.NORMAL,
        "MortgageFundUseRange": MortgageFundUseRange.NONE,
        # openctp-ctp names no codes for OpenLimitControlLevel; "no control" is the same '0' as the order
        # frequency level's.
        "OpenLimitControlLevel": OrderFreqControlLevel.NONE, "OrderFreqControlLevel": OrderFreqControlLevel.NONE})


def exchange_bodies(wanted: str = "") -> list[dict[str, Any]]:
    """Every exchange the edge serves (or the one ``wanted``)."""
    return [fill(EXCHANGE, {"ExchangeID": ex, "ExchangeName": name, "ExchangeProperty": ExchangeProperty.NORMAL})
            for ex, name in EXCHANGE_NAMES.items() if not wanted or ex == wanted]
