"""The route table of ``/md/`` and ``/td/``: one row per request the edge answers.

A row says everything about a request name: the body it accepts (body keys and fields, the bounds that
:func:`ws_edge.requests.validate_td` applies), the reply's name and body key, the body of an empty
answer, whether it needs a login, and the handler that answers it. Dispatch (``TdSession`` /
``MdSession``), the reply name of a refused call (-1, -3), validation and the docs' listing all read
these tables, and nothing else names the routed requests (docs/ws_edge.md, 'Dispatch', 'Trading
requests', 'Market-data requests', 'Code map').
"""

from __future__ import annotations

from typing import Any

from ws_edge import md_requests, td_books, td_reference, td_trading, td_user
from ws_edge.route import Route, RouteTable


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())



_QRY_INVESTOR = "BrokerID, InvestorID"
TD_ROUTES: dict[str, Route] = {
    "ReqUserLogin": Route(("ReqUserLogin",), _names(
        "TradingDay, BrokerID, UserID, Password, UserProductInfo, InterfaceProductInfo, ProtocolInfo, MacAddress, "
        "OneTimePassword, reserve1, LoginRemark, ClientIPPort, ClientIPAddress"), "RspUserLogin", "RspUserLogin", None,
        td_user.login, needs_login=False),
    "ReqQryInstrument": Route(("QryInstrument", "ReqQryInstrument"), _names(
        "reserve1, ExchangeID, reserve2, reserve3, InstrumentID, ExchangeInstID, ProductID"),
        "RspQryInstrument", "Instrument", {}, td_reference.qry_instrument),
    "ReqQryExchange": Route(("QryExchange",), ("ExchangeID",), "RspQryExchange", "Exchange", {},
                            td_reference.qry_exchange),
    "ReqQryProduct": Route(("QryProduct",), _names("reserve1, ProductClass, ExchangeID, ProductID"),
                           "RspQryProduct", "Product", {}, td_reference.qry_product),
    "ReqQryDepthMarketData": Route(("QryDepthMarketData",), _names("reserve1, ExchangeID, InstrumentID"),
                                   "RspQryDepthMarketData", "DepthMarketData", {}, td_reference.qry_depth),
    "ReqQryInvestorPositionDetail": Route(("QryInvestorPositionDetail",), _names(
        f"{_QRY_INVESTOR}, reserve1, ExchangeID, InvestUnitID, InstrumentID"),
        "RspQryInvestorPositionDetail", "InvestorPositionDetail", {}, td_books.qry_position_detail),
    "ReqQryExchangeMarginRate": Route(("QryExchangeMarginRate",), _names(
        "BrokerID, reserve1, HedgeFlag, ExchangeID, InstrumentID"), "RspQryExchangeMarginRate",
        "ExchangeMarginRate", {}, td_reference.qry_rates),
    "ReqQryInstrumentOrderCommRate": Route(("QryInstrumentOrderCommRate",), _names(
        f"{_QRY_INVESTOR}, reserve1, InstrumentID"), "RspQryInstrumentOrderCommRate", "InstrumentOrderCommRate", {},
        td_reference.qry_rates),
    "ReqQryOptionInstrTradeCost": Route(("QryOptionInstrTradeCost",), _names(
        f"{_QRY_INVESTOR}, reserve1, HedgeFlag, InputPrice, UnderlyingPrice, ExchangeID, InvestUnitID, InstrumentID"),
        "RspQryOptionInstrTradeCost", "OptionInstrTradeCost", {}, td_reference.qry_rates),
    "ReqQryOptionInstrCommRate": Route(("QryOptionInstrCommRate",), _names(
        f"{_QRY_INVESTOR}, reserve1, ExchangeID, InvestUnitID, InstrumentID"),
        "RspQryOptionInstrCommRate", "OptionInstrCommRate", {}, td_reference.qry_rates),
    "ReqQryOrder": Route(("QryOrder",), _names(
        f"{_QRY_INVESTOR}, reserve1, ExchangeID, OrderSysID, InsertTimeStart, InsertTimeEnd, InvestUnitID, "
        "InstrumentID"), "RspQryOrder", "Order", None, td_books.qry_order),
    "ReqQryMaxOrderVolume": Route(("QryMaxOrderVolume",), _names(
        f"{_QRY_INVESTOR}, reserve1, Direction, OffsetFlag, HedgeFlag, MaxVolume, ExchangeID, InvestUnitID, "
        "InstrumentID"), "RspQryMaxOrderVolume", "QryMaxOrderVolume", None, td_books.qry_max_volume),
    "ReqOrderAction": Route(("InputOrderAction",), _names(
        f"{_QRY_INVESTOR}, OrderActionRef, OrderRef, RequestID, FrontID, SessionID, ExchangeID, OrderSysID, "
        "ActionFlag, LimitPrice, VolumeChange, UserID, reserve1, InvestUnitID, reserve2, MacAddress, InstrumentID, "
        "IPAddress"), "RspOrderAction", "InputOrderAction", None, td_trading.order_action),
    "ReqOrderInsert": Route(("InputOrder",), _names(
        f"{_QRY_INVESTOR}, reserve1, OrderRef, UserID, OrderPriceType, Direction, CombOffsetFlag, CombHedgeFlag, "
        "LimitPrice, VolumeTotalOriginal, TimeCondition, GTDDate, VolumeCondition, MinVolume, ContingentCondition, "
        "StopPrice, ForceCloseReason, IsAutoSuspend, BusinessUnit, RequestID, UserForceClose, IsSwapOrder, "
        "ExchangeID, InvestUnitID, AccountID, CurrencyID, ClientID, reserve2, MacAddress, InstrumentID, IPAddress"),
        "RspOrderInsert", "InputOrder", None, td_trading.order_insert),
    "ReqUserPasswordUpdate": Route(("UserPasswordUpdate",), _names("BrokerID, UserID, OldPassword, NewPassword"),
                                   "RspUserPasswordUpdate", "UserPasswordUpdate", None, td_user.password_update),
    "ReqQryTrade": Route(("QryTrade",), _names(
        f"{_QRY_INVESTOR}, reserve1, ExchangeID, TradeID, TradeTimeStart, TradeTimeEnd, InvestUnitID, InstrumentID"),
        "RspQryTrade", "Trade", None, td_books.qry_trade),
    "ReqQryInvestorPosition": Route(("QryInvestorPosition",), _names(
        f"{_QRY_INVESTOR}, reserve1, ExchangeID, InvestUnitID, InstrumentID"),
        "RspQryInvestorPosition", "InvestorPosition", None, td_books.qry_position),
    "ReqQryTradingAccount": Route(("QryTradingAccount",), _names(
        f"{_QRY_INVESTOR}, CurrencyID, BizType, AccountID"), "RspQryTradingAccount", "TradingAccount", None,
        td_books.qry_trading_account),
    "ReqQryInvestor": Route(("QryInvestor",), _names(_QRY_INVESTOR), "RspQryInvestor", "Investor", None,
                            td_books.qry_investor),
    "ReqQryTradingCode": Route(("QryTradingCode",), _names(
        f"{_QRY_INVESTOR}, ExchangeID, ClientID, ClientIDType, InvestUnitID"), "RspQryTradingCode", "TradingCode",
        None, td_books.qry_trading_code),
    "ReqQryInstrumentMarginRate": Route(("QryInstrumentMarginRate",), _names(
        f"{_QRY_INVESTOR}, reserve1, HedgeFlag, ExchangeID, InvestUnitID, InstrumentID"),
        "RspQryInstrumentMarginRate", "InstrumentMarginRate", None, td_reference.qry_rates),
    "ReqQryInstrumentCommissionRate": Route(("QryInstrumentCommissionRate",), _names(
        f"{_QRY_INVESTOR}, reserve1, ExchangeID, InvestUnitID, InstrumentID"),
        "RspQryInstrumentCommissionRate", "InstrumentCommissionRate", None, td_reference.qry_rates),
}

