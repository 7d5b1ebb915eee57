"""A double of openctp-ctp's ``CThostFtdcMdApi`` / ``CThostFtdcTraderApi`` that reaches ``ctp_sim``.

The services hold one of these exactly where they would hold the native API object: same method
names, same positional arguments, same return codes, and the SPI they register receives the
**real** openctp-ctp callbacks with **real** openctp-ctp struct instances, on a thread owned by
the api (never the caller's thread or event loop), as the native library does.

Behaviour copied from the native API:

* ``Init`` starts the api thread, which connects to the registered front and calls
  ``OnFrontConnected``. When the line drops it calls ``OnFrontDisconnected(reason)`` (4097 read
  failure, 8193 heartbeat timeout, 8195 bad packet, or the code the front gave) once, then keeps
  reconnecting every ``RECONNECT_INTERVAL`` seconds and calls ``OnFrontConnected`` again when the
  front is back; the session is new, so the client must authenticate and log in again.
  ``Release`` stops everything without an ``OnFrontDisconnected``.
* Return codes: 0 sent, -1 not connected (network), -2 a query is still unanswered, -3 more than
  one query per second. -2/-3 are decided here, before anything is sent, as the native api does.
* ``GetTradingDay`` answers ``19800100`` until the front reports a trading day, like the native api.
* ``SubscribeMarketData`` takes a list of ``bytes`` (a ``str`` item raises the native
  ``TypeError: list must contain strings``) and the count.
* ``SubscribePrivateTopic(THOST_TERT_RESTART | RESUME | QUICK)`` must be called before ``Init``;
  the choice travels with every login. RESUME remembers the last private-flow sequence seen,
  in memory and in ``<flow_dir>/ctpsim_private.seq`` so a new process can resume too. The file is
  written off the callback path: once the line has been quiet for ``FLOW_SAVE_IDLE`` (at the latest
  ``FLOW_SAVE_MAX_DELAY`` after the first unsaved message), when the line drops and at ``Release``.
  A killed process may lose the last sequences; a RESUME login then replays those messages again,
  as the native api's own flow files allow.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from tradebus.ctp import import_ctp_modules
from tradebus.ctp.codes import RC_IN_FLIGHT as TOO_MANY_PENDING
from tradebus.ctp.codes import RC_NOT_CONNECTED as NETWORK_ERROR
from tradebus.ctp.codes import RC_OK as OK
from tradebus.ctp.codes import RC_TOO_FAST as TOO_MANY_PER_SECOND
from tradebus.ctp.codes import (  # OnFrontDisconnected reasons and Req… return codes: docs/ctp.md
    REASON_BAD_PACKET,
    REASON_HEARTBEAT_TIMEOUT,
    REASON_READ_FAILURE,
    REASON_WRITE_FAILURE,
    ResumeType,
)
from tradebus.ctp.structs import make_struct, struct_to_dict
from tradebus.ctp.wire import (
    HEARTBEAT_INTERVAL,
    HEARTBEAT_TIMEOUT,
    HEARTBEAT_WARNING,
    Frame,
    FrameReader,
    ProtocolError,
    encode,
)

log = logging.getLogger(__name__)

RECONNECT_INTERVAL = 1.0
CONNECT_TIMEOUT = 3.0
QUERY_INTERVAL = 1.0
# The private-flow sequence file is rewritten when the line is quiet this long (an order's answers
# come in bursts: writing it between two frames of one burst delayed the second by a file write),
# and at the latest this long after the first message it does not hold yet.
FLOW_SAVE_IDLE = 0.01
FLOW_SAVE_MAX_DELAY = 1.0
MAX_QUERIES_IN_FLIGHT = 1
NO_TRADING_DAY = "19800100"
THOST_TERT_RESTART = ResumeType.RESTART


def parse_sim_front(address: str) -> tuple[str, int]:
    """``sim://host:port`` → ``(host, port)``; ValueError for anything else."""
    parts = urlsplit(address)
    if parts.scheme != "sim" or not parts.hostname or parts.port is None:
        raise ValueError(f"not a ctp_sim front address (want sim://host:port): {address!r}")
    return parts.hostname, parts.port


