"""The request catalogue and webctp's request validation.

The catalogue is described in docs/ws_edge.md, 'Market-data requests', 'Trading requests' and 'Field order'.

webctp validates TD requests with pydantic models and answers a failure with -400 and
``Detail = str(ValidationError)``. pydantic is not a dependency here; :func:`validate` applies the
same rules (a ``str`` field takes only text; ``int`` takes integers, integral floats and numeric
text; ``float`` takes numbers and numeric text; ``null`` is wrong everywhere) and writes ``Detail`` in
pydantic's layout, so a client that logs it sees the familiar text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ws_edge.fields import FLOAT_FIELDS, INT_FIELDS


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


@dataclass(frozen=True, slots=True)
class Route:
    body_keys: tuple[str, ...]  # accepted request body keys, first is canonical
    fields: tuple[str, ...]  # request body fields (docs/ws_edge.md, 'Field order')
    rsp_type: str
    rsp_key: str
    empty: Any  # body of the single message of an empty answer (None → null, {} → {})


_QRY_INVESTOR = "BrokerID, InvestorID"
TD_ROUTES: dict[str, Route] = {
    "ReqUserLogin": Route(("ReqUserLogin",), _names(
        "TradingDay, BrokerID, UserID, Password, UserProductInfo, InterfaceProductInfo, ProtocolInfo, MacAddress, "
        "OneTimePassword, reserve1, LoginRemark, ClientIPPort, ClientIPAddress"), "RspUserLogin", "RspUserLogin", None),
    "ReqQryInstrument": Route(("QryInstrument", "ReqQryInstrument"), _names(
        "reserve1, ExchangeID, reserve2, reserve3, InstrumentID, ExchangeInstID, ProductID"),
        "RspQryInstrument", "Instrument", {}),
    "ReqQryExchange": Route(("QryExchange",), ("ExchangeID",), "RspQryExchange", "Exchange", {}),
    "ReqQryProduct": Route(("QryProduct",), _names("reserve1, ProductClass, ExchangeID, ProductID"),
                           "RspQryProduct", "Product", {}),
    "ReqQryDepthMarketData": Route(("QryDepthMarketData",), _names("reserve1, ExchangeID, InstrumentID"),
                                   "RspQryDepthMarketData", "DepthMarketData", {}),
    "ReqQryInvestorPositionDetail": Route(("QryInvestorPositionDetail",), _names(
        f"{_QRY_INVESTOR}, reserve1, ExchangeID, InvestUnitID, InstrumentID"),
        "RspQryInvestorPositionDetail", "InvestorPositionDetail", {}),
    "ReqQryExchangeMarginRate": Route(("QryExchangeMarginRate",), _names(
        "BrokerID, reserve1, HedgeFlag, ExchangeID, InstrumentID"), "RspQryExchangeMarginRate",
        "ExchangeMarginRate", {}),
    "ReqQryInstrumentOrderCommRate": Route(("QryInstrumentOrderCommRate",), _names(
        f"{_QRY_INVESTOR}, reserve1, InstrumentID"), "RspQryInstrumentOrderCommRate", "InstrumentOrderCommRate", {}),
    "ReqQryOptionInstrTradeCost": Route(("QryOptionInstrTradeCost",), _names(
        f"{_QRY_INVESTOR}, reserve1, HedgeFlag, InputPrice, UnderlyingPrice, ExchangeID, InvestUnitID, InstrumentID"),
        "RspQryOptionInstrTradeCost", "OptionInstrTradeCost", {}),
    "ReqQryOptionInstrCommRate": Route(("QryOptionInstrCommRate",), _names(
        f"{_QRY_INVESTOR}, reserve1, ExchangeID, InvestUnitID, InstrumentID"),
        "RspQryOptionInstrCommRate", "OptionInstrCommRate", {}),
    "ReqQryOrder": Route(("QryOrder",), _names(
        f"{_QRY_INVESTOR}, reserve1, ExchangeID, OrderSysID, InsertTimeStart, InsertTimeEnd, InvestUnitID, "
        "InstrumentID"), "RspQryOrder", "Order", None),
    "ReqQryMaxOrderVolume": Route(("QryMaxOrderVolume",), _names(
        f"{_QRY_INVESTOR}, reserve1, Direction, OffsetFlag, HedgeFlag, MaxVolume, ExchangeID, InvestUnitID, "
        "InstrumentID"), "RspQryMaxOrderVolume", "QryMaxOrderVolume", None),
    "ReqOrderAction": Route(("InputOrderAction",), _names(
        f"{_QRY_INVESTOR}, OrderActionRef, OrderRef, RequestID, FrontID, SessionID, ExchangeID, OrderSysID, "
        "ActionFlag, LimitPrice, VolumeChange, UserID, reserve1, InvestUnitID, reserve2, MacAddress, InstrumentID, "
        "IPAddress"), "RspOrderAction", "InputOrderAction", None),
    "ReqOrderInsert": Route(("InputOrder",), _names(
        f"{_QRY_INVESTOR}, reserve1, OrderRef, UserID, OrderPriceType, Direction, CombOffsetFlag, CombHedgeFlag, "
        "LimitPrice, VolumeTotalOriginal, TimeCondition, GTDDate, VolumeCondition, MinVolume, ContingentCondition, "
        "StopPrice, ForceCloseReason, IsAutoSuspend, BusinessUnit, RequestID, UserForceClose, IsSwapOrder, "
        "ExchangeID, InvestUnitID, AccountID, CurrencyID, ClientID, reserve2, MacAddress, InstrumentID, IPAddress"),
        "RspOrderInsert", "InputOrder", None),
    "ReqUserPasswordUpdate": Route(("UserPasswordUpdate",), _names("BrokerID, UserID, OldPassword, NewPassword"),
                                   "RspUserPasswordUpdate", "UserPasswordUpdate", None),
    "ReqQryTrade": Route(("QryTrade",), _names(
        f"{_QRY_INVESTOR}, reserve1, ExchangeID, TradeID, TradeTimeStart, TradeTimeEnd, InvestUnitID, InstrumentID"),
        "RspQryTrade", "Trade", None),
    "ReqQryInvestorPosition": Route(("QryInvestorPosition",), _names(
        f"{_QRY_INVESTOR}, reserve1, ExchangeID, InvestUnitID, InstrumentID"),
        "RspQryInvestorPosition", "InvestorPosition", None),
    "ReqQryTradingAccount": Route(("QryTradingAccount",), _names(
        f"{_QRY_INVESTOR}, CurrencyID, BizType, AccountID"), "RspQryTradingAccount", "TradingAccount", None),
    "ReqQryInvestor": Route(("QryInvestor",), _names(_QRY_INVESTOR), "RspQryInvestor", "Investor", None),
    "ReqQryTradingCode": Route(("QryTradingCode",), _names(
        f"{_QRY_INVESTOR}, ExchangeID, ClientID, ClientIDType, InvestUnitID"), "RspQryTradingCode", "TradingCode",
        None),
    "ReqQryInstrumentMarginRate": Route(("QryInstrumentMarginRate",), _names(
        f"{_QRY_INVESTOR}, reserve1, HedgeFlag, ExchangeID, InvestUnitID, InstrumentID"),
        "RspQryInstrumentMarginRate", "InstrumentMarginRate", None),
    "ReqQryInstrumentCommissionRate": Route(("QryInstrumentCommissionRate",), _names(
        f"{_QRY_INVESTOR}, reserve1, ExchangeID, InvestUnitID, InstrumentID"),
        "RspQryInstrumentCommissionRate", "InstrumentCommissionRate", None),
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

MD_ROUTED = frozenset({"ReqUserLogin", "SubscribeMarketData", "UnSubscribeMarketData"})
MD_RSP = {"SubscribeMarketData": "RspSubMarketData", "UnSubscribeMarketData": "RspUnSubMarketData"}
# Ignored silently, before dispatch (docs/ws_edge.md, 'Leniency we chose').
HEARTBEAT_TYPES = frozenset({"Ping", "Pong"})


class RequestInvalid(Exception):
    """A -400: ``detail`` is the pydantic-style text sent in ``Detail``."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Problem:
    loc: str
    text: str
    kind: str
    value: Any
    missing: bool = False


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 50 else f"{text[:25]}...{text[-24:]}"