# Names in webctp's validation table that it does not route: -401 before login, -404 after
# (docs/ws_edge.md, 'Dispatch').
# Any other unknown name is -404 at once.
TD_KNOWN_UNROUTED = frozenset(_names("""
    ReqUserLogout, ReqAuthenticate, ReqQrySettlementInfo, ReqSettlementInfoConfirm, ReqQrySettlementInfoConfirm,
    ReqQryInvestorPositionCombineDetail, ReqParkedOrder, ReqParkedOrderAction, ReqInputForQuote, ReqInputQuote,
    ReqInputQuoteAction, ReqQryBrokerTradingParams, ReqQryBrokerTradingAlgos, ReqQryTransferBank, ReqQryNotice,
    ReqQryCFMMCTradingAccountKey, ReqQryEWarrantOffset, ReqQryTradingNotice, ReqTradingAccountPasswordUpdate,
    ReqQryContractBank, ReqQryParkedOrder, ReqQryParkedOrderAction, ReqQryAccountregister, ReqQryOptionSelfClose,
    ReqQryExecOrder, ReqQryForQuote, ReqQryQuote, ReqQryCombInstrumentGuard, ReqQryCombAction,
    ReqQryProductGroup, ReqQrySecAgentACIDMap, ReqQryProductExchRate, ReqQryInvestUnit, ReqQryMMOptionInstrCommRate,
    ReqQryMMInstrumentCommissionRate, ReqQryInstrumentStatus, ReqQryExchangeRate, ReqQryInvestorProductGroupMargin,
    ReqQueryMaxOrderVolume, ReqExecOrderInsert, ReqExecOrderAction
"""))

# /md/ validates in its handlers (the login's two keys, the top-level InstrumentID list), after the login
# check (docs/ws_edge.md, 'Market-data requests'); the body keys and fields here are what they read.
MD_ROUTES: dict[str, Route] = {
    "ReqUserLogin": Route(("ReqUserLogin",), ("UserID", "Password"), "RspUserLogin", "RspUserLogin", None,
                          md_requests.login, needs_login=False),
    "SubscribeMarketData": Route((), ("InstrumentID",), "RspSubMarketData", "SpecificInstrument", None,
                                 md_requests.subscribe),
    "UnSubscribeMarketData": Route((), ("InstrumentID",), "RspUnSubMarketData", "SpecificInstrument", None,
                                   md_requests.unsubscribe),
}


TD_TABLE = RouteTable(TD_ROUTES, TD_KNOWN_UNROUTED)
MD_TABLE = RouteTable(MD_ROUTES)


def validate_td(msg_type: str, data: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """(body, RequestID) of a routed ``/td/`` request, checked against its row, or ``RequestInvalid``."""
    return TD_TABLE.validate(msg_type, data)