class _SimApi:
    """Connection, threading and dispatch shared by the md and trader doubles."""

    _role = "api"

    def __init__(self, module: ModuleType, flow_dir: str = "") -> None:
        self._module = module
        self._flow_dir = flow_dir
        self._fronts: list[tuple[str, int]] = []
        self._spi: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # guards _sock, _queries_in_flight, _last_query
        self._sock: socket.socket | None = None
        self._last_sent = 0.0
        self._trading_day = NO_TRADING_DAY
        self._queries_in_flight: set[int] = set()
        self._last_query = -QUERY_INTERVAL

    # --- the native api's lifecycle methods ---------------------------------------------------

    @staticmethod
    def GetApiVersion() -> str:
        return "ctp_sim double (openctp-ctp 6.7.11 surface)"

    def RegisterFront(self, pszFrontAddress: str) -> None:
        self._fronts.append(parse_sim_front(pszFrontAddress))

    def RegisterNameServer(self, pszNsAddress: str) -> None:
        raise ValueError("ctp_sim has no name server; register a sim:// front")

    def RegisterSpi(self, pSpi: Any) -> None:
        self._spi = pSpi

    def Init(self) -> None:
        if self._thread is not None:
            return
        if not self._fronts:
            raise ValueError("RegisterFront(sim://host:port) must be called before Init")
        self._thread = threading.Thread(target=self._run, name=f"ctp-sim-{self._role}", daemon=True)
        self._thread.start()

    def Join(self) -> int:
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        return 0

    def Release(self) -> None:
        self._stop.set()
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            _close(sock)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=CONNECT_TIMEOUT + 2)
        self._flow_idle(force=True)

    def GetTradingDay(self) -> str:
        return self._trading_day

    # --- sending ------------------------------------------------------------------------------

    def _send(self, frame: Frame) -> int:
        data = encode(frame)
        with self._lock:
            if self._sock is None:
                return NETWORK_ERROR
            try:
                self._sock.sendall(data)
            except OSError:
                return NETWORK_ERROR
            self._last_sent = time.monotonic()
        return OK

    def _request(self, op: str, field: Any, request_id: int, **extra: Any) -> int:
        body = struct_to_dict(field) if field is not None else {}
        return self._send(Frame(kind="req", op=op, rid=int(request_id), body=body, **extra))

    def _query(self, op: str, field: Any, request_id: int) -> int:
        """Queries obey CTP's flow control: one per second, one unanswered at a time."""
        with self._lock:
            if self._sock is None:
                return NETWORK_ERROR
            if len(self._queries_in_flight) >= MAX_QUERIES_IN_FLIGHT:
                return TOO_MANY_PENDING
            now = time.monotonic()
            if now - self._last_query < QUERY_INTERVAL:
                return TOO_MANY_PER_SECOND
            self._last_query = now
            self._queries_in_flight.add(int(request_id))
        rc = self._request(op, field, request_id)
        if rc != OK:
            with self._lock:
                self._queries_in_flight.discard(int(request_id))
        return rc

    # --- the api thread -----------------------------------------------------------------------

    def _run(self) -> None:
        index = 0
        while not self._stop.is_set():
            host, port = self._fronts[index % len(self._fronts)]
            index += 1
            try:
                sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
            except OSError:
                self._stop.wait(RECONNECT_INTERVAL)
                continue
            reason = self._session(sock)
            if not self._stop.is_set():
                self._call("OnFrontDisconnected", reason)
                self._stop.wait(RECONNECT_INTERVAL)

    def _session(self, sock: socket.socket) -> int:
        """Serve one connection; returns the OnFrontDisconnected reason."""
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = FrameReader(sock)
        try:
            hello = reader.read(CONNECT_TIMEOUT)
            if hello is None or hello.kind != "hello":
                return REASON_BAD_PACKET
            if hello.trading_day:
                self._trading_day = hello.trading_day
            with self._lock:
                if self._stop.is_set():
                    return 0
                self._sock = sock
                self._queries_in_flight.clear()
                self._last_sent = time.monotonic()
            self._on_connected()
            self._call("OnFrontConnected")
            return self._read_loop(reader)
        except ProtocolError:
            return REASON_BAD_PACKET
        except OSError:
            return REASON_READ_FAILURE
        finally:
            with self._lock:
                if self._sock is sock:
                    self._sock = None
                self._queries_in_flight.clear()
            _close(sock)
            self._flow_idle(force=True)

    def _read_loop(self, reader: FrameReader) -> int:
        last_heard = time.monotonic()
        warned = False
        while not self._stop.is_set():
            frame = reader.read(self._flow_wait(HEARTBEAT_INTERVAL / 2))
            now = time.monotonic()
            if now - self._last_sent >= HEARTBEAT_INTERVAL and self._send(Frame(kind="hb")) != OK:
                return REASON_WRITE_FAILURE
            if frame is None:
                self._flow_idle()
                silent = now - last_heard
                if silent >= HEARTBEAT_TIMEOUT:
                    return REASON_HEARTBEAT_TIMEOUT
                if silent >= HEARTBEAT_WARNING and not warned:
                    warned = True
                    self._call("OnHeartBeatWarning", int(silent))
                continue
            last_heard, warned = now, False
            if frame.kind == "bye":
                return frame.reason or REASON_READ_FAILURE
            self._dispatch(frame)
            self._flow_idle(busy_since=now)
        return 0

    def _dispatch(self, frame: Frame) -> None:
        if frame.kind == "hb":
            return
        if not frame.cb.startswith("On"):
            log.warning("ctp_sim sent an unusable frame: %s/%s", frame.kind, frame.cb)
            return
        body = make_struct(self._module, frame.st, frame.body) if frame.body is not None else None
        info = make_struct(self._module, "CThostFtdcRspInfoField", frame.err) if frame.err is not None else None
        if frame.kind == "rsp":
            self._before_rsp(frame)
            if frame.cb == "OnRspError":
                self._call("OnRspError", info, frame.rid, frame.last)
            else:
                self._call(frame.cb, body, info, frame.rid, frame.last)
        elif frame.kind == "rtn":
            self._call(frame.cb, body)
        elif frame.kind == "errrtn":
            self._call(frame.cb, body, info)
        if frame.seq:
            self._private_seen(frame.seq)

    def _before_rsp(self, frame: Frame) -> None:
        if frame.last:
            with self._lock:
                self._queries_in_flight.discard(frame.rid)
        if frame.cb == "OnRspUserLogin" and frame.body and frame.body.get("TradingDay"):
            self._trading_day = str(frame.body["TradingDay"])

    def _call(self, name: str, *args: Any) -> None:
        method: Callable[..., Any] | None = getattr(self._spi, name, None) if self._spi is not None else None
        if method is None:
            return
        try:
            method(*args)
        except Exception:
            # The native library's SWIG director prints the traceback and carries on; so do we.
            log.exception("SPI %s raised", name)

    # hooks for the trader double
    def _on_connected(self) -> None:
        pass

    def _private_seen(self, seq: int) -> None:
        pass

    def _flow_wait(self, timeout: float) -> float:
        """How long the read loop may block before the flow file is due (trader double only)."""
        return timeout

    def _flow_idle(self, *, force: bool = False, busy_since: float | None = None) -> None:
        pass


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def _instrument_list(ppInstrumentID: list[bytes], nCount: int) -> list[str]:
    items = list(ppInstrumentID)[: int(nCount)]
    if not all(isinstance(item, bytes) for item in items):
        raise TypeError("list must contain strings")
    return [item.decode("ascii", "replace") for item in items]


