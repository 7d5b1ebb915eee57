"""The trading front: sessions, login, orders and cancels with CTP's semantics, the private flow.

Synchronous and single-threaded (driven from the server's event loop); it sends frames through
each session's ``send`` callable and never blocks. What it does, as a CTP front does:

* Login: ``ReqAuthenticate`` (AppID/AuthCode) first when the front requires it (error 63
  otherwise), then ``ReqUserLogin`` with BrokerID/UserID/Password (error 3 on any mismatch). The
  answer carries FrontID, a SessionID unique for the day, MaxOrderRef (the largest OrderRef the
  investor used today) and the TradingDay. Then the private flow is replayed as the session
  subscribed it: RESTART from the day's start, RESUME after the sequence the api last saw, QUICK
  from now on.
* Orders need the day's settlement confirmed (error 42). OrderRef is the client's, must grow
  within the session (error 22) and is assigned (``"           1"``) when left empty. A refusal
  by the front (fields, instrument, money, position) is ``OnRspOrderInsert`` to the session plus
  ``OnErrRtnOrderInsert`` on the private flow, and no order exists. Otherwise the order is
  reported ``OrderStatus 'a' / InsertSubmitted`` ("报单已提交"), then accepted by the exchange
  (``'3'``, OrderSysID assigned), then part traded ``'1'`` / all traded ``'0'`` each followed by its
  ``OnRtnTrade``; a refusal by the exchange is ``'5'`` with OrderSubmitStatus InsertRejected
  (price off the tick, outside the limits, an any-price order on SHFE/INE).
* FAK (TimeCondition IOC + VolumeCondition AV) cancels what did not trade at once. FOK (IOC + CV)
  and price types other than limit/any-price are refused as bad fields.
* Cancels by FrontID+SessionID+OrderRef or ExchangeID+OrderSysID: ``'5'`` "已撤单" on success;
  error 25 (not found) / 26 (finished) as ``OnRspOrderAction`` + ``OnErrRtnOrderAction``.
* Order and trade pushes go to every logged-in session of the investor (CTP's private flow is per
  investor), numbered, and kept for replay.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ctp_sim import errors, fields
from ctp_sim.config import FrontConfig
from ctp_sim.queries import QueryDesk
from ctp_sim.state import DayState, FlowItem, OrderRec
from tradebus.ctp import time as ctp_time
from tradebus.ctp.codes import (
    ActionFlag,
    AppType,
    HedgeFlag,
    OrderActionStatus,
    OrderPriceType,
    OrderSubmitStatus,
    ResumeType,
    StatusMsg,
    TimeCondition,
    VolumeCondition,
    exchange_rejected_msg,
)
from tradebus.ctp.codes import OrderStatus as CtpStatus
from tradebus.ctp.exchanges import NO_MARKET_ORDER_EXCHANGES
from tradebus.ctp.ids import padded, ref_number
from tradebus.ctp.mapping import DIRECTION, PRICE_TYPE, position_effect
from tradebus.ctp.wire import Frame
from tradebus.sim import SimInstrument, SimMarket, SimOrder, SimOrderStatus, SimReject, SimTrade

log = logging.getLogger(__name__)

FAK = (TimeCondition.IOC, VolumeCondition.AV)
FOK = (TimeCondition.IOC, VolumeCondition.CV)  # not supported by ctp_sim: refused as a bad field
TIME_CONDITIONS = frozenset({TimeCondition.IOC, TimeCondition.GFD})
HEDGE_FLAGS = HedgeFlag.values()
FINISHED = frozenset({CtpStatus.ALL_TRADED, CtpStatus.CANCELED})
SYSTEM_NAME = "ctp_sim"


@dataclass(eq=False)
class TdSession:
    session_id: int
    send: Callable[[Frame], None]
    peer: str = ""
    authenticated: bool = False
    investor: str | None = None
    user_product_info: str = ""
    max_order_ref: int = 0
    private_mode: int = ResumeType.QUICK
    live: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class InsertRefused(Exception):
    def __init__(self, error: tuple[int, str]) -> None:
        super().__init__(error[1])
        self.error = error


class Broker:
    def __init__(self, config: FrontConfig, market: SimMarket, state: DayState,
                 now_ns: Callable[[], int] = time.time_ns) -> None:
        self.config = config
        self.market = market
        self.state = state
        self.now_ns = now_ns
        self.sessions: dict[int, TdSession] = {}
        self.dirty = False
        self.changed_orders: dict[int, OrderRec] = {}  # by broker_order_seq, since the last journal record
        self._by_sim: dict[str, OrderRec] = {r.sim_order_id: r for r in state.orders if r.sim_order_id}
        self._pending_trades: dict[str, list[SimTrade]] = {}
        self._inflight: OrderRec | None = None
        self._instruments: dict[str, SimInstrument] = {i.symbol: i for i in market.instruments()}
        self.queries = QueryDesk(config, market, state, self._instruments)
        market.add_listener(self._on_order, self._on_trade)

    # --- sessions -----------------------------------------------------------------------------

    def connect(self, send: Callable[[Frame], None], peer: str) -> TdSession:
        session_id = self.state.next("session_id", start=self._session_base())
        self.dirty = True
        session = TdSession(session_id=session_id, send=send, peer=peer)
        self.sessions[session_id] = session
        send(Frame(kind="hello", trading_day=self.state.trading_day, front_id=self.config.front_id))
        return session

    def _session_base(self) -> int:
        # Real SessionIDs are large and differ between front runs; keep ours unique per state dir.
        return 1_000_000 + int(self.now_ns() // 1_000_000_000) % 1_000_000 * 100

    def disconnect(self, session: TdSession) -> None:
        self.sessions.pop(session.session_id, None)

    def handle(self, s: TdSession, frame: Frame) -> None:
        if frame.kind == "hb":
            return
        if frame.kind != "req":
            return
        handler = self._HANDLERS.get(frame.op)
        if handler is not None:
            handler(self, s, frame)
        elif frame.op.startswith("ReqQry") and s.investor is None:
            self._reply(s, "OnRsp" + frame.op[3:], "", frame.rid, None, errors.NOT_LOGGED_IN)
        elif frame.op.startswith("ReqQry"):
            self.queries.answer(s, frame, self._reply_many)
        else:
            self._reply(s, "OnRspError", "", frame.rid, None, errors.NO_SUCH_FUNCTION)

    # --- replies and the private flow ---------------------------------------------------------

    def _reply(self, s: TdSession, cb: str, st: str, rid: int, body: dict[str, Any] | None,
               error: tuple[int, str] | None, last: bool = True) -> None:
        err = errors.rsp_info(error) if error is not None else None
        s.send(Frame(kind="rsp", cb=cb, st=st, rid=rid, last=last, body=body, err=err))

    def _reply_many(self, s: TdSession, cb: str, st: str, rid: int, bodies: list[dict[str, Any]]) -> None:
        if not bodies:
            self._reply(s, cb, st, rid, None, None)
            return
        for i, body in enumerate(bodies):
            self._reply(s, cb, st, rid, body, None, last=i == len(bodies) - 1)

    def _push(self, investor: str, kind: str, cb: str, st: str, body: dict[str, Any],
              error: tuple[int, str] | None = None) -> None:
        flow = self.state.flows.setdefault(investor, [])
        item = FlowItem(seq=len(flow) + 1, kind=kind, cb=cb, st=st, body=body,
                        err=errors.rsp_info(error) if error is not None else None)
        flow.append(item)
        self.dirty = True
        frame = _flow_frame(item)
        for s in self.sessions.values():
            if s.investor == investor and s.live and s.private_mode != ResumeType.NONE:
                s.send(frame)

    def _replay(self, s: TdSession, mode: int, after: int) -> None:
        flow = self.state.flows.get(s.investor or "", [])
        start = {ResumeType.RESTART: 0, ResumeType.RESUME: max(0, min(after, len(flow)))}.get(mode, len(flow))
        for item in flow[start:]:
            s.send(_flow_frame(item))

    # --- login --------------------------------------------------------------------------------

    def _authenticate(self, s: TdSession, frame: Frame) -> None:
        req = frame.body or {}
        body = {
            "BrokerID": req.get("BrokerID", ""),
            "UserID": req.get("UserID", ""),
            "UserProductInfo": req.get("UserProductInfo", ""),
            "AppID": req.get("AppID", ""),
            "AppType": AppType.INVESTOR,
        }
        ok = not self.config.auth_required or (
            req.get("AppID") == self.config.app_id and req.get("AuthCode") == self.config.auth_code
        )
        s.authenticated = ok
        self._reply(s, "OnRspAuthenticate", "CThostFtdcRspAuthenticateField", frame.rid, body,
                    errors.SUCCESS if ok else errors.AUTH_FAILED)

    def _login(self, s: TdSession, frame: Frame) -> None:
        req = frame.body or {}
        error = self._login_error(s, req)
        if error is not None:
            self._reply(s, "OnRspUserLogin", "CThostFtdcRspUserLoginField", frame.rid, None, error)
            return
        investor = str(req["UserID"])
        s.investor, s.user_product_info = investor, str(req.get("UserProductInfo", ""))
        s.private_mode = frame.resume if frame.resume >= 0 else ResumeType.QUICK
        now = self.now_ns()
        hhmmss = ctp_time.clock_time(now)
        body = {
            "TradingDay": self.state.trading_day,
            "LoginTime": hhmmss,
            "BrokerID": self.config.broker_id,
            "UserID": investor,
            "SystemName": SYSTEM_NAME,
            "FrontID": self.config.front_id,
            "SessionID": s.session_id,
            "MaxOrderRef": str(self._max_order_ref(investor)),
            "SHFETime": hhmmss,
            "DCETime": hhmmss,
            "CZCETime": hhmmss,
            "FFEXTime": hhmmss,
            "INETime": hhmmss,
            "GFEXTime": hhmmss,
            "SysVersion": "ctp_sim 1.0",
        }
        self._reply(s, "OnRspUserLogin", "CThostFtdcRspUserLoginField", frame.rid, body, errors.SUCCESS)
        if s.private_mode != ResumeType.NONE:
            self._replay(s, s.private_mode, frame.seq)
        s.live = True

    def _login_error(self, s: TdSession, req: dict[str, Any]) -> tuple[int, str] | None:
        if s.investor is not None:
            return errors.DUPLICATE_LOGIN
        if self.config.auth_required and not s.authenticated:
            return errors.AUTH_FAILED
        user = str(req.get("UserID", ""))
        if req.get("BrokerID") != self.config.broker_id or self.config.users.get(user) != req.get("Password"):
            return errors.INVALID_LOGIN
        return None

    def _max_order_ref(self, investor: str) -> int:
        refs = [ref_number(r.order_ref) or 0 for r in self.state.orders if r.investor == investor]
        return max([1, *refs])

    def _logout(self, s: TdSession, frame: Frame) -> None:
        req = frame.body or {}
        body = {"BrokerID": req.get("BrokerID", ""), "UserID": req.get("UserID", "")}
        if s.investor is None:
            self._reply(s, "OnRspUserLogout", "CThostFtdcUserLogoutField", frame.rid, body, errors.NOT_LOGGED_IN)
            return
        s.investor, s.live, s.authenticated = None, False, False
        self._reply(s, "OnRspUserLogout", "CThostFtdcUserLogoutField", frame.rid, body, errors.SUCCESS)

    def _settlement_confirm(self, s: TdSession, frame: Frame) -> None:
        req = frame.body or {}
        if s.investor is None:
            self._reply(s, "OnRspSettlementInfoConfirm", "", frame.rid, None, errors.NOT_LOGGED_IN)
            return
        now = self.now_ns()
        self.state.confirmed[s.investor] = f"{ctp_time.calendar_day(now)} {ctp_time.clock_time(now)}"
        self.dirty = True
        body = {
            "BrokerID": self.config.broker_id,
            "InvestorID": s.investor,
            "ConfirmDate": ctp_time.calendar_day(now),
            "ConfirmTime": ctp_time.clock_time(now),
            "SettlementID": 1,
            "AccountID": req.get("AccountID") or s.investor,
            "CurrencyID": req.get("CurrencyID") or "CNY",
        }
        self._reply(s, "OnRspSettlementInfoConfirm", "CThostFtdcSettlementInfoConfirmField", frame.rid,
                    body, errors.SUCCESS)

    # --- order insert -------------------------------------------------------------------------

    def _order_insert(self, s: TdSession, frame: Frame) -> None:
        req = dict(frame.body or {})
        try:
            inst = self._check_insert(s, req)
        except InsertRefused as refused:
            self._refuse_insert(s, frame.rid, req, refused.error)
            return
        rec = self._new_order(s, frame.rid, req, inst)
        if req.get("OrderPriceType") == OrderPriceType.ANY_PRICE and inst.market in NO_MARKET_ORDER_EXCHANGES:
            self._exchange_rejected(rec, "不支持市价单")
            return
        self._submit(s, frame.rid, rec, inst)

    def _check_insert(self, s: TdSession, req: dict[str, Any]) -> SimInstrument:
        if s.investor is None:
            raise InsertRefused(errors.NOT_LOGGED_IN)
        investor = req.get("InvestorID", "")
        if investor != s.investor:
            raise InsertRefused(errors.BAD_FIELD if not investor else errors.NO_PERMISSION)
        if req.get("BrokerID") != self.config.broker_id:
            raise InsertRefused(errors.BAD_FIELD)
        if s.investor not in self.state.confirmed:
            raise InsertRefused(errors.SETTLEMENT_NOT_CONFIRMED)
        self._take_order_ref(s, req)
        inst = self._instruments.get(str(req.get("InstrumentID", "")))
        exchange = req.get("ExchangeID", "")
        if inst is None or (exchange and exchange != inst.market):
            raise InsertRefused(errors.INSTRUMENT_NOT_FOUND)
        self._check_order_fields(req, inst)
        return inst

    def _take_order_ref(self, s: TdSession, req: dict[str, Any]) -> None:
        raw = str(req.get("OrderRef", ""))
        if not raw.strip():
            s.max_order_ref += 1
            req["OrderRef"] = padded(s.max_order_ref)
            return
        if not raw.strip().isdigit():
            raise InsertRefused(errors.BAD_FIELD)
        number = int(raw)
        if number <= s.max_order_ref:
            raise InsertRefused(errors.DUPLICATE_ORDER_REF)
        s.max_order_ref = number

    @staticmethod
    def _check_order_fields(req: dict[str, Any], inst: SimInstrument) -> None:
        ok = (
            req.get("Direction") in DIRECTION
            and position_effect(inst.market, str(req.get("CombOffsetFlag", ""))[:1]) is not None
            and str(req.get("CombHedgeFlag", ""))[:1] in HEDGE_FLAGS
            and req.get("OrderPriceType") in PRICE_TYPE
            and req.get("TimeCondition") in TIME_CONDITIONS
            and (req.get("TimeCondition"), req.get("VolumeCondition")) != FOK
            and int(req.get("VolumeTotalOriginal", 0)) > 0
        )
        if not ok:
            raise InsertRefused(errors.BAD_FIELD)

    def _new_order(self, s: TdSession, rid: int, req: dict[str, Any], inst: SimInstrument) -> OrderRec:
        now = self.now_ns()
        return OrderRec(
            investor=s.investor or "",
            user=str(req.get("UserID") or s.investor),
            front_id=self.config.front_id,
            session_id=s.session_id,
            order_ref=str(req["OrderRef"]),
            request_id=int(req.get("RequestID", 0) or 0),
            exchange=inst.market,
            instrument=inst.symbol,
            input=req,
            order_local_id=padded(self.state.next("order_local_id")),
            broker_order_seq=self.state.next("broker_order_seq"),
            insert_date=ctp_time.calendar_day(now),
            insert_time=ctp_time.clock_time(now),
            user_product_info=s.user_product_info,
            volume_total=int(req["VolumeTotalOriginal"]),
            status_msg=StatusMsg.SUBMITTED,
        )

    def _submit(self, s: TdSession, rid: int, rec: OrderRec, inst: SimInstrument) -> None:
        req = rec.input
        offset = position_effect(inst.market, str(req["CombOffsetFlag"])[:1])
        assert offset is not None  # checked in _check_order_fields
        self._inflight = rec
        try:
            order = self.market.submit(
                rec.investor, inst.market, inst.symbol, DIRECTION[req["Direction"]],
                int(req["VolumeTotalOriginal"]), float(req.get("LimitPrice", 0.0)),
                PRICE_TYPE[req["OrderPriceType"]], offset,
                remark=f"{rec.front_id}:{rec.session_id}:{rec.order_ref.strip()}",
            )
        except SimReject as reject:
            self._inflight = None
            self._rejected(s, rid, rec, reject, offset)
            return
        finally:
            self._inflight = None
        if (req.get("TimeCondition"), req.get("VolumeCondition")) == FAK and order.status in (
            SimOrderStatus.QUEUED, SimOrderStatus.PARTIAL
        ):
            self.market.cancel(rec.investor, order.order_id)

    def _rejected(self, s: TdSession, rid: int, rec: OrderRec, reject: SimReject, offset: Any) -> None:
        tail = errors.EXCHANGE_REJECTS.get(reject.reason)
        if tail is None:
            self._refuse_insert(s, rid, rec.input, errors.front_reject(reject.reason, offset))
            return
        self._exchange_rejected(rec, tail)

    def _exchange_rejected(self, rec: OrderRec, tail: str) -> None:
        """The exchange refused it: the order exists, submitted then rejected."""
        self._admit(rec)
        now = self.now_ns()
        rec.status, rec.submit_status = CtpStatus.CANCELED, OrderSubmitStatus.INSERT_REJECTED
        rec.status_msg = exchange_rejected_msg(rec.exchange, tail)
        rec.update_time = rec.cancel_time = ctp_time.clock_time(now)
        self._push_order(rec)

    def _refuse_insert(self, s: TdSession, rid: int, req: dict[str, Any], error: tuple[int, str]) -> None:
        self._reply(s, "OnRspOrderInsert", "CThostFtdcInputOrderField", rid, req, error)
        if s.investor is not None:
            self._push(s.investor, "errrtn", "OnErrRtnOrderInsert", "CThostFtdcInputOrderField", req, error)

    def _admit(self, rec: OrderRec) -> None:
        """The front took the order: it exists from now on and the client hears 'a'."""
        self.state.orders.append(rec)
        self._push_order(rec)

    def _push_order(self, rec: OrderRec) -> None:
        self.dirty = True
        self.changed_orders[rec.broker_order_seq] = rec
        body = fields.order(rec, self.config.broker_id, self.state.trading_day)
        self._push(rec.investor, "rtn", "OnRtnOrder", "CThostFtdcOrderField", body)

    # --- market listener ----------------------------------------------------------------------

    def _record_for(self, order_id: str, account: str) -> OrderRec | None:
        rec = self._by_sim.get(order_id)
        if rec is None and self._inflight is not None and self._inflight.investor == account:
            rec, self._inflight = self._inflight, None
            rec.sim_order_id = order_id
            self._by_sim[order_id] = rec
            self._admit(rec)
        return rec

    def _on_trade(self, trade: SimTrade) -> None:
        if self._record_for(trade.order_id, trade.account) is not None:
            self._pending_trades.setdefault(trade.order_id, []).append(trade)

    def _on_order(self, order: SimOrder) -> None:
        rec = self._record_for(order.order_id, order.account)
        if rec is None:
            return
        now = self.now_ns()
        if not rec.order_sys_id:
            rec.order_sys_id = padded(self.state.next(f"order_sys_id.{rec.exchange}"))
            rec.status, rec.submit_status = CtpStatus.NO_TRADE_QUEUEING, OrderSubmitStatus.ACCEPTED
            rec.status_msg = StatusMsg.NO_TRADE_QUEUEING
            rec.sequence_no = self.state.next(f"sequence_no.{rec.exchange}")
            self._push_order(rec)
            if order.status is SimOrderStatus.QUEUED:
                return
        status, text = fields.status_of(order.status)
        rec.status, rec.status_msg = status, text
        rec.volume_traded = order.filled_qty
        rec.volume_total = order.qty - order.filled_qty
        rec.update_time = ctp_time.clock_time(now)
        if order.status is SimOrderStatus.CANCELLED:
            rec.cancel_time = rec.update_time
        rec.sequence_no = self.state.next(f"sequence_no.{rec.exchange}")
        self._push_order(rec)
        for trade in self._pending_trades.pop(order.order_id, []):
            self._push_trade(rec, trade)

    def _push_trade(self, rec: OrderRec, trade: SimTrade) -> None:
        body = fields.trade(
            rec, self.config.broker_id, self.state.trading_day,
            trade_id=padded(self.state.next(f"trade_id.{rec.exchange}")),
            price=trade.price, volume=trade.qty, ts_ns=trade.ts_ns,
            sequence_no=self.state.next(f"sequence_no.{rec.exchange}"),
        )
        self.state.trades.append(body)
        self._push(rec.investor, "rtn", "OnRtnTrade", "CThostFtdcTradeField", body)

    # --- cancel -------------------------------------------------------------------------------

    def _order_action(self, s: TdSession, frame: Frame) -> None:
        req = dict(frame.body or {})
        if s.investor is None:
            self._reply(s, "OnRspOrderAction", "CThostFtdcInputOrderActionField", frame.rid, req,
                        errors.NOT_LOGGED_IN)
            return
        error = self._cancel(s, req)
        if error is None:
            return
        self._reply(s, "OnRspOrderAction", "CThostFtdcInputOrderActionField", frame.rid, req, error)
        now = self.now_ns()
        action = dict(req)
        action.update({
            "ActionDate": ctp_time.calendar_day(now),
            "ActionTime": ctp_time.clock_time(now),
            "OrderActionStatus": OrderActionStatus.REJECTED,
            "StatusMsg": error[1],
        })
        self._push(s.investor, "errrtn", "OnErrRtnOrderAction", "CThostFtdcOrderActionField", action, error)

    def _cancel(self, s: TdSession, req: dict[str, Any]) -> tuple[int, str] | None:
        if req.get("ActionFlag", ActionFlag.DELETE) != ActionFlag.DELETE:
            return errors.BAD_FIELD  # ctp_sim supports delete only, not modify
        rec = self._find_order(req)
        if rec is None or rec.investor != s.investor:
            return errors.ORDER_NOT_FOUND
        if not rec.sim_order_id or rec.status in FINISHED:
            return errors.ORDER_NOT_ACTIVE
        try:
            self.market.cancel(rec.investor, rec.sim_order_id)
        except SimReject as reject:
            return errors.CANCEL_REJECTS.get(reject.reason, errors.ORDER_NOT_ACTIVE)
        return None

    def _find_order(self, req: dict[str, Any]) -> OrderRec | None:
        sys_id = str(req.get("OrderSysID", "")).strip()
        if sys_id:
            exchange = req.get("ExchangeID", "")
            for rec in self.state.orders:
                if rec.order_sys_id.strip() == sys_id and (not exchange or rec.exchange == exchange):
                    return rec
            return None
        ref = str(req.get("OrderRef", "")).strip()
        front, session = int(req.get("FrontID", 0) or 0), int(req.get("SessionID", 0) or 0)
        for rec in self.state.orders:
            if rec.front_id == front and rec.session_id == session and rec.order_ref.strip() == ref:
                return rec
        return None

    _HANDLERS: dict[str, Callable[[Broker, TdSession, Frame], None]] = {
        "ReqAuthenticate": _authenticate,
        "ReqUserLogin": _login,
        "ReqUserLogout": _logout,
        "ReqSettlementInfoConfirm": _settlement_confirm,
        "ReqOrderInsert": _order_insert,
        "ReqOrderAction": _order_action,
    }


def _flow_frame(item: FlowItem) -> Frame:
    return Frame(kind=item.kind, cb=item.cb, st=item.st, body=item.body, err=item.err, seq=item.seq)
