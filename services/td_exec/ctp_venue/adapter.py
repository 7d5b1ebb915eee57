"""``CtpVenue``: td_exec's CTP adapter (openctp-ctp trader API, or the ctp_sim double for sim://).

Session: OnFrontConnected → ReqAuthenticate → ReqUserLogin (FrontID, SessionID, MaxOrderRef,
TradingDay), run by the CTP kit's ``tradebus.ctp.session``; then td's own steps, ReqSettlementInfoConfirm
→ instruments and limits loaded → ``on_connection(True)``. CTP reconnects the front by itself after
OnFrontDisconnected; every new connection logs in again.
The private topic is subscribed with THOST_TERT_RESTART, so each login replays the day's orders and
trades; the journal turns that replay into nothing new for the engine (see journal.py).

Ids: ``venue_order_id`` is ``"<FrontID>:<SessionID>:<OrderRef>"`` — CTP's own unique key, known
before the order is sent and unchanged for its whole life; the OrderSysID the exchange assigns is
learnt from RtnOrder and kept in the journal (trades and queries of trades only carry that one).
OrderRefs are allocated above both the login's MaxOrderRef and every ref in the journal, so they
grow across sessions and restarts within a trading day and the ref alone names one of our orders.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from td_exec.ctp_venue import reports
from td_exec.ctp_venue.journal import Journal, Sent
from td_exec.ctp_venue.queries import QueryQueue, Row
from td_exec.venue import (
    CancelRejectReport,
    Capabilities,
    FillReport,
    OrderRef,
    OrderReport,
    VenueOrder,
    VenueRejected,
    VenueSink,
    VenueUnknown,
    VenueUnsupported,
    external_client_order_id,
)
from tradebus.backoff import Backoff
from tradebus.bus import Bus
from tradebus.config import Config
from tradebus.ctp import import_ctp_modules
from tradebus.ctp.api import create_trader_api
from tradebus.ctp.bridge import TRADER_LOGIN_CALLBACKS, Error, trader_spi
from tradebus.ctp.codes import (
    ActionFlag,
    ContingentCondition,
    ForceCloseReason,
    HedgeFlag,
    OrderSubmitStatus,
    ResumeType,
)
from tradebus.ctp.ids import order_key, padded, parse_order_key, ref_number
from tradebus.ctp.mapping import DIRECTION_OF, OFFSET_OF, ctp_order_kind
from tradebus.ctp.session import LoginInfo, LoginSession, RequestFailed
from tradebus.schemas.account import AccountSnapshot, InstrumentInfo, PositionSnapshot
from tradebus.schemas.orders import TERMINAL_STATUSES, OrderType, TimeInForce

log = logging.getLogger(__name__)

_, td = import_ctp_modules()

LOGIN_RETRY_S = 5.0
# The callbacks the adapter handles; any other SPI method keeps the library's no-op.
CALLBACKS = (
    *TRADER_LOGIN_CALLBACKS,
    "OnRspOrderInsert",
    "OnErrRtnOrderInsert",
    "OnRspOrderAction",
    "OnErrRtnOrderAction",
    "OnRtnOrder",
    "OnRtnTrade",
    "OnRspQryInstrument",
    "OnRspQryDepthMarketData",
    "OnRspQryOrder",
    "OnRspQryTrade",
    "OnRspQryInvestorPosition",
    "OnRspQryTradingAccount",
)


class CtpVenue:
    name = "ctp"
    capabilities = Capabilities(
        order_types=frozenset({OrderType.LIMIT, OrderType.MARKET}),
        time_in_force=frozenset({TimeInForce.DAY, TimeInForce.IOC, TimeInForce.FOK}),
        offsets=frozenset(OFFSET_OF),
        modify=False,
    )

    def __init__(self, config: Config, data_dir: Path, bus: Bus | None = None,
                 api_factory: Callable[[str, str], Any] = create_trader_api) -> None:
        self._cfg = config.ctp
        self.account = self._cfg.user_id
        self._dir = Path(data_dir) / f"{self._cfg.broker_id}-{self._cfg.user_id}"
        self._journal = Journal(self._dir / "orders.jsonl")
        self._queries = QueryQueue()
        self._api_factory = api_factory
        self._api: Any = None
        self._spi: Any = None
        self._session: LoginSession | None = None
        self._sink: VenueSink | None = None
        self._stopped = False
        self._reported_up = False
        self._front_id = 0
        self._session_id = 0
        self._max_order_ref = 0
        self._trading_day = ""
        self._rid = 0
        self._instruments: dict[tuple[str, str], InstrumentInfo] = {}
        self._instruments_day = ""
        self._pending_cancels: dict[str, int] = {}  # client order id → ReqOrderAction request id
        # (ExchangeID, OrderSysID) → key of orders of other sessions of the investor (external orders)
        self._foreign_keys: dict[tuple[str, str], str] = {}
        self._handlers: dict[str, Callable[..., None]] = {
            "OnRspOrderInsert": self._on_rsp_order_insert,
            "OnErrRtnOrderInsert": self._on_err_rtn_order_insert,
            "OnRspOrderAction": self._on_rsp_order_action,
            "OnErrRtnOrderAction": self._on_err_rtn_order_action,
            "OnRtnOrder": self._on_rtn_order,
            "OnRtnTrade": self._on_rtn_trade,
            "OnRspError": self._on_rsp_error,
        }
        for query in ("Instrument", "DepthMarketData", "Order", "Trade", "InvestorPosition", "TradingAccount"):
            self._handlers[f"OnRspQry{query}"] = self._on_query_row

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self, sink: VenueSink) -> None:
        self._sink = sink
        self._queries.start()
        api = self._api_factory(self._cfg.td_front, str(self._dir / "flow"))
        self._session = LoginSession(
            api, td, self._cfg, self, authenticate=True, logged_in=self._logged_in, after_login=self._after_login,
            next_rid=self._next_rid,
            backoff=Backoff(LOGIN_RETRY_S, LOGIN_RETRY_S, jitter=0.0),
        )
        self._spi = trader_spi(asyncio.get_running_loop(), self._dispatch, CALLBACKS)
        api.RegisterSpi(self._spi)
        api.SubscribePrivateTopic(ResumeType.RESTART)
        api.SubscribePublicTopic(ResumeType.QUICK)
        api.RegisterFront(self._cfg.td_front)
        self._api = api
        api.Init()
        log.info("ctp venue starting: front %s, broker %s, investor %s",
                 self._cfg.td_front, self._cfg.broker_id, self.account)

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._session is not None:
            await self._session.stop()
        await self._queries.stop()
        api, self._api = self._api, None
        if api is not None:
            await asyncio.to_thread(api.Release)
        self._journal.close()

    def external_client_order_id(self, venue_order_id: str) -> str:
        """``ext-<TradingDay>-<FrontID:SessionID:OrderRef escaped>``: CTP's key is unique within a
        trading day only, and the day's flow and queries are read after a login that set the day."""
        return external_client_order_id(self._trading_day, venue_order_id)

    def accounts(self) -> list[str]:
        return [self.account]

    @property
    def connected(self) -> bool:
        return self._session is not None and self._session.ready

    @property
    def trading_day(self) -> str:
        return self._trading_day

    # --- callbacks from the SPI (on the loop thread) ----------------------------------------------

    def _dispatch(self, name: str, *args: Any) -> None:
        if self._stopped:
            return
        try:
            if self._session is not None and self._session.handle(name, *args):
                return
            handler = self._handlers.get(name)
            if handler is not None:
                handler(*args)
        except Exception:
            log.exception("ctp %s handler failed", name)

    def _next_rid(self) -> int:
        self._rid += 1
        return self._rid

    # --- the session (tradebus.ctp.session runs authenticate → login; these are td's steps) -----------

    def front_connected(self) -> None:
        log.info("ctp front connected; logging in")

    def _logged_in(self, login: LoginInfo) -> None:
        """The session's ids and day, set before the private flow's replay that follows the answer is
        handled: that replay names orders by FrontID/SessionID/OrderRef within this trading day."""
        self._front_id, self._session_id = login.front_id, login.session_id
        self._max_order_ref, self._trading_day = login.max_order_ref, login.trading_day
        self._journal.start_day(self._trading_day)
        log.info("ctp logged in: FrontID=%d SessionID=%d MaxOrderRef=%d TradingDay=%s",
                 self._front_id, self._session_id, self._max_order_ref, self._trading_day)

    async def _after_login(self, login: LoginInfo) -> None:
        """Settlement confirm, then the instruments and their limits on the first login of a day."""
        assert self._session is not None
        await self._session.requests.call("settlement confirm", self._send_settlement_confirm)
        if self._instruments_day != self._trading_day:
            try:
                await self._load_instruments()
            except (VenueUnknown, VenueRejected) as exc:
                raise RequestFailed("instrument list", -1, str(exc)) from exc

    def _send_settlement_confirm(self, rid: int) -> int:
        f = td.CThostFtdcSettlementInfoConfirmField()
        f.BrokerID, f.InvestorID = self._cfg.broker_id, self.account
        return int(self._api.ReqSettlementInfoConfirm(f, rid))

    def ready(self, login: LoginInfo) -> None:
        self._reported_up = True
        if self._sink is not None:
            self._sink.on_connection(True, f"logged in: FrontID={self._front_id} SessionID={self._session_id} "
                                           f"TradingDay={self._trading_day}")

    def login_failed(self, failure: RequestFailed, retry_in: float | None) -> None:
        reason = f"ctp {failure}"
        log.error(reason)
        if self._sink is not None:
            self._sink.on_connection(False, reason)
        if retry_in is None and failure.fatal:
            log.error("not retrying: fix the [ctp] credentials and restart td_exec")

    def front_disconnected(self, reason: str) -> None:
        log.warning("ctp %s", reason)
        self._queries.fail_all(reason)
        if self._reported_up and self._sink is not None:
            self._reported_up = False
            self._sink.on_connection(False, reason)

    def _on_rsp_error(self, error: Error | None, rid: int, last: bool) -> None:
        log.warning("ctp OnRspError for request %s: %s", rid, error)
        self._queries.on_row(rid, None, error, True)

    def _on_query_row(self, row: Row | None, error: Error | None, rid: int, last: bool) -> None:
        self._queries.on_row(rid, row, error, last)

    # --- mapping CTP keys back to our orders ------------------------------------------------------

    def _key_of(self, sent: Sent) -> str:
        return order_key(sent.front, sent.session, sent.ref)

    def _sent_for_input(self, row: Row) -> Sent | None:
        """An InputOrder (no FrontID/SessionID): our ref, if instrument and direction agree."""
        ref = ref_number(row.get("OrderRef", ""))
        sent = self._journal.by_ref(ref) if ref is not None else None
        if sent is None or sent.symbol != row.get("InstrumentID") or sent.side != row.get("Direction"):
            return None
        return sent

    def _coid_for_order(self, row: Row) -> str | None:
        ref = ref_number(row.get("OrderRef", ""))
        if ref is not None:
            sent = self._journal.by_key(int(row.get("FrontID", 0)), int(row.get("SessionID", 0)), ref)
            if sent is not None:
                return sent.coid
        sysid = str(row.get("OrderSysID", "")).strip()
        return self._journal.by_sysid(str(row.get("ExchangeID", "")), sysid) if sysid else None

    def _learn_order(self, row: Row) -> tuple[str | None, str | None]:
        """``(client_order_id, venue_order_id)`` of an order row, remembering its OrderSysID (for an
        order of another session, the key its trades will be reported under)."""
        coid = self._coid_for_order(row)
        sysid = str(row.get("OrderSysID", "")).strip()
        key = reports.order_key(row)
        if coid is not None and sysid:
            self._journal.record_sysid(str(row.get("ExchangeID", "")), sysid, coid)
        elif sysid and key is not None:
            self._foreign_keys[(str(row.get("ExchangeID", "")), sysid)] = key
        return coid, key

    def _trade_owner(self, row: Row) -> tuple[str | None, str | None]:
        """``(client_order_id, venue_order_id)`` of a trade; an order of another session has no
        client order id, and its key only once its RtnOrder (or an order query) was seen."""
        exchange, sysid = str(row.get("ExchangeID", "")), str(row.get("OrderSysID", "")).strip()
        coid = self._journal.by_sysid(exchange, sysid)
        if coid is None and (exchange, sysid) in self._foreign_keys:
            return None, self._foreign_keys[(exchange, sysid)]
        sent = self._journal.sent_for(coid) if coid is not None else self._sent_for_input(row)
        if sent is None:
            return coid, None
        return sent.coid, self._key_of(sent)

    # --- pushes -----------------------------------------------------------------------------------

    def _deliver_order(self, report: OrderReport) -> None:
        key = report.venue_order_id or ""
        if report.status in TERMINAL_STATUSES and report.client_order_id:
            self._pending_cancels.pop(report.client_order_id, None)
        if not self._journal.is_progress(key, report.status, report.filled_qty):
            return  # the day's replay (or the second of RspOrderInsert/ErrRtnOrderInsert)
        if self._sink is not None:
            self._sink.on_order(report)
        self._journal.record_progress(key, report.status, report.filled_qty)

    def _on_rtn_order(self, row: Row) -> None:
        coid, _ = self._learn_order(row)
        report = reports.order_report(row, self.account, coid)
        if report is None:
            log.warning("ctp RtnOrder with unknown status/direction %r/%r; ignored",
                        row.get("OrderStatus"), row.get("Direction"))
            return
        if row.get("OrderSubmitStatus") == OrderSubmitStatus.CANCEL_REJECTED and coid in self._pending_cancels:
            self._pending_cancels.pop(coid, None)
            self._cancel_rejected(coid, report.venue_order_id, ("exchange", str(row.get("StatusMsg", ""))))
        self._deliver_order(report)

    def _on_rtn_trade(self, row: Row) -> None:
        coid, key = self._trade_owner(row)
        report = reports.fill_report(row, self.account, coid, key)
        if report is None:
            log.warning("ctp RtnTrade with unknown direction/offset %r/%r; ignored",
                        row.get("Direction"), row.get("OffsetFlag"))
            return
        if self._journal.fill_seen(report.trade_id):
            return  # replayed
        if self._sink is not None:
            self._sink.on_fill(report)
        self._journal.record_fill(report.trade_id)

    def _insert_refused(self, row: Row | None, error: Error | None) -> None:
        if row is None or error is None or error[0] == 0:
            return
        sent = self._sent_for_input(row)
        key = self._key_of(sent) if sent is not None else None
        report = reports.rejected_insert(row, self.account, sent.coid if sent else None, key, error)
        if report is None:
            return
        if key is None:
            if self._sink is not None:
                self._sink.on_order(report)  # another terminal's order; the engine ignores it
            return
        self._deliver_order(report)

    def _on_rsp_order_insert(self, row: Row | None, error: Error | None, rid: int, last: bool) -> None:
        self._insert_refused(row, error)

    def _on_err_rtn_order_insert(self, row: Row | None, error: Error | None) -> None:
        self._insert_refused(row, error)

    def _action_owner(self, row: Row) -> str | None:
        sysid = str(row.get("OrderSysID", "")).strip()
        if sysid:
            coid = self._journal.by_sysid(str(row.get("ExchangeID", "")), sysid)
            if coid is not None:
                return coid
        ref = ref_number(row.get("OrderRef", ""))
        if ref is None:
            return None
        sent = self._journal.by_key(int(row.get("FrontID", 0)), int(row.get("SessionID", 0)), ref)
        return sent.coid if sent is not None else None

    def _on_rsp_order_action(self, row: Row | None, error: Error | None, rid: int, last: bool) -> None:
        if error is None or error[0] == 0:
            return
        coid = next((c for c, r in self._pending_cancels.items() if r == rid), None)
        if coid is None and row is not None:
            coid = self._action_owner(row)
        if coid is not None and self._pending_cancels.pop(coid, None) is not None:
            self._cancel_rejected(coid, None, error)

    def _on_err_rtn_order_action(self, row: Row | None, error: Error | None) -> None:
        # Also replayed with the day's flow: only a cancel we are waiting for is answered by it.
        if row is None or error is None or error[0] == 0:
            return
        coid = self._action_owner(row)
        if coid is not None and self._pending_cancels.pop(coid, None) is not None:
            self._cancel_rejected(coid, None, error)

    def _cancel_rejected(self, coid: str, key: str | None, error: tuple[Any, str]) -> None:
        sent = self._journal.sent_for(coid)
        if self._sink is not None:
            self._sink.on_cancel_rejected(CancelRejectReport(
                account=self.account, client_order_id=coid,
                venue_order_id=key or (self._key_of(sent) if sent else None),
                code=str(error[0]), reason=error[1], ts_event=time.time_ns(),
            ))

    # --- orders -----------------------------------------------------------------------------------

    def _require_ready(self, what: str) -> None:
        if not self.connected or self._api is None:
            # Nothing is sent, so this is definite: the venue never saw the request.
            raise VenueRejected("not_connected", f"CTP front not connected; {what} not sent")

    async def submit(self, order: VenueOrder) -> str | None:
        already = self._journal.sent_for(order.client_order_id)
        if already is not None:
            # Sent before (maybe by a td_exec that died right after): never send it twice.
            log.warning("ctp order %s was already sent as %s; not sending again",
                        order.client_order_id, self._key_of(already))
            return None
        self._require_ready("order")
        kind = ctp_order_kind(order.order_type, order.time_in_force)
        if kind is None:
            raise VenueRejected("unsupported_order_type",
                                f"CTP has no {order.order_type} {order.time_in_force} order")
        offset = OFFSET_OF.get(order.offset)
        if offset is None:
            raise VenueRejected("bad_offset", f"CTP needs an open/close offset, got {order.offset}")
        if order.order_type is OrderType.LIMIT and order.price is None:
            raise VenueRejected("no_price", "a limit order needs a price")
        ref = max(self._max_order_ref, self._journal.max_ref) + 1
        side = DIRECTION_OF[order.side]
        self._journal.record_sent(Sent(
            day=self._trading_day, front=self._front_id, session=self._session_id, ref=ref,
            coid=order.client_order_id, exchange=order.exchange, symbol=order.symbol, side=side, qty=order.qty,
        ))
        rid = self._next_rid()
        rc = self._api.ReqOrderInsert(self._input_order(order, ref, side, offset, kind, rid), rid)
        if rc != 0:
            # -1 can mean a write that failed half way: the front may have the order.
            raise VenueUnknown(f"ReqOrderInsert returned {rc}")
        return None

    def _input_order(self, order: VenueOrder, ref: int, side: str, offset: str, kind: tuple[str, str, str],
                     rid: int) -> Any:
        f = td.CThostFtdcInputOrderField()
        f.BrokerID, f.InvestorID, f.UserID = self._cfg.broker_id, self.account, self.account
        f.InstrumentID, f.ExchangeID = order.symbol, order.exchange
        f.OrderRef = str(ref)
        f.Direction = side
        f.CombOffsetFlag = offset
        f.CombHedgeFlag = HedgeFlag.SPECULATION
        f.OrderPriceType, f.TimeCondition, f.VolumeCondition = kind
        f.LimitPrice = float(order.price or 0.0)
        f.VolumeTotalOriginal = int(order.qty)
        f.MinVolume = 1
        f.ContingentCondition = ContingentCondition.IMMEDIATELY
        f.ForceCloseReason = ForceCloseReason.NOT_FORCE_CLOSE
        f.RequestID = rid
        return f

    async def cancel(self, ref: OrderRef) -> None:
        self._require_ready("cancel")
        f = td.CThostFtdcInputOrderActionField()
        f.BrokerID, f.InvestorID, f.UserID = self._cfg.broker_id, self.account, self.account
        f.ActionFlag = ActionFlag.DELETE
        f.InstrumentID = ref.symbol
        sysid = self._journal.sysid_of(ref.client_order_id)
        sent = self._journal.sent_for(ref.client_order_id)
        keys = (sent.front, sent.session, sent.ref) if sent is not None else parse_order_key(ref.venue_order_id)
        if sysid is not None:
            f.ExchangeID, f.OrderSysID = sysid[0], padded(sysid[1])
        elif keys is not None:
            f.ExchangeID = ref.exchange
            f.FrontID, f.SessionID, f.OrderRef = keys[0], keys[1], str(keys[2])
        else:
            raise VenueRejected("unknown_order", f"no CTP key for order {ref.client_order_id}")
        rid = self._next_rid()
        rc = self._api.ReqOrderAction(f, rid)
        if rc != 0:
            raise VenueUnknown(f"ReqOrderAction returned {rc}")
        self._pending_cancels[ref.client_order_id] = rid

    async def modify(self, ref: OrderRef, qty: int | None, price: float | None) -> None:
        raise VenueUnsupported("CTP exchanges do not modify orders: cancel and submit a new one")

    # --- queries ----------------------------------------------------------------------------------

    def _investor_filter(self, struct: str) -> Any:
        f = getattr(td, struct)()
        f.BrokerID, f.InvestorID = self._cfg.broker_id, self.account
        return f

    async def _query(self, name: str, field: Any) -> list[Row]:
        if self._api is None:
            raise VenueUnknown("CTP adapter not started")
        method = getattr(self._api, name)
        return await self._queries.query(name, lambda rid: method(field, rid))

    async def _load_instruments(self) -> None:
        rows = await self._query("ReqQryInstrument", td.CThostFtdcQryInstrumentField())
        depth_rows = await self._query("ReqQryDepthMarketData", td.CThostFtdcQryDepthMarketDataField())
        depth = {str(r.get("InstrumentID", "")): r for r in depth_rows}
        loaded = {}
        for row in rows:
            info = reports.instrument_info(row, depth.get(str(row.get("InstrumentID", ""))), self._trading_day)
            loaded[(info.exchange, info.symbol)] = info
        self._instruments = loaded
        self._instruments_day = self._trading_day
        log.info("ctp instruments loaded: %d", len(loaded))

    async def instrument(self, exchange: str, symbol: str) -> InstrumentInfo | None:
        return self._instruments.get((exchange, symbol))

    async def instruments(self, exchange: str | None = None) -> list[InstrumentInfo]:
        return [i for (ex, _), i in sorted(self._instruments.items()) if exchange is None or ex == exchange]

    async def query_orders(self, account: str) -> list[OrderReport]:
        rows = await self._query("ReqQryOrder", self._investor_filter("CThostFtdcQryOrderField"))
        out: list[OrderReport] = []
        for row in rows:
            coid, key = self._learn_order(row)
            report = reports.order_report(row, self.account, coid, reconciliation=True)
            if report is None:
                continue
            out.append(report)
            self._journal.record_progress(key or "", report.status, report.filled_qty)
        return out

    async def query_fills(self, account: str) -> list[FillReport]:
        rows = await self._query("ReqQryTrade", self._investor_filter("CThostFtdcQryTradeField"))
        if any(self._trade_owner(r)[1] is None for r in rows):
            await self.query_orders(account)  # learn OrderSysIDs first seen while we were away
        out: list[FillReport] = []
        for row in rows:
            coid, key = self._trade_owner(row)
            report = reports.fill_report(row, self.account, coid, key, reconciliation=True)
            if report is None:
                continue
            out.append(report)
            self._journal.record_fill(report.trade_id)
        return out

    async def query_positions(self, account: str) -> list[PositionSnapshot]:
        rows = await self._query("ReqQryInvestorPosition",
                                 self._investor_filter("CThostFtdcQryInvestorPositionField"))
        multipliers = {i.symbol: i.multiplier for i in self._instruments.values()}
        return reports.positions(rows, self.account, multipliers)

    async def query_funds(self, account: str) -> list[AccountSnapshot]:
        rows = await self._query("ReqQryTradingAccount", self._investor_filter("CThostFtdcQryTradingAccountField"))
        return [reports.account_snapshot(row, self.account) for row in rows]


__all__ = ["CtpVenue"]