class SimMdApi(_SimApi):
    """Double of ``CThostFtdcMdApi``."""

    _role = "md"

    def __init__(self, flow_dir: str = "") -> None:
        md, _ = import_ctp_modules()
        super().__init__(md, flow_dir)

    def ReqUserLogin(self, pReqUserLoginField: Any, nRequestID: int) -> int:
        return self._request("ReqUserLogin", pReqUserLoginField, nRequestID)

    def ReqUserLogout(self, pUserLogout: Any, nRequestID: int) -> int:
        return self._request("ReqUserLogout", pUserLogout, nRequestID)

    def SubscribeMarketData(self, ppInstrumentID: list[bytes], nCount: int) -> int:
        names = _instrument_list(ppInstrumentID, nCount)
        return self._send(Frame(kind="req", op="SubscribeMarketData", instruments=names))

    def UnSubscribeMarketData(self, ppInstrumentID: list[bytes], nCount: int) -> int:
        names = _instrument_list(ppInstrumentID, nCount)
        return self._send(Frame(kind="req", op="UnSubscribeMarketData", instruments=names))

    def SubscribeForQuoteRsp(self, ppInstrumentID: list[bytes], nCount: int) -> int:
        _instrument_list(ppInstrumentID, nCount)
        return OK  # ctp_sim quotes no options, so there is never a for-quote to report


def _req(op: str) -> Callable[[SimTraderApi, Any, int], int]:
    def method(self: SimTraderApi, pField: Any, nRequestID: int) -> int:
        return self._request(op, pField, nRequestID)

    method.__name__ = op
    return method


