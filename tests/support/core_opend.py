"""A second, minimal OpenD for tests: only the core calls of OpenD's API protocol, nothing optional.

Written from the wire format (docs/td_exec_futu.md, "OpenD's core calls"), independent of
``services/opend_sim``, so td_exec is tested against an OpenD that is *not* the one it grew up with.
Bodies are futu-api's own generated protobuf classes (the client library's message definitions).

Framing: a 44-byte little-endian header — ``"FT"``, proto id (u32), format (u8, 0 = protobuf), version
(u8), serial (u32, echoed in the reply), body length (u32), SHA1 of the body (20 bytes), 8 reserved
bytes — then the body. Unencrypted connections only.

Served: InitConnect 1001, GetGlobalState 1002, KeepAlive 1004, Qot_Sub 3001 (+ first 3005 push),
Qot_GetBasicQot 3004, Qot_GetStaticInfo 3202, Trd_GetAccList 2001, Trd_UnlockTrade 2005,
Trd_SubAccPush 2008, Trd_GetFunds 2101, Trd_GetPositionList 2102, Trd_GetOrderList 2201,
Trd_PlaceOrder 2202 (+ 2208 pushes), Trd_GetOrderFillList 2211 (+ 2218 pushes on fills). Every other
proto — the market snapshot 3203, modify 2205, history, … — gets ``retType=-1 "unsupported"``.

It runs on its own event loop thread (futu-api blocks its caller, so it cannot share the test's);
``call`` runs a function on that loop, where all state lives.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import importlib
import importlib.util
import itertools
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

T = TypeVar("T")

HEADER = struct.Struct("<2sIBBII20s8s")  # 44 bytes
MAX_BODY = 1 << 20
UNSUPPORTED = "unsupported"
PLAINTEXT = -1  # InitConnect packetEncAlgo: no encryption
TRD_ENV_SIMULATE, TRD_ENV_REAL = 0, 1
TRD_MARKET_HK = 1
SEC_MARKET_HK = 1
QOT_MARKET_HK = 1
SUB_TYPE_QUOTE = 1
ORDER_SUBMITTED, ORDER_FILLED_PART, ORDER_FILLED_ALL = 5, 10, 11
SECURITY_TYPE_EQUITY = 3
PROTOS: dict[int, str] = {
    1001: "InitConnect", 1002: "GetGlobalState", 1004: "KeepAlive",
    2001: "Trd_GetAccList", 2005: "Trd_UnlockTrade", 2008: "Trd_SubAccPush", 2101: "Trd_GetFunds",
    2102: "Trd_GetPositionList", 2201: "Trd_GetOrderList", 2202: "Trd_PlaceOrder", 2208: "Trd_UpdateOrder",
    2211: "Trd_GetOrderFillList", 2218: "Trd_UpdateOrderFill",
    3001: "Qot_Sub", 3004: "Qot_GetBasicQot", 3005: "Qot_UpdateBasicQot", 3202: "Qot_GetStaticInfo",
}


def _pb(name: str) -> ModuleType:
    """futu-api's generated module ``<name>_pb2``, loaded from its folder without running ``futu/__init__``."""
    spec = importlib.util.find_spec("futu")
    assert spec is not None and spec.submodule_search_locations, "futu-api is not installed"
    folder = str(Path(next(iter(spec.submodule_search_locations))) / "common" / "pb")
    if folder not in sys.path:
        sys.path.append(folder)
    return importlib.import_module(f"{name}_pb2")


def frame(proto_id: int, serial: int, body: bytes) -> bytes:
    return HEADER.pack(b"FT", proto_id, 0, 0, serial, len(body), hashlib.sha1(body).digest(), bytes(8)) + body


@dataclass(slots=True)
class Instrument:
    code: str  # bare code, e.g. "00700" (HK)
    name: str
    lot_size: int
    price: float


@dataclass(slots=True)
class CoreOrder:
    order_id: int
    acc_id: int
    env: int
    code: str
    side: int
    order_type: int
    qty: float
    price: float
    remark: str
    status: int = ORDER_SUBMITTED
    filled: float = 0.0
    fill_value: float = 0.0
    created: str = ""
    updated: str = ""