def _type_name(value: Any) -> str:
    return type(value).__name__


def render(model: str, problems: list[Problem]) -> str:
    count = len(problems)
    lines = [f"{count} validation error{'s' if count != 1 else ''} for {model}"]
    for p in problems:
        lines.append(p.loc)
        lines.append(f"  {p.text} [type={p.kind}, input_value={_short_repr(p.value)}, "
                     f"input_type={_type_name(p.value)}]")
    return "\n".join(lines)


def _is_numeric_text(value: str) -> bool:
    try:
        float(value.strip())
    except ValueError:
        return False
    return True


def coerce(name: str, value: Any, loc: str) -> tuple[Any, Problem | None]:
    """One field value by its CTP type, pydantic-v2-lax; returns (value, problem)."""
    if name in INT_FIELDS:
        return _coerce_int(value, loc)
    if name in FLOAT_FIELDS:
        return _coerce_float(value, loc)
    if isinstance(value, str):
        return value, None
    return value, Problem(loc, "Input should be a valid string", "string_type", value)


def _coerce_int(value: Any, loc: str) -> tuple[Any, Problem | None]:
    if isinstance(value, bool):
        return int(value), None
    if isinstance(value, int):
        return value, None
    if isinstance(value, float):
        if value.is_integer():
            return int(value), None
        return value, Problem(loc, "Input should be a valid integer, got a number with a fractional part",
                              "int_from_float", value)
    if isinstance(value, str):
        try:
            return int(value.strip()), None
        except ValueError:
            return value, Problem(loc, "Input should be a valid integer, unable to parse string as an integer",
                                  "int_parsing", value)
    return value, Problem(loc, "Input should be a valid integer", "int_type", value)