def _qry(op: str) -> Callable[[SimTraderApi, Any, int], int]:
    def method(self: SimTraderApi, pField: Any, nRequestID: int) -> int:
        return self._query(op, pField, nRequestID)

    method.__name__ = op
    return method


class SimTraderApi(_SimApi):
    """Double of ``CThostFtdcTraderApi``."""

    _role = "td"

    def __init__(self, flow_dir: str = "") -> None:
        _, td = import_ctp_modules()
        super().__init__(td, flow_dir)
        self._private_resume = THOST_TERT_RESTART
        self._public_resume = THOST_TERT_RESTART
        self._private_seq = 0
        self._seq_day = ""
        self._unsaved_since: float | None = None  # monotonic time of the first sequence not in the file yet
        self._load_private_seq()

    def SubscribePrivateTopic(self, nResumeType: int) -> None:
        self._private_resume = int(nResumeType)

    def SubscribePublicTopic(self, nResumeType: int) -> None:
        self._public_resume = int(nResumeType)

    def ReqUserLogin(self, pReqUserLoginField: Any, nRequestID: int) -> int:
        seq = self._private_seq if self._seq_day == self._trading_day else 0
        return self._request("ReqUserLogin", pReqUserLoginField, nRequestID, resume=self._private_resume, seq=seq)

    ReqAuthenticate = _req("ReqAuthenticate")
    ReqUserLogout = _req("ReqUserLogout")
    ReqUserPasswordUpdate = _req("ReqUserPasswordUpdate")
    ReqSettlementInfoConfirm = _req("ReqSettlementInfoConfirm")
    ReqOrderInsert = _req("ReqOrderInsert")
    ReqOrderAction = _req("ReqOrderAction")
    ReqQryInstrument = _qry("ReqQryInstrument")
    ReqQryExchange = _qry("ReqQryExchange")
    ReqQryProduct = _qry("ReqQryProduct")
    ReqQryTradingAccount = _qry("ReqQryTradingAccount")
    ReqQryInvestorPosition = _qry("ReqQryInvestorPosition")
    ReqQryOrder = _qry("ReqQryOrder")
    ReqQryTrade = _qry("ReqQryTrade")
    ReqQryDepthMarketData = _qry("ReqQryDepthMarketData")
    ReqQryInvestor = _qry("ReqQryInvestor")
    ReqQryTradingCode = _qry("ReqQryTradingCode")
    ReqQrySettlementInfo = _qry("ReqQrySettlementInfo")
    ReqQrySettlementInfoConfirm = _qry("ReqQrySettlementInfoConfirm")
    ReqQryInstrumentMarginRate = _qry("ReqQryInstrumentMarginRate")
    ReqQryInstrumentCommissionRate = _qry("ReqQryInstrumentCommissionRate")
    ReqQryMaxOrderVolume = _qry("ReqQryMaxOrderVolume")

    def _on_connected(self) -> None:
        pass

    def _private_seen(self, seq: int) -> None:
        if self._seq_day != self._trading_day:
            self._seq_day, self._private_seq = self._trading_day, 0
        if seq > self._private_seq:
            self._private_seq = seq
            if self._unsaved_since is None:
                self._unsaved_since = time.monotonic()

    def _flow_wait(self, timeout: float) -> float:
        return timeout if self._unsaved_since is None else min(timeout, FLOW_SAVE_IDLE)

    def _flow_idle(self, *, force: bool = False, busy_since: float | None = None) -> None:
        """Write the flow file when the line is quiet (or ``force``), or when a busy line kept it
        unsaved for ``FLOW_SAVE_MAX_DELAY``."""
        since = self._unsaved_since
        if since is None:
            return
        if busy_since is not None and busy_since - since < FLOW_SAVE_MAX_DELAY and not force:
            return
        self._unsaved_since = None
        self._save_private_seq()

    def _seq_path(self) -> str | None:
        if not self._flow_dir or not os.path.isdir(self._flow_dir):
            return None
        return os.path.join(self._flow_dir, "ctpsim_private.seq")

    def _load_private_seq(self) -> None:
        path = self._seq_path()
        if path is None or not os.path.exists(path):
            return
        try:
            day, seq = open(path, encoding="ascii").read().split()
            self._seq_day, self._private_seq = day, int(seq)
        except (OSError, ValueError):
            log.warning("ignoring unreadable %s", path)

    def _save_private_seq(self) -> None:
        path = self._seq_path()
        if path is None:
            return
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(f"{self._seq_day} {self._private_seq}\n")
        os.replace(tmp, path)