@dataclass(slots=True)
class CoreFill:
    fill_id: int
    order: CoreOrder
    qty: float
    price: float
    created: str


@dataclass(eq=False)
class Connection:
    conn_id: int
    writer: asyncio.StreamWriter
    accounts: set[int] = field(default_factory=set)  # the latest 2008 list: where trade pushes go
    quotes: set[str] = field(default_factory=set)  # codes subscribed to QUOTE with push


def _now_text() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


class CoreOpenD:
    """State and handlers. ``max_qty``: a larger order is refused with OpenD's own kind of text;
    ``static_info=False`` answers 3202 "unsupported" too (an OpenD whose static information is unknown)."""

    def __init__(self, *, max_qty: int = 10_000, static_info: bool = True) -> None:
        self.max_qty = max_qty
        self.static_info = static_info
        self.instruments: dict[str, Instrument] = {"00700": Instrument("00700", "TENCENT", 100, 300.0)}
        self.accounts: dict[int, int] = {5001: TRD_ENV_REAL}  # acc id -> env
        self.orders: dict[int, CoreOrder] = {}
        self.fills: list[CoreFill] = []
        self.unlocked_with: list[str] = []  # pwdMD5 values received
        self.seen: list[int] = []  # every proto id received, in order
        self._conns: dict[int, Connection] = {}
        self._conn_ids = itertools.count(7_000_001)
        self._order_ids = itertools.count(880_001)
        self._fill_ids = itertools.count(990_001)
        self._handlers: dict[int, Callable[[Connection, Any], Any]] = {
            1001: self._init_connect, 1002: self._global_state, 1004: self._keep_alive,
            2001: self._acc_list, 2005: self._unlock, 2008: self._sub_acc_push, 2101: self._funds,
            2102: self._positions, 2201: self._order_list, 2202: self._place_order, 2211: self._fill_list,
            3001: self._subscribe, 3004: self._basic_qot, 3202: self._static,
        }

    # connection -----------------------------------------------------------------------------

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(next(self._conn_ids), writer)
        self._conns[conn.conn_id] = conn
        try:
            while True:
                magic, proto_id, fmt, _ver, serial, length, sha1, _ = HEADER.unpack(
                    await reader.readexactly(HEADER.size))
                if magic != b"FT" or length > MAX_BODY:
                    return  # not OpenD's protocol: drop the connection
                body = await reader.readexactly(length)
                self.seen.append(proto_id)
                reply = self._answer(conn, proto_id, fmt, body, sha1)
                writer.write(frame(proto_id, serial, reply.SerializeToString()))
                await writer.drain()
                if proto_id == 3001 and reply.retType == 0:
                    self._first_quote_push(conn)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._conns.pop(conn.conn_id, None)
            writer.close()

    def _answer(self, conn: Connection, proto_id: int, fmt: int, body: bytes, sha1: bytes) -> Any:
        handler = self._handlers.get(proto_id)
        if handler is None or (proto_id == 3202 and not self.static_info):
            return self._error(proto_id, UNSUPPORTED)
        if fmt != 0:
            return self._error(proto_id, "only protobuf bodies are served")
        if hashlib.sha1(body).digest() != sha1:
            return self._error(proto_id, "body SHA1 mismatch")
        req = _pb(PROTOS[proto_id]).Request()
        try:
            req.ParseFromString(body)
        except Exception:  # a body that is not this proto's request
            return self._error(proto_id, "undecodable request")
        return handler(conn, req)

    @staticmethod
    def _error(proto_id: int, text: str) -> Any:
        rsp = _pb(PROTOS.get(proto_id, "KeepAlive")).Response()  # retType/retMsg are fields 1-2 of every Response
        rsp.retType, rsp.retMsg = -1, text
        return rsp

    @staticmethod
    def _ok(proto_id: int) -> Any:
        rsp = _pb(PROTOS[proto_id]).Response()
        rsp.retType = 0
        return rsp

    def _push(self, proto_id: int, rsp: Any, to: list[Connection]) -> None:
        data = frame(proto_id, 0, rsp.SerializeToString())
        for conn in to:
            if not conn.writer.is_closing():
                conn.writer.write(data)

    # 1001 / 1002 / 1004 ---------------------------------------------------------------------

    def _init_connect(self, conn: Connection, req: Any) -> Any:
        if req.c2s.packetEncAlgo != PLAINTEXT:
            return self._error(1001, "encrypted connections are not served")
        rsp = self._ok(1001)
        s2c = rsp.s2c
        s2c.serverVer, s2c.loginUserID, s2c.connID = 900, 31337, conn.conn_id
        s2c.connAESKey, s2c.keepAliveInterval = "0" * 16, 10
        return rsp

    def _global_state(self, conn: Connection, req: Any) -> Any:
        rsp = self._ok(1002)
        s2c = rsp.s2c
        s2c.marketHK = s2c.marketUS = s2c.marketSH = s2c.marketSZ = s2c.marketHKFuture = 3
        s2c.qotLogined = s2c.trdLogined = True
        s2c.serverVer, s2c.serverBuildNo, s2c.time = 900, 1, int(time.time())
        return rsp

    def _keep_alive(self, conn: Connection, req: Any) -> Any:
        rsp = self._ok(1004)
        rsp.s2c.time = int(time.time())
        return rsp

    # quotes ---------------------------------------------------------------------------------

    def _known(self, security: Any) -> Instrument | None:
        return self.instruments.get(security.code) if security.market == QOT_MARKET_HK else None

    def _subscribe(self, conn: Connection, req: Any) -> Any:
        codes = []
        for sec in req.c2s.securityList:
            if self._known(sec) is None:
                return self._error(3001, f"Unknown stock {sec.code}")
            codes.append(sec.code)
        if SUB_TYPE_QUOTE in req.c2s.subTypeList and req.c2s.isRegOrUnRegPush:
            (conn.quotes.update if req.c2s.isSubOrUnSub else conn.quotes.difference_update)(codes)
        return self._ok(3001)

    def _fill_quote(self, dst: Any, inst: Instrument) -> None:
        dst.security.market, dst.security.code = QOT_MARKET_HK, inst.code
        dst.isSuspended, dst.listTime, dst.priceSpread, dst.updateTime = False, "2004-06-16", 0.2, _now_text()
        dst.highPrice = dst.openPrice = dst.lowPrice = dst.curPrice = dst.lastClosePrice = inst.price
        dst.volume, dst.turnover, dst.turnoverRate, dst.amplitude = 0, 0.0, 0.0, 0.0

    def _first_quote_push(self, conn: Connection) -> None:
        rsp = self._ok(3005)
        for code in sorted(conn.quotes):
            self._fill_quote(rsp.s2c.basicQotList.add(), self.instruments[code])
        if conn.quotes:
            self._push(3005, rsp, [conn])

    def _basic_qot(self, conn: Connection, req: Any) -> Any:
        rsp = self._ok(3004)
        for sec in req.c2s.securityList:
            inst = self._known(sec)
            if inst is None:
                return self._error(3004, f"Unknown stock {sec.code}")
            self._fill_quote(rsp.s2c.basicQotList.add(), inst)
        return rsp

    def _static(self, conn: Connection, req: Any) -> Any:
        rsp = self._ok(3202)
        for sec in req.c2s.securityList:
            inst = self._known(sec)
            if inst is None:
                return self._error(3202, f"Unknown stock HK.{sec.code}")
            basic = rsp.s2c.staticInfoList.add().basic
            basic.security.market, basic.security.code = QOT_MARKET_HK, inst.code
            basic.id, basic.lotSize, basic.secType = 700, inst.lot_size, SECURITY_TYPE_EQUITY
            basic.name, basic.listTime = inst.name, "2004-06-16"
        return rsp

    # trading --------------------------------------------------------------------------------

    def _acc_list(self, conn: Connection, req: Any) -> Any:
        rsp = self._ok(2001)
        if req.c2s.trdCategory in (0, 1):  # securities accounts only
            for acc_id, env in self.accounts.items():
                acc = rsp.s2c.accList.add()
                acc.trdEnv, acc.accID = env, acc_id
                acc.trdMarketAuthList.append(TRD_MARKET_HK)
        return rsp

    def _unlock(self, conn: Connection, req: Any) -> Any:
        self.unlocked_with.append(req.c2s.pwdMD5)
        return self._ok(2005)

    def _sub_acc_push(self, conn: Connection, req: Any) -> Any:
        conn.accounts = set(req.c2s.accIDList)
        return self._ok(2008)

    def _header(self, dst: Any, src: Any) -> None:
        dst.trdEnv, dst.accID, dst.trdMarket = src.trdEnv, src.accID, TRD_MARKET_HK

    def _account_error(self, proto_id: int, header: Any) -> Any | None:
        if self.accounts.get(header.accID) != header.trdEnv:
            return self._error(proto_id, f"Nonexisting acc_id {header.accID}")
        return None

    def _account_reply(self, proto_id: int, header: Any) -> tuple[Any, bool]:
        """``(reply, ok)``: OpenD's refusal of an unknown account, or a success with the header echoed."""
        refused = self._account_error(proto_id, header)
        if refused is not None:
            return refused, False
        rsp = self._ok(proto_id)
        self._header(rsp.s2c.header, header)
        return rsp, True

    def _place_order(self, conn: Connection, req: Any) -> Any:
        c2s = req.c2s
        refused = self._account_error(2202, c2s.header)
        if refused is not None:
            return refused
        inst = self.instruments.get(c2s.code) if c2s.secMarket == SEC_MARKET_HK else None
        if inst is None:
            return self._error(2202, f"Unknown stock {c2s.code}")
        if c2s.qty > self.max_qty:
            return self._error(2202, f"The order quantity exceeds the maximum of {self.max_qty} shares\n"
                                     "for this account")
        if c2s.qty <= 0 or c2s.qty % inst.lot_size:
            return self._error(2202, f"The quantity must be a multiple of the lot size {inst.lot_size}")
        now = _now_text()
        order = CoreOrder(next(self._order_ids), c2s.header.accID, c2s.header.trdEnv, c2s.code, c2s.trdSide,
                          c2s.orderType, c2s.qty, c2s.price, c2s.remark, created=now, updated=now)
        self.orders[order.order_id] = order
        rsp = self._ok(2202)
        self._header(rsp.s2c.header, c2s.header)
        rsp.s2c.orderID, rsp.s2c.orderIDEx = order.order_id, str(order.order_id)
        asyncio.get_running_loop().call_soon(self._push_order, order)  # after the reply, as OpenD does
        return rsp

    def _fill_order(self, dst: Any, order: CoreOrder) -> None:
        inst = self.instruments[order.code]
        dst.trdSide, dst.orderType, dst.orderStatus = order.side, order.order_type, order.status
        dst.orderID, dst.orderIDEx, dst.code, dst.name = order.order_id, str(order.order_id), order.code, inst.name
        dst.qty, dst.price, dst.createTime, dst.updateTime = order.qty, order.price, order.created, order.updated
        dst.fillQty = order.filled
        dst.fillAvgPrice = order.fill_value / order.filled if order.filled else 0.0
        dst.secMarket, dst.trdMarket, dst.remark, dst.timeInForce = SEC_MARKET_HK, TRD_MARKET_HK, order.remark, 0

    def _trade_header(self, dst: Any, order: CoreOrder) -> None:
        dst.trdEnv, dst.accID, dst.trdMarket = order.env, order.acc_id, TRD_MARKET_HK

    def _listeners(self, acc_id: int) -> list[Connection]:
        return [c for c in self._conns.values() if acc_id in c.accounts]

    def _push_order(self, order: CoreOrder) -> None:
        rsp = self._ok(2208)
        self._trade_header(rsp.s2c.header, order)
        self._fill_order(rsp.s2c.order, order)
        self._push(2208, rsp, self._listeners(order.acc_id))

    def _fill_row(self, dst: Any, fill: CoreFill) -> None:
        order = fill.order
        dst.trdSide, dst.fillID, dst.fillIDEx = order.side, fill.fill_id, str(fill.fill_id)
        dst.orderID, dst.orderIDEx = order.order_id, str(order.order_id)
        dst.code, dst.name, dst.qty, dst.price = order.code, self.instruments[order.code].name, fill.qty, fill.price
        dst.createTime, dst.secMarket, dst.trdMarket, dst.status = fill.created, SEC_MARKET_HK, TRD_MARKET_HK, 0

    def fill(self, order_id: int, qty: float, price: float) -> None:
        """Tests: the exchange fills ``qty`` of an order (call on the server loop, through ``call``)."""
        order = self.orders[order_id]
        order.filled += qty
        order.fill_value += qty * price
        order.status = ORDER_FILLED_ALL if order.filled >= order.qty else ORDER_FILLED_PART
        order.updated = _now_text()
        deal = CoreFill(next(self._fill_ids), order, qty, price, order.updated)
        self.fills.append(deal)
        self._push_order(order)
        rsp = self._ok(2218)
        self._trade_header(rsp.s2c.header, order)
        self._fill_row(rsp.s2c.orderFill, deal)
        self._push(2218, rsp, self._listeners(order.acc_id))

    def _order_list(self, conn: Connection, req: Any) -> Any:
        header = req.c2s.header
        rsp, ok = self._account_reply(2201, header)
        if not ok:
            return rsp
        wanted = set(req.c2s.filterConditions.orderIDExList)
        for order in self.orders.values():
            if order.acc_id == header.accID and (not wanted or str(order.order_id) in wanted):
                self._fill_order(rsp.s2c.orderList.add(), order)
        return rsp

    def _deals_of(self, acc_id: int) -> list[CoreFill]:
        return [deal for deal in self.fills if deal.order.acc_id == acc_id]

    def _fill_list(self, conn: Connection, req: Any) -> Any:
        header = req.c2s.header
        rsp, ok = self._account_reply(2211, header)
        if not ok:
            return rsp
        for deal in self._deals_of(header.accID):
            self._fill_row(rsp.s2c.orderFillList.add(), deal)
        return rsp

    def _funds(self, conn: Connection, req: Any) -> Any:
        rsp, ok = self._account_reply(2101, req.c2s.header)
        if not ok:
            return rsp
        funds = rsp.s2c.funds
        funds.power = funds.totalAssets = funds.cash = funds.avlWithdrawalCash = 1_000_000.0
        funds.marketVal = funds.frozenCash = funds.debtCash = 0.0
        return rsp

    def _positions(self, conn: Connection, req: Any) -> Any:
        header = req.c2s.header
        rsp, ok = self._account_reply(2102, header)
        if not ok:
            return rsp
        held: dict[str, float] = {}
        for deal in self._deals_of(header.accID):
            held[deal.order.code] = held.get(deal.order.code, 0.0) + (deal.qty if deal.order.side == 1 else -deal.qty)
        for number, (code, qty) in enumerate(sorted(held.items()), start=1):
            pos, inst = rsp.s2c.positionList.add(), self.instruments[code]
            pos.positionID, pos.positionSide, pos.code, pos.name = number, 0 if qty >= 0 else 1, code, inst.name
            pos.qty, pos.canSellQty, pos.price = abs(qty), abs(qty), inst.price
            pos.val, pos.plVal, pos.secMarket = abs(qty) * inst.price, 0.0, SEC_MARKET_HK
        return rsp


class CoreOpenDThread:
    """A :class:`CoreOpenD` listening on 127.0.0.1 on a private event loop thread."""

    def __init__(self, **options: Any) -> None:
        self.opend = CoreOpenD(**options)
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="core-opend", daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> int:
        self._thread.start()

        async def listen() -> asyncio.Server:
            return await asyncio.start_server(self.opend.serve, "127.0.0.1", 0)

        self._server = asyncio.run_coroutine_threadsafe(listen(), self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def call(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for conn in list(self.opend._conns.values()):
                conn.writer.close()

        with contextlib.suppress(concurrent.futures.TimeoutError):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