def _coerce_float(value: Any, loc: str) -> tuple[Any, Problem | None]:
    if isinstance(value, bool):
        return float(value), None
    if isinstance(value, int | float):
        return float(value), None
    if isinstance(value, str) and _is_numeric_text(value):
        return float(value.strip()), None
    if isinstance(value, str):
        return value, Problem(loc, "Input should be a valid number, unable to parse string as a number",
                              "float_parsing", value)
    return value, Problem(loc, "Input should be a valid number", "float_type", value)


def _body(data: dict[str, Any], route: Route, problems: list[Problem]) -> dict[str, Any]:
    key = next((k for k in route.body_keys if k in data), None)
    if key is None:
        problems.append(Problem(route.body_keys[0], "Field required", "missing", data, missing=True))
        return {}
    raw = data[key]
    if not isinstance(raw, dict):
        problems.append(Problem(key, "Input should be a valid dictionary or instance of " + key, "model_type", raw))
        return {}
    body: dict[str, Any] = {}
    for name in route.fields:
        if name in raw:
            value, problem = coerce(name, raw[name], f"{key}.{name}")
            if problem:
                problems.append(problem)
            body[name] = value
    return body  # unknown keys are left out: webctp ignores them in validation


def request_id(data: dict[str, Any], problems: list[Problem], *, required: bool) -> int:
    if "RequestID" not in data:
        if required:
            problems.append(Problem("RequestID", "Field required", "missing", data, missing=True))
        return 0
    value, problem = _coerce_int(data["RequestID"], "RequestID")
    if problem:
        problems.append(problem)
        return 0
    return int(value)


def validate_td(msg_type: str, data: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """(body, RequestID) of a routed TD request, or :class:`RequestInvalid`.

    ``RequestID`` is required except on ``ReqUserLogin`` (docs/ws_edge.md, 'Leniency we chose').
    """
    route = TD_ROUTES[msg_type]
    problems: list[Problem] = []
    rid = request_id(data, problems, required=msg_type != "ReqUserLogin")
    body = _body(data, route, problems)
    if msg_type == "ReqUserLogin" and not problems:
        _require_login_keys(data["ReqUserLogin"], problems)
    if problems:
        raise RequestInvalid(render(f"WebCTP{msg_type}", problems))
    return body, rid


def _require_login_keys(raw: dict[str, Any], problems: list[Problem]) -> None:
    for key in ("UserID", "Password"):
        if key not in raw:
            problems.append(Problem(f"ReqUserLogin.{key}", "Field required", "missing", raw, missing=True))


def validate_md_login(data: dict[str, Any]) -> dict[str, Any]:
    problems: list[Problem] = []
    raw = data.get("ReqUserLogin")
    if not isinstance(raw, dict):
        kind, text = ("missing", "Field required") if raw is None and "ReqUserLogin" not in data else (
            "model_type", "Input should be a valid dictionary or instance of ReqUserLogin")
        problems.append(Problem("ReqUserLogin", text, kind, data if kind == "missing" else raw))
    else:
        _require_login_keys(raw, problems)
        for key in ("UserID", "Password"):
            if key in raw and not isinstance(raw[key], str):
                problems.append(Problem(f"ReqUserLogin.{key}", "Input should be a valid string", "string_type",
                                        raw[key]))
    if problems:
        raise RequestInvalid(render("WebCTPReqUserLogin", problems))
    return raw  # type: ignore[return-value]


def validate_instrument_list(msg_type: str, data: dict[str, Any]) -> list[str]:
    """``"InstrumentID": [str, ...]`` at the top level (docs/ws_edge.md, 'Market-data requests').

    A bare string is refused rather than iterated character by character as webctp does."""
    raw = data.get("InstrumentID")
    problems: list[Problem] = []
    if "InstrumentID" not in data:
        problems.append(Problem("InstrumentID", "Field required", "missing", data, missing=True))
    elif not isinstance(raw, list):
        problems.append(Problem("InstrumentID", "Input should be a valid list", "list_type", raw))
    else:
        for i, item in enumerate(raw):
            if not isinstance(item, str):
                problems.append(Problem(f"InstrumentID.{i}", "Input should be a valid string", "string_type", item))
    if problems:
        raise RequestInvalid(render(f"WebCTP{msg_type}", problems))
    return raw  # type: ignore[return-value]
