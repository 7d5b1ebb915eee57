"""Trade protos: accounts, unlock, push registration, queries, place/modify/cancel, order and fill pushes.

OpenD rules kept here: REAL-environment orders need a prior unlock (one unlock serves every
connection of the OpenD), paper (SIMULATE) orders do not; paper trading has no deals, so it gets no
fill pushes and refuses deal queries; trade pushes go only to connections whose latest
Trd_SubAccPush list holds the account; a PlaceOrder/ModifyOrder packetID is accepted once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from opend_sim.api import framing, pb, trd_build, trd_info
from opend_sim.api.accounts import FutuAccount, build_accounts, open_on_market
from opend_sim.api.mapping import (
    MODIFY_CANCEL,
    MODIFY_NORMAL,
    ORDER_TYPE_TO_SIM,
    SEC_MARKET_TO_SIM,
    TRD_CATEGORY_SECURITY,
    TRD_ENV_REAL,
    TRD_MARKET,
    TRD_SIDE_TO_SIM,
    order_status,
    reject_message,
)
from opend_sim.api.session import PUSH_SERIAL, Session
from tradebus.sim import RejectReason, SimMarket, SimOrder, SimOrderStatus, SimReject, SimTrade

UNLOCK_WRONG_PASSWORD = "Unlock failed: the trade password is incorrect"
NEED_UNLOCK = "Trade is locked, please unlock trade first"
PAPER_HAS_NO_DEALS = "Paper trading does not support deals"
DUPLICATE_PACKET = "Duplicate request: this packetID has already been used"
SHORT_SELL_REFUSED = "Short selling is not supported for a cash account"
ACTIVE = frozenset({SimOrderStatus.QUEUED, SimOrderStatus.PARTIAL})
_ENV_NAME = {0: "SIMULATE", 1: "REAL"}


class TradeError(Exception):
    """A refusal to put in retMsg."""


class TradeService:
    def __init__(self, market: SimMarket, *, login_account: str, trade_pwd_md5: str,
                 sessions: Callable[[], list[Session]], on_change: Callable[[], None]) -> None:
        self._market = market
        self._pwd_md5 = trade_pwd_md5.lower()
        self._sessions = sessions
        self._on_change = on_change
        self.accounts = build_accounts(login_account)
        open_on_market(market, self.accounts)
        self._by_id = {a.acc_id: a for a in self.accounts}
        self._by_sim = {a.sim_name: a for a in self.accounts}
        self.unlocked = False
        self._used_packets: set[tuple[int, int]] = set()
        self._events: list[SimOrder | SimTrade] = []
        # orders restored from a snapshot were announced before the restart
        self._announced = {o.order_id for a in self.accounts for o in market.orders(a.sim_name)}
        market.add_listener(self._on_event, self._on_event)

    def _on_event(self, event: SimOrder | SimTrade) -> None:
        self._events.append(event)  # pushed by flush(), after the reply to the request that caused it

    def handlers(self) -> dict[int, Callable[[Session, Any], Any]]:
        table: dict[int, Callable[[Session, Any], Any]] = {
            2001: self.acc_list, 2005: self.unlock, 2008: self.sub_acc_push, 2101: self.funds,
            2102: self.positions, 2201: self.order_list, 2202: self.place_order, 2205: self.modify_order,
            2211: self.deal_list, 2221: self.history_order_list, 2222: self.history_deal_list,
            2111: self.max_trade_qtys, 2225: self.order_fees,
        }
        return {pid: self._guard(pid, fn) for pid, fn in table.items()}

    @staticmethod
    def _guard(proto_id: int, fn: Callable[[Session, Any], Any]) -> Callable[[Session, Any], Any]:
        def run(session: Session, req: Any) -> Any:
            try:
                return fn(session, req)
            except TradeError as exc:
                return pb.error_response(proto_id, str(exc))
        return run

    def sim_name(self, acc_id: int) -> str:
        """The SimMarket account behind a Futu acc id."""
        return self._by_id[acc_id].sim_name

    # helpers ----------------------------------------------------------------------------------

    def _account(self, header: Any) -> FutuAccount:
        acc = self._by_id.get(header.accID)
        if acc is None or acc.env != header.trdEnv:
            env = _ENV_NAME.get(header.trdEnv, str(header.trdEnv))
            raise TradeError(f"Account does not exist: acc_id={header.accID} trd_env={env}")
        return acc

    def _check_unlocked(self, acc: FutuAccount) -> None:
        if acc.env == TRD_ENV_REAL and not self.unlocked:
            raise TradeError(NEED_UNLOCK)

    def _check_packet(self, packet_id: Any) -> None:
        key = (packet_id.connID, packet_id.serialNo)
        if key in self._used_packets:
            raise TradeError(DUPLICATE_PACKET)
        self._used_packets.add(key)

    def _name(self, market: str, symbol: str) -> Any:
        return self._market.instrument(market, symbol)

    def _ok(self, proto_id: int, acc: FutuAccount | None = None) -> Any:
        rsp = pb.ok_response(proto_id)
        if acc is not None:
            trd_build.fill_header(rsp.s2c.header, acc)
        return rsp

    # accounts, unlock, push registration ------------------------------------------------------

    def acc_list(self, session: Session, req: Any) -> Any:
        rsp = self._ok(2001)
        category = req.c2s.trdCategory if req.c2s.HasField("trdCategory") else TRD_CATEGORY_SECURITY
        if category in (0, TRD_CATEGORY_SECURITY):  # the simulator has no Futu futures accounts
            for acc in self.accounts:
                trd_build.fill_acc(rsp.s2c.accList.add(), acc)
        return rsp

    def unlock(self, session: Session, req: Any) -> Any:
        c2s = req.c2s
        if c2s.unlock:
            if c2s.pwdMD5.lower() != self._pwd_md5:
                raise TradeError(UNLOCK_WRONG_PASSWORD)
            self.unlocked = True
        else:
            self.unlocked = False
        return self._ok(2005)

    def sub_acc_push(self, session: Session, req: Any) -> Any:
        session.acc_push = frozenset(req.c2s.accIDList)  # the full list, replacing the previous one
        return self._ok(2008)

    # queries ----------------------------------------------------------------------------------

    def funds(self, session: Session, req: Any) -> Any:
        acc = self._account(req.c2s.header)
        rsp = self._ok(2101, acc)
        trd_build.fill_funds(rsp.s2c.funds, self._market.funds(acc.sim_name), acc)
        return rsp

    def positions(self, session: Session, req: Any) -> Any:
        c2s = req.c2s
        acc = self._account(c2s.header)
        codes = set(c2s.filterConditions.codeList)
        rsp = self._ok(2102, acc)
        for p in self._market.positions(acc.sim_name):
            if p.long_qty <= 0 or (codes and p.symbol not in codes):
                continue
            last = self._market.quote(p.market, p.symbol).last
            dst = rsp.s2c.positionList.add()
            trd_build.fill_position(dst, p, self._name(p.market, p.symbol), last, acc)
            if not _in_ratio_range(dst.plRatio, c2s):
                del rsp.s2c.positionList[-1]
        return rsp

    def order_list(self, session: Session, req: Any) -> Any:
        c2s = req.c2s
        acc = self._account(c2s.header)
        return self._orders_reply(2201, acc, c2s.filterConditions, set(c2s.filterStatusList), timed=False)

    def history_order_list(self, session: Session, req: Any) -> Any:
        c2s = req.c2s
        acc = self._account(c2s.header)
        return self._orders_reply(2221, acc, c2s.filterConditions, set(c2s.filterStatusList), timed=True)

    def _orders_reply(self, proto_id: int, acc: FutuAccount, fc: Any, statuses: set[int], *,
                      timed: bool) -> Any:
        rsp = self._ok(proto_id, acc)
        if fc.HasField("filterMarket") and fc.filterMarket not in (0, TRD_MARKET[acc.market]):
            return rsp
        codes, ids, nums = set(fc.codeList), set(fc.orderIDExList), set(fc.idList)
        for o in self._market.orders(acc.sim_name):
            if codes and o.symbol not in codes:
                continue
            if ids and o.order_id not in ids:
                continue
            if nums and trd_build.numeric_id(o.order_id) not in nums:
                continue
            if statuses and order_status(o.status, o.filled_qty) not in statuses:
                continue
            dst = rsp.s2c.orderList.add()
            trd_build.fill_order(dst, o, self._name(o.market, o.symbol), acc)
            if timed and not _in_time_range(dst.createTime, fc):
                del rsp.s2c.orderList[-1]
        return rsp

    def deal_list(self, session: Session, req: Any) -> Any:
        return self._deals_reply(2211, req.c2s, timed=False)

    def history_deal_list(self, session: Session, req: Any) -> Any:
        return self._deals_reply(2222, req.c2s, timed=True)

    def _deals_reply(self, proto_id: int, c2s: Any, *, timed: bool) -> Any:
        acc = self._account(c2s.header)
        if acc.env != TRD_ENV_REAL:
            raise TradeError(PAPER_HAS_NO_DEALS)
        codes = set(c2s.filterConditions.codeList)
        rsp = self._ok(proto_id, acc)
        for t in self._market.trades(acc.sim_name):
            if codes and t.symbol not in codes:
                continue
            dst = rsp.s2c.orderFillList.add()
            trd_build.fill_deal(dst, t, self._name(t.market, t.symbol), acc)
            if timed and not _in_time_range(dst.createTime, c2s.filterConditions):
                del rsp.s2c.orderFillList[-1]
        return rsp

    def max_trade_qtys(self, session: Session, req: Any) -> Any:
        c2s = req.c2s
        acc = self._account(c2s.header)
        market = SEC_MARKET_TO_SIM.get(c2s.secMarket) if c2s.HasField("secMarket") and c2s.secMarket else acc.market
        inst = self._market.instrument(market, c2s.code) if market == acc.market else None
        if inst is None:
            raise TradeError(reject_message(RejectReason.UNKNOWN_INSTRUMENT, f"{market}.{c2s.code[:20]}"))
        rsp = self._ok(2111, acc)
        try:
            trd_info.max_quantities(rsp.s2c.maxTrdQtys, self._market, acc.sim_name, inst, c2s.orderType, c2s.price)
        except trd_info.InfoError as exc:
            raise TradeError(str(exc)) from exc
        return rsp

    def order_fees(self, session: Session, req: Any) -> Any:
        c2s = req.c2s
        acc = self._account(c2s.header)
        orders = {o.order_id: o for o in self._market.orders(acc.sim_name)}
        rsp = self._ok(2225, acc)
        for order_id in c2s.orderIdExList:
            order = orders.get(order_id)
            if order is None:
                raise TradeError(reject_message(RejectReason.UNKNOWN_ORDER, f"order {order_id[:40]}"))
            trd_info.order_fee(rsp.s2c.orderFeeList.add(), self._market, acc.sim_name, order)
        return rsp

    # orders -----------------------------------------------------------------------------------

    def place_order(self, session: Session, req: Any) -> Any:
        c2s = req.c2s
        acc = self._account(c2s.header)
        self._check_packet(c2s.packetID)
        self._check_unlocked(acc)
        market = SEC_MARKET_TO_SIM.get(c2s.secMarket) if c2s.HasField("secMarket") else acc.market
        if market != acc.market:
            raise TradeError(f"The account has no trading permission for this market (secMarket={c2s.secMarket})")
        side = TRD_SIDE_TO_SIM.get(c2s.trdSide)
        if side is None:
            raise TradeError(SHORT_SELL_REFUSED)
        kind = ORDER_TYPE_TO_SIM.get(c2s.orderType)
        if kind is None:
            raise TradeError(f"Order type {c2s.orderType} is not supported")
        if c2s.qty != int(c2s.qty):
            raise TradeError("Invalid order quantity: stocks trade in whole shares")
        price = c2s.price if c2s.orderType == 1 else 0.0
        try:
            order = self._market.submit(acc.sim_name, market, c2s.code, side, int(c2s.qty), price, kind,
                                        remark=c2s.remark)
        except SimReject as exc:
            raise TradeError(reject_message(exc.reason, exc.text)) from exc
        rsp = self._ok(2202, acc)
        rsp.s2c.orderID = trd_build.numeric_id(order.order_id)
        rsp.s2c.orderIDEx = order.order_id
        return rsp

    def modify_order(self, session: Session, req: Any) -> Any:
        c2s = req.c2s
        acc = self._account(c2s.header)
        self._check_packet(c2s.packetID)
        self._check_unlocked(acc)
        rsp = self._ok(2205, acc)
        try:
            if c2s.forAll:
                self._cancel_all(acc, c2s.modifyOrderOp)
                rsp.s2c.orderID = 0
                return rsp
            order_id = c2s.orderIDEx or self._order_id_of(acc, c2s.orderID)
            if c2s.modifyOrderOp == MODIFY_NORMAL:
                self._market.modify(acc.sim_name, order_id, int(c2s.qty), c2s.price)
            elif c2s.modifyOrderOp == MODIFY_CANCEL:
                self._market.cancel(acc.sim_name, order_id)
            else:
                raise TradeError(f"Modify operation {c2s.modifyOrderOp} is not supported for this account")
        except SimReject as exc:
            raise TradeError(reject_message(exc.reason, exc.text)) from exc
        rsp.s2c.orderID = trd_build.numeric_id(order_id)
        rsp.s2c.orderIDEx = order_id
        return rsp

    def _cancel_all(self, acc: FutuAccount, op: int) -> None:
        if op != MODIFY_CANCEL:
            raise TradeError("Only cancellation can be applied to all orders")
        for o in self._market.orders(acc.sim_name):
            if o.status in ACTIVE:
                self._market.cancel(acc.sim_name, o.order_id)

    def _order_id_of(self, acc: FutuAccount, numeric: int) -> str:
        for o in self._market.orders(acc.sim_name):
            if trd_build.numeric_id(o.order_id) == numeric:
                return o.order_id
        raise TradeError(reject_message(RejectReason.UNKNOWN_ORDER, f"order {numeric}"))

    # pushes -----------------------------------------------------------------------------------

    def flush(self) -> None:
        """Turn the market's order and trade reports since the last flush into 2208/2218 pushes."""
        if not self._events:
            return
        events, self._events = self._events, []
        sessions = self._sessions()
        for event in events:
            acc = self._by_sim.get(event.account)
            if acc is None:
                continue
            if isinstance(event, SimOrder):
                self._push_order_event(event, acc, sessions)
            else:
                self._push_deal_event(event, acc, events, sessions)
        self._on_change()

    def _push_order_event(self, order: SimOrder, acc: FutuAccount, sessions: list[Session]) -> None:
        if order.order_id not in self._announced:
            self._announced.add(order.order_id)
            if order.status not in (SimOrderStatus.QUEUED, SimOrderStatus.REJECTED):
                self._push_order(_as_submitted(order), acc, sessions)
        self._push_order(order, acc, sessions)

    def _push_deal_event(self, trade: SimTrade, acc: FutuAccount, events: list[SimOrder | SimTrade],
                         sessions: list[Session]) -> None:
        # OpenD reports an order as SUBMITTED before any of its deals
        if trade.order_id not in self._announced:
            self._announced.add(trade.order_id)
            order = next((e for e in events if isinstance(e, SimOrder) and e.order_id == trade.order_id), None)
            if order is None:
                order = self._market.order(acc.sim_name, trade.order_id)
            self._push_order(_as_submitted(order), acc, sessions)
        if acc.env != TRD_ENV_REAL:
            return  # paper trading has no deals
        rsp = self._ok(2218, acc)
        trd_build.fill_deal(rsp.s2c.orderFill, trade, self._name(trade.market, trade.symbol), acc)
        self._send(2218, rsp, acc, sessions)

    def _push_order(self, order: SimOrder, acc: FutuAccount, sessions: list[Session]) -> None:
        rsp = self._ok(2208, acc)
        trd_build.fill_order(rsp.s2c.order, order, self._name(order.market, order.symbol), acc)
        self._send(2208, rsp, acc, sessions)

    @staticmethod
    def _send(proto_id: int, msg: Any, acc: FutuAccount, sessions: Iterable[Session]) -> None:
        packet: bytes | None = None
        for session in sessions:
            if session.ready and acc.acc_id in session.acc_push:
                packet = packet or framing.pack(proto_id, PUSH_SERIAL, pb.serialize(msg))
                session.send_raw(packet)


def _as_submitted(order: SimOrder) -> SimOrder:
    return dataclasses.replace(order, status=SimOrderStatus.QUEUED, filled_qty=0, avg_fill_price=0.0,
                               updated_ns=order.created_ns)


def _in_time_range(create_time: str, fc: Any) -> bool:
    stamp = create_time[:19]
    if fc.HasField("beginTime") and fc.beginTime and stamp < fc.beginTime[:19]:
        return False
    return not (fc.HasField("endTime") and fc.endTime and stamp > fc.endTime[:19])


def _in_ratio_range(ratio: float, c2s: Any) -> bool:
    if c2s.HasField("filterPLRatioMin") and ratio < c2s.filterPLRatioMin:
        return False
    return not (c2s.HasField("filterPLRatioMax") and ratio > c2s.filterPLRatioMax)
