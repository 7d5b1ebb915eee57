"""The trading session (``/td/``): the 22 routed requests (docs/ws_edge.md, 'Trading requests') on the bus.

Account scoping: a session only ever names accounts its user may use, and it is one investor
(``ws_edge.investor``; documented in docs/ws_edge.md):

* queries answer for the session's investor, or for the account an ``InvestorID`` names;
* an order goes to that account when it is on the instrument's venue, otherwise to the user's first
  account on that venue (CTP instruments → the futures venue, ``HK.``/``US.``… → the stocks venue).

Orders and cancels go to td_exec as commands carrying ``user``; order and trade queries are answered
from the edge's fold of the event store; positions, funds and instruments are forwarded to td_exec.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from tradebus.bus import BusError, RequestTimeout, last_message
from tradebus.logs import get_logger
from tradebus.orders.bounds import price_problem, qty_problem
from tradebus.schemas import MARKET_DATA_DECODER
from tradebus.schemas.account import (
    AccountSnapshot,
    FundsReply,
    InstrumentInfo,
    InstrumentsReply,
    PositionSide,
    PositionSnapshot,
    PositionsReply,
)
from tradebus.schemas.base import BusMessage
from tradebus.schemas.market import Tick
from tradebus.schemas.orders import (
    TERMINAL_STATUSES,
    CancelOrder,
    CommandAccepted,
    CommandDenied,
    ModifyOrder,
    QueryFunds,
    QueryInstruments,
    QueryPositions,
    SubmitOrder,
)
from tradebus.subjects import md_tick
from ws_edge.accounts import AccountFeed
from ws_edge.channel import Channel
from ws_edge.depth import depth_body
from ws_edge.envelope import (
    CALL_FAILED,
    CTP_BAD_ORDER_FIELD,
    CTP_CANCEL_NOT_ACTIVE,
    CTP_CANCEL_NOT_FOUND,
    CTP_DUPLICATE_ORDER,
    CTP_INSTRUMENT_NOT_FOUND,
    CTP_INSUFFICIENT_FUNDS,
    CTP_INVALID_LOGIN,
    CTP_INVESTOR_NOT_FOUND,
    CTP_NO_PERMISSION,
    CTP_OK,
    CTP_OLD_PASSWORD_MISMATCH,
    CTP_OTHERS_PASSWORD,
    CTP_TEXT,
    CTP_WEAK_PASSWORD,
    NOT_IMPLEMENTED,
    NOT_LOGGED_IN,
    call_failed,
    error,
    push,
    response,
    rsp_info,
    stream,
)
from ws_edge.fields import (
    EXCHANGE,
    INPUT_ORDER_ACTION,
    INSTRUMENT,
    INVESTOR,
    INVESTOR_POSITION,
    MAX_ORDER_VOLUME,
    POSITION_DETAIL,
    PRODUCT,
    TD_LOGIN,
    TRADING_ACCOUNT,
    TRADING_CODE,
    USER_PASSWORD_UPDATE,
    fill,
)
from ws_edge.instruments import CTP_EXCHANGES, EXCHANGE_NAMES, BusInstrument, delivery, product_of
from ws_edge.investor import Account, LoginName, named_account, parse_login, pick_investor
from ws_edge.orders import (
    OrderFieldError,
    OrderState,
    coid_for,
    input_order_echo,
    order_body,
    order_terms,
    parse_order_ref,
    trade_body,
)
from ws_edge.requests import TD_KNOWN_UNROUTED, TD_ROUTES, validate_td
from ws_edge.session import Session, china_now

if TYPE_CHECKING:
    from ws_edge.edge import Edge

log = get_logger("ws_edge.td")

# td_exec denial codes → CTP ErrorID.
DENIAL_ERROR: dict[str, int] = {
    "not_allowed": CTP_NO_PERMISSION,
    "unknown_account": CTP_INVESTOR_NOT_FOUND,
    "unknown_instrument": CTP_INSTRUMENT_NOT_FOUND,
    "insufficient_cash": CTP_INSUFFICIENT_FUNDS,
    "insufficient_margin": CTP_INSUFFICIENT_FUNDS,
    "duplicate": CTP_DUPLICATE_ORDER,
}
POSI_DIRECTION: dict[PositionSide, str] = {PositionSide.LONG: "2", PositionSide.SHORT: "3"}
POSITION_SIDE: dict[str, PositionSide] = {code: side for side, code in POSI_DIRECTION.items()}
PRODUCT_CLASS = {"future": "1", "stock": "4"}  # CTP ProductClass: 1 futures, 4 spot (stocks)

Handler = Callable[[dict[str, Any], int], Awaitable[None]]


class Refused(Exception):
    """A query that gets an error answer (its RspInfo) and no record."""

    def __init__(self, info: dict[str, Any]) -> None:
        super().__init__(info.get("ErrorMsg", ""))
        self.info = info


def denial_info(denied: CommandDenied) -> dict[str, Any]:
    if denied.code.isdigit():  # td_exec passes a venue's own error id through
        return rsp_info(int(denied.code), denied.reason)
    error_id = DENIAL_ERROR.get(denied.code)
    if error_id is None:
        return rsp_info(CTP_BAD_ORDER_FIELD, f"CTP:{denied.reason}")
    return rsp_info(error_id, CTP_TEXT[error_id])


class TdSession(Session):
    kind = "td"

    def __init__(self, edge: Edge, channel: Channel, address: str) -> None:
        super().__init__(edge, channel, address)
        self.max_order_ref = 0
        self.handlers: dict[str, Handler] = {
            "ReqQryInstrument": self.qry_instrument, "ReqQryExchange": self.qry_exchange,
            "ReqQryProduct": self.qry_product, "ReqQryDepthMarketData": self.qry_depth,
            "ReqQryInvestorPositionDetail": self.qry_position_detail,
            "ReqQryExchangeMarginRate": self.qry_no_data, "ReqQryInstrumentOrderCommRate": self.qry_no_data,
            "ReqQryOptionInstrTradeCost": self.qry_no_data, "ReqQryOptionInstrCommRate": self.qry_no_data,
            "ReqQryInstrumentMarginRate": self.qry_no_data, "ReqQryInstrumentCommissionRate": self.qry_no_data,
            "ReqQryOrder": self.qry_order, "ReqQryMaxOrderVolume": self.qry_max_volume,
            "ReqOrderAction": self.order_action, "ReqOrderInsert": self.order_insert,
            "ReqUserPasswordUpdate": self.password_update, "ReqQryTrade": self.qry_trade,
            "ReqQryInvestorPosition": self.qry_position, "ReqQryTradingAccount": self.qry_trading_account,
            "ReqQryInvestor": self.qry_investor, "ReqQryTradingCode": self.qry_trading_code,
        }
        self._msg_type = ""
        self.login_id = ""  # the UserID this session logged in with
        self.login_name = LoginName("")
        self.investor: Account | None = None

    def rsp_name(self, msg_type: str) -> str:
        route = TD_ROUTES.get(msg_type)
        return route.rsp_type if route else msg_type

    # --- dispatch (docs/ws_edge.md, 'Dispatch') ------------------------------------------------------------

    async def dispatch(self, msg_type: str, data: dict[str, Any]) -> None:
        route = TD_ROUTES.get(msg_type)
        if route is None:
            known = msg_type in TD_KNOWN_UNROUTED
            self.send(error(msg_type, NOT_LOGGED_IN if known and self.user is None else NOT_IMPLEMENTED))
            return
        body, request_id = validate_td(msg_type, data)
        if msg_type == "ReqUserLogin":
            await self._login(body, request_id)
            return
        if self.user is None:
            self.send(error(msg_type, NOT_LOGGED_IN))
            return
        self._msg_type = msg_type
        try:
            await self.handlers[msg_type](body, request_id)
        except Refused as exc:
            self.send(response(route.rsp_type, exc.info, route.rsp_key, None, request_id=request_id, is_last=True))
        except RequestTimeout as exc:
            log.warning("td_exec did not answer", request=msg_type, error=str(exc))
            self.send(call_failed(route.rsp_type, CALL_FAILED))
        except BusError as exc:
            log.warning("request failed on the bus", request=msg_type, error=str(exc))
            self.send(call_failed(route.rsp_type, CALL_FAILED))

    async def _login(self, body: dict[str, Any], request_id: int) -> None:
        first = self.user is None
        name = parse_login(body.get("UserID", "")) if first else self.login_name
        if not await self.login(name.user, body.get("Password", "")):
            self.send(response("RspUserLogin", rsp_info(CTP_INVALID_LOGIN), request_id=request_id, is_last=True,
                               has_body=False))
            return
        if first:
            self.login_id, self.login_name = body.get("UserID", ""), name
            if await self.session_investor() is None and (name.venue or name.account):
                self.user = None  # the login asked for an account this user does not hold
                self.send(response("RspUserLogin", rsp_info(CTP_INVESTOR_NOT_FOUND), request_id=request_id,
                                   is_last=True, has_body=False))
                return
        for venue, account in await self.my_accounts():
            await self._watch(venue, account)
        now = china_now()
        clock = now.strftime("%H:%M:%S")
        login_body = fill(TD_LOGIN, {
            "TradingDay": await self._trading_day(), "LoginTime": clock, "BrokerID": self.edge.config.broker_id,
            "UserID": self.user_name, "SystemName": "tradebus", "FrontID": self.edge.front_id,
            "SessionID": self.session_id, "MaxOrderRef": str(self.max_order_ref), "SHFETime": clock,
            "DCETime": clock, "CZCETime": clock, "FFEXTime": clock, "INETime": clock})
        self.send(response("RspUserLogin", rsp_info(0), "RspUserLogin", login_body, request_id=request_id,
                           is_last=True))

    # --- accounts ------------------------------------------------------------------------------

    async def my_accounts(self) -> list[Account]:
        """Every concrete account of the user (wildcard grants resolved)."""
        assert self.user is not None
        return await self.edge.accounts_of(self.user)

    async def session_investor(self) -> Account | None:
        """The account this session is (picked at login; picked again while none could be)."""
        if self.investor is None:
            self.investor = pick_investor(await self.my_accounts(), self.login_name, self.edge.config.futures_venue)
        return self.investor

    async def target_account(self, investor_id: str, venue: str | None = None) -> Account | None:
        """The account a request addresses (see the module docstring); None when it names none of the
        user's, or the user has none on ``venue``."""
        assert self.user is not None
        investor_id = investor_id.strip()
        mine = await self.my_accounts()
        if investor_id and investor_id not in (self.login_id, self.user.name):
            return named_account(investor_id, mine, venue)
        investor = await self.session_investor()
        if venue is None or (investor is not None and investor[0] == venue):
            return investor
        return next((a for a in mine if a[0] == venue), None)

    async def target_accounts(self, investor_id: str, venue: str | None = None) -> list[Account]:
        found = await self.target_account(investor_id, venue)
        return [found] if found is not None else []

    async def _trading_day(self) -> str:
        investor = await self.session_investor()
        return await self.edge.trading_day_now(investor[0] if investor else self.edge.config.futures_venue)

    async def _watch(self, venue: str, account: str) -> AccountFeed:
        feed = await self.edge.book.feed(venue, account)
        feed.targets.add(self)
        return feed

    def push_frames(self, frames: list[bytes]) -> None:
        for frame in frames:
            self.channel.send(frame)

    async def closed(self) -> None:
        self.edge.book.detach(self)

    # --- orders ----------------------------------------------------------------------------------

    async def order_insert(self, body: dict[str, Any], request_id: int) -> None:
        instrument = self.edge.instruments.resolve(body.get("InstrumentID", ""), body.get("ExchangeID", ""))
        if instrument is None:
            self._insert_error(body, request_id, rsp_info(CTP_INSTRUMENT_NOT_FOUND))
            return
        target = await self.target_account(body.get("InvestorID", ""), instrument.venue)
        if target is None:
            self._insert_error(body, request_id, rsp_info(CTP_INVESTOR_NOT_FOUND))
            return
        venue, account = target
        try:
            terms = order_terms(body, stock=self.edge.instruments.is_stock(instrument.exchange))
            order_ref = parse_order_ref(body.get("OrderRef", ""))
        except OrderFieldError as exc:
            log.info("order refused", reason=str(exc), user=self.user_name)
            self._insert_error(body, request_id, rsp_info(CTP_BAD_ORDER_FIELD))
            return
        if order_ref is None:
            order_ref = self.max_order_ref + 1
        self.max_order_ref = max(self.max_order_ref, order_ref)
        await self._watch(venue, account)
        command = SubmitOrder(venue=venue, account=account, exchange=instrument.exchange, symbol=instrument.symbol,
                              client_order_id=coid_for(self.edge.front_id, self.session_id, order_ref),
                              user=self.user_name, **terms)
        reply = await self.edge.command(venue, account, command)
        if isinstance(reply, CommandDenied):
            self._insert_error(body, request_id, denial_info(reply))
        elif isinstance(reply, CommandAccepted) and reply.duplicate:
            self._insert_error(body, request_id, rsp_info(CTP_DUPLICATE_ORDER))
        # Success has no RspOrderInsert: RtnOrder / RtnTrade follow from the event store.

    def _insert_error(self, body: dict[str, Any], request_id: int, info: dict[str, Any]) -> None:
        echo = input_order_echo(body)
        self.send(response("RspOrderInsert", info, "InputOrder", echo, request_id=request_id, is_last=True))
        self.send(push("ErrRtnOrderInsert", "InputOrder", echo, info))

    async def _find_order(self, body: dict[str, Any]) -> OrderState | None:
        ref = body.get("OrderRef", "").strip()
        coid = ""
        if ref.isdigit() and body.get("FrontID") and body.get("SessionID"):
            coid = coid_for(int(body["FrontID"]), int(body["SessionID"]), int(ref))
        sys_id = body.get("OrderSysID", "")
        if not coid and not sys_id.strip():
            return None
        first = await self.target_accounts(body.get("InvestorID", ""))
        # The named investor first, then the user's other accounts: an order placed here on another
        # venue than the investor's (HK.00700 from a CTP session) is still this user's to cancel.
        for venue, account in first + [a for a in await self.my_accounts() if a not in first]:
            feed = await self._watch(venue, account)
            order = feed.find(client_order_id=coid, order_sys_id_=sys_id, exchange=body.get("ExchangeID", ""))
            if order is not None:
                return order
        return None

    async def order_action(self, body: dict[str, Any], request_id: int) -> None:
        order = await self._find_order(body)
        if order is None:
            self._action_error(body, request_id, rsp_info(CTP_CANCEL_NOT_FOUND))
            return
        if order.status in TERMINAL_STATUSES:
            self._action_error(body, request_id, rsp_info(CTP_CANCEL_NOT_ACTIVE))
            return
        flag = body.get("ActionFlag", "0") or "0"
        command: CancelOrder | ModifyOrder
        if flag == "0":
            command = CancelOrder(venue=order.venue, account=order.account, client_order_id=order.client_order_id,
                                  user=self.user_name)
        elif flag == "3":  # modify: LimitPrice is the new price, VolumeChange the new total quantity (Futu)
            price = body.get("LimitPrice") or None
            qty = body.get("VolumeChange") or None
            if (qty is not None and qty_problem(qty)) or (price is not None and price_problem(price)):
                self._action_error(body, request_id, rsp_info(CTP_BAD_ORDER_FIELD))
                return
            command = ModifyOrder(venue=order.venue, account=order.account, client_order_id=order.client_order_id,
                                  price=price, qty=qty, user=self.user_name)
        else:
            self._action_error(body, request_id, rsp_info(CTP_BAD_ORDER_FIELD))
            return
        reply = await self.edge.command(order.venue, order.account, command)
        if isinstance(reply, CommandDenied):
            self._action_error(body, request_id, denial_info(reply))

    def _action_error(self, body: dict[str, Any], request_id: int, info: dict[str, Any]) -> None:
        echo = fill(INPUT_ORDER_ACTION, {k: v for k, v in body.items() if k in INPUT_ORDER_ACTION})
        self.send(response("RspOrderAction", info, "InputOrderAction", echo, request_id=request_id, is_last=True))

    # --- queries answered from the event store -------------------------------------------------

    async def _account(self, body: dict[str, Any], venue: str | None = None) -> Account:
        """The one account a query answers for; refused with CTP's 13 when it is none of the user's."""
        found = await self.target_account(body.get("InvestorID", "") or body.get("AccountID", ""), venue)
        if found is None:
            raise Refused(rsp_info(CTP_INVESTOR_NOT_FOUND))
        return found

    async def _orders(self, body: dict[str, Any]) -> list[OrderState]:
        wanted_id = body.get("InstrumentID", "").strip()
        wanted_exchange = body.get("ExchangeID", "").strip()
        wanted_sys = body.get("OrderSysID", "").strip()
        found: list[OrderState] = []
        feed = await self._watch(*await self._account(body))
        for order in feed.orders.values():
            labels = self.edge.labels(order)
            if wanted_id and labels.instrument_id != wanted_id:
                continue
            if wanted_exchange and order.exchange != wanted_exchange:
                continue
            if wanted_sys and (order.venue_order_id or "").strip() != wanted_sys:
                continue
            found.append(order)
        return sorted(found, key=lambda o: o.sequence)

    async def qry_order(self, body: dict[str, Any], request_id: int) -> None:
        orders = await self._orders(body)
        records = [order_body(o, self.edge.labels(o)) for o in orders]
        self.send_all(stream("RspQryOrder", "Order", records, request_id=request_id, empty=None))

    async def qry_trade(self, body: dict[str, Any], request_id: int) -> None:
        wanted_trade = body.get("TradeID", "").strip()
        records = []
        for order in await self._orders({**body, "OrderSysID": ""}):
            for f in order.trades:
                record = trade_body(order, f, self.edge.labels(order), query=True)
                if not wanted_trade or record["TradeID"].strip() == wanted_trade:
                    records.append(record)
        self.send_all(stream("RspQryTrade", "Trade", records, request_id=request_id, empty=None))

    # --- queries forwarded to td_exec ------------------------------------------------------------

    async def _ask(self, venue: str, account: str, command: BusMessage) -> Any:
        """td_exec's answer; a denial is refused to the client with its reason."""
        reply = await self.edge.command(venue, account, command)
        if isinstance(reply, CommandDenied):
            raise Refused(denial_info(reply))
        return reply

    async def _positions(self, body: dict[str, Any]) -> list[PositionSnapshot]:
        wanted_id = body.get("InstrumentID", "").strip()
        wanted_exchange = body.get("ExchangeID", "").strip()
        venue, account = await self._account(body)
        reply = await self._ask(venue, account, QueryPositions(venue=venue, account=account, user=self.user_name))
        out: list[PositionSnapshot] = []
        for p in reply.positions if isinstance(reply, PositionsReply) else []:
            if wanted_id and self.edge.instruments.to_webctp(p.venue, p.exchange, p.symbol) != wanted_id:
                continue
            if wanted_exchange and p.exchange != wanted_exchange:
                continue
            out.append(p)
        return out

    def _position_body(self, p: PositionSnapshot, trading_day: str) -> dict[str, Any]:
        cost = p.avg_price * p.qty
        frozen = {"LongFrozen": p.frozen_qty} if p.side == PositionSide.SHORT else {"ShortFrozen": p.frozen_qty}
        return fill(INVESTOR_POSITION, {
            "BrokerID": self.edge.config.broker_id, "ExchangeID": p.exchange, "ExchangeMargin": p.margin,
            "HedgeFlag": "1", "InstrumentID": self.edge.instruments.to_webctp(p.venue, p.exchange, p.symbol),
            "InvestorID": p.account, "OpenCost": cost, "PosiDirection": POSI_DIRECTION[p.side],
            "Position": p.qty, "PositionCost": cost, "PositionDate": "1", "PositionProfit": p.unrealised_pnl,
            "SettlementID": 1, "TodayPosition": p.today_qty, "TradingDay": trading_day, "UseMargin": p.margin,
            "YdPosition": p.yesterday_qty, **frozen})

    async def qry_position(self, body: dict[str, Any], request_id: int) -> None:
        positions = await self._positions(body)
        days = {p.venue: await self.edge.trading_day_now(p.venue) for p in positions}
        records = [self._position_body(p, days[p.venue]) for p in positions]
        self.send_all(stream("RspQryInvestorPosition", "InvestorPosition", records, request_id=request_id))

    async def qry_position_detail(self, body: dict[str, Any], request_id: int) -> None:
        positions = await self._positions(body)
        days = {p.venue: await self.edge.trading_day_now(p.venue) for p in positions}
        records = [fill(POSITION_DETAIL, {
            "BrokerID": self.edge.config.broker_id, "Direction": "0" if p.side == PositionSide.LONG else "1",
            "ExchMargin": p.margin, "ExchangeID": p.exchange, "HedgeFlag": "1",
            "InstrumentID": self.edge.instruments.to_webctp(p.venue, p.exchange, p.symbol), "InvestorID": p.account,
            "Margin": p.margin, "OpenDate": days[p.venue], "OpenPrice": p.avg_price,
            "PositionProfitByTrade": p.unrealised_pnl, "SettlementID": 1, "TradeType": "0",
            "TradingDay": days[p.venue], "Volume": p.qty}) for p in positions]
        self.send_all(stream("RspQryInvestorPositionDetail", "InvestorPositionDetail", records,
                             request_id=request_id, empty={}))

    async def _funds(self, venue: str, account: str, currency: str = "") -> AccountSnapshot:
        """One funds record: the venue's record in ``currency``, else the first it lists (its base
        currency); a venue that lists none gives a zero record, never nothing."""
        reply = await self._ask(venue, account, QueryFunds(venue=venue, account=account, user=self.user_name))
        funds = reply.funds if isinstance(reply, FundsReply) else []
        picked = [f for f in funds if not currency or f.currency == currency]
        if picked:
            return picked[0]
        return AccountSnapshot(venue=venue, account=account, currency=currency, cash=0.0, available=0.0,
                               ts_event=self.edge.clock_ns())

    async def qry_trading_account(self, body: dict[str, Any], request_id: int) -> None:
        """One TradingAccount per query, for one investor: a CTP client keeps one account record."""
        venue, account = await self._account(body)
        f = await self._funds(venue, account, body.get("CurrencyID", "").strip())
        record = fill(TRADING_ACCOUNT, {
            "AccountID": f.account, "Available": f.available, "Balance": f.equity or f.cash,
            "BrokerID": self.edge.config.broker_id, "CloseProfit": f.realised_pnl, "Commission": f.fees,
            "CurrMargin": f.margin, "CurrencyID": f.currency, "ExchangeMargin": f.margin, "FrozenCash": f.frozen,
            "PositionProfit": f.unrealised_pnl, "PreBalance": f.cash, "SettlementID": 1,
            "TradingDay": await self.edge.trading_day_now(venue), "WithdrawQuota": f.available})
        self.send_all(stream("RspQryTradingAccount", "TradingAccount", [record], request_id=request_id))

    async def _instruments(self) -> list[InstrumentInfo]:
        """Every instrument once: the ``instruments`` bucket, or else each venue asked once."""
        found = await self.edge.load_instruments()
        if not found:
            asked: set[str] = set()
            for venue, account in await self.my_accounts():  # an empty bucket: ask the venues
                if venue in asked:
                    continue
                asked.add(venue)
                try:
                    reply = await self.edge.command(venue, account, QueryInstruments(venue=venue, account=account,
                                                                                     user=self.user_name))
                except BusError:
                    continue
                if isinstance(reply, InstrumentsReply):
                    found.extend(reply.instruments)
                    for info in reply.instruments:
                        self.edge.instruments.learn(info.venue, info.exchange, info.symbol)
        unique = {(i.venue, i.exchange, i.symbol): i for i in found}
        return list(unique.values())

    def _instrument_body(self, info: InstrumentInfo) -> dict[str, Any]:
        future = info.kind == "future"
        reference = info.trading_day or self.edge.trading_day_at(info.venue, info.exchange, self.edge.clock_ns())
        year, month = delivery(info.symbol, int(reference[:4])) if future else (0, 0)
        return fill(INSTRUMENT, {
            "InstrumentID": self.edge.instruments.to_webctp(info.venue, info.exchange, info.symbol),
            "ExchangeID": info.exchange, "InstrumentName": info.name, "ExchangeInstID": info.symbol,
            "ProductID": product_of(info.symbol) if future else info.exchange,
            "ProductClass": PRODUCT_CLASS.get(info.kind, "4"), "DeliveryYear": year, "DeliveryMonth": month,
            "MaxMarketOrderVolume": 1_000_000, "MinMarketOrderVolume": info.lot_size,
            "MaxLimitOrderVolume": 1_000_000, "MinLimitOrderVolume": info.lot_size,
            "VolumeMultiple": int(info.multiplier), "PriceTick": info.price_tick, "InstLifePhase": "1",
            "IsTrading": 1, "PositionType": "2", "PositionDateType": "1" if info.exchange in ("SHFE", "INE") else "2",
            "MaxMarginSideAlgorithm": "1", "OptionsType": "\x00", "UnderlyingMultiple": 1.0, "CombinationType": "0"})

    async def qry_instrument(self, body: dict[str, Any], request_id: int) -> None:
        wanted = {k: body.get(k, "").strip() for k in ("InstrumentID", "ExchangeID", "ProductID")}
        records = []
        for info in sorted(await self._instruments(), key=lambda i: (i.venue, i.exchange, i.symbol)):
            record = self._instrument_body(info)
            if all(not value or record[key] == value for key, value in wanted.items()):
                records.append(record)
        self.send_all(stream("RspQryInstrument", "Instrument", records, request_id=request_id, empty={}))

    async def qry_product(self, body: dict[str, Any], request_id: int) -> None:
        products: dict[tuple[str, str], dict[str, Any]] = {}
        for info in await self._instruments():
            record = self._instrument_body(info)
            key = (record["ExchangeID"], record["ProductID"])
            if key in products:
                continue
            products[key] = fill(PRODUCT, {
                "ExchangeID": info.exchange, "ExchangeProductID": record["ProductID"],
                "MaxLimitOrderVolume": 1_000_000, "MaxMarketOrderVolume": 1_000_000,
                "MinLimitOrderVolume": info.lot_size, "MinMarketOrderVolume": info.lot_size,
                "PositionDateType": record["PositionDateType"], "PositionType": "2", "PriceTick": info.price_tick,
                "ProductClass": record["ProductClass"], "ProductID": record["ProductID"],
                "ProductName": record["ProductID"], "TradeCurrencyID": info.currency, "UnderlyingMultiple": 1.0,
                "VolumeMultiple": int(info.multiplier), "CloseDealType": "0", "MortgageFundUseRange": "0",
                "OpenLimitControlLevel": "0", "OrderFreqControlLevel": "0"})
        wanted = {k: body.get(k, "").strip() for k in ("ExchangeID", "ProductID", "ProductClass")}
        records = [p for _, p in sorted(products.items())
                   if all(not value or p[key] == value for key, value in wanted.items())]
        self.send_all(stream("RspQryProduct", "Product", records, request_id=request_id, empty={}))

    async def qry_depth(self, body: dict[str, Any], request_id: int) -> None:
        instrument_id = body.get("InstrumentID", "").strip()
        if instrument_id:
            instrument = self.edge.instruments.resolve(instrument_id, body.get("ExchangeID", ""))
            targets = [instrument] if instrument else []
        else:
            targets = list(self.edge.market.feeds)
        records = []
        for instrument in targets:
            tick = await self._last_tick(instrument)
            if tick is not None:
                records.append(depth_body(tick, self.edge.webctp_id(instrument), md_push=False))
        self.send_all(stream("RspQryDepthMarketData", "DepthMarketData", records, request_id=request_id, empty={}))

    async def _last_tick(self, instrument: BusInstrument) -> Tick | None:
        tick = self.edge.market.last_tick(instrument)
        if tick is not None:
            return tick
        try:
            found = await last_message(self.edge.bus.js, "MD", md_tick(*instrument), MARKET_DATA_DECODER)
        except Exception:
            return None
        return found if isinstance(found, Tick) else None

    async def qry_max_volume(self, body: dict[str, Any], request_id: int) -> None:
        """Cash-only bound: available funds over the last price (times the multiplier), in whole lots.
        Margin rates are not known to the edge, so for futures this is conservative (margin rate 1)."""
        instrument = self.edge.instruments.resolve(body.get("InstrumentID", ""), body.get("ExchangeID", ""))
        target = await self.target_account(body.get("InvestorID", ""), instrument.venue) if instrument else None
        if instrument is None or target is None:
            self.send(response("RspQryMaxOrderVolume", rsp_info(CTP_INSTRUMENT_NOT_FOUND), "QryMaxOrderVolume",
                               None, request_id=request_id, is_last=True))
            return
        account = target[1]
        tick = await self._last_tick(instrument)
        infos = {(i.venue, i.exchange, i.symbol): i for i in await self._instruments()}
        info = infos.get(tuple(instrument))
        available = (await self._funds(*target)).available
        price = tick.last if tick and tick.last else 0.0
        multiplier = info.multiplier if info else 1.0
        lot = info.lot_size if info else 1
        max_volume = int(available // (price * multiplier * lot)) * lot if price > 0 else 0
        record = fill(MAX_ORDER_VOLUME, {
            "BrokerID": self.edge.config.broker_id, "InvestorID": account, "InstrumentID": body.get("InstrumentID", ""),
            "ExchangeID": instrument.exchange, "MaxVolume": max_volume, "Direction": body.get("Direction", ""),
            "OffsetFlag": body.get("OffsetFlag", ""), "HedgeFlag": body.get("HedgeFlag", "") or "1"})
        self.send(response("RspQryMaxOrderVolume", None, "QryMaxOrderVolume", record, request_id=request_id,
                           is_last=True))

    # --- queries answered by the edge itself ---------------------------------------------------------

    async def qry_exchange(self, body: dict[str, Any], request_id: int) -> None:
        wanted = body.get("ExchangeID", "").strip()
        records = [fill(EXCHANGE, {"ExchangeID": ex, "ExchangeName": name, "ExchangeProperty": "0"})
                   for ex, name in EXCHANGE_NAMES.items() if not wanted or ex == wanted]
        self.send_all(stream("RspQryExchange", "Exchange", records, request_id=request_id, empty={}))

    async def qry_investor(self, body: dict[str, Any], request_id: int) -> None:
        venue, account = await self._account(body)
        record = fill(INVESTOR, {"BrokerID": self.edge.config.broker_id, "InvestorID": account,
                                 "InvestorName": self.user_name, "IdentifiedCardType": "1", "IsActive": 1,
                                 "InvestorGroupID": venue})
        self.send_all(stream("RspQryInvestor", "Investor", [record], request_id=request_id))

    async def qry_trading_code(self, body: dict[str, Any], request_id: int) -> None:
        wanted = body.get("ExchangeID", "").strip()
        venue, account = await self._account(body)
        exchanges = CTP_EXCHANGES if venue == self.edge.config.futures_venue else ("HK", "US", "SH", "SZ")
        records = [fill(TRADING_CODE, {"BrokerID": self.edge.config.broker_id, "ClientID": account,
                                       "ClientIDType": "1", "ExchangeID": ex, "InvestorID": account,
                                       "IsActive": 1, "BizType": "1"})
                   for ex in exchanges if not wanted or ex == wanted]
        self.send_all(stream("RspQryTradingCode", "TradingCode", records, request_id=request_id))

    async def qry_no_data(self, body: dict[str, Any], request_id: int) -> None:
        """Rate tables (margin, commission, option costs): the bus carries none, so the answer is the
        empty result a front gives for an instrument without its own rates."""
        route = TD_ROUTES[self._msg_type]
        self.send_all(stream(route.rsp_type, route.rsp_key, [], request_id=request_id, empty=route.empty))

    async def password_update(self, body: dict[str, Any], request_id: int) -> None:
        """Changes the edge user's own password (the one ``ReqUserLogin`` checks), as a CTP front changes
        its user's: another user's → 10, wrong old password → 14 (and counted as a failed login), too
        short → 131. The echo leaves both passwords blank: a client never needs them back."""
        assert self.user is not None
        echo = fill(USER_PASSWORD_UPDATE, {"BrokerID": body.get("BrokerID", ""), "UserID": body.get("UserID", "")})
        if body.get("UserID", "") != self.user_name:
            code = CTP_OTHERS_PASSWORD
        else:
            outcome = await self.edge.change_password(self.user_name, str(body.get("OldPassword", "")),
                                                      str(body.get("NewPassword", "")), self.address)
            code = {"": CTP_OK, "wrong": CTP_OLD_PASSWORD_MISMATCH, "weak": CTP_WEAK_PASSWORD}[outcome]
        self.send(response("RspUserPasswordUpdate", rsp_info(code), "UserPasswordUpdate", echo,
                           request_id=request_id, is_last=True))
