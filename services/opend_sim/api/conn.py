"""Connection protos: 1001 InitConnect, 1002 GetGlobalState, 1004 KeepAlive."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Any

from opend_sim.api import pb, timefmt
from opend_sim.api.mapping import MARKET_STATE
from opend_sim.api.session import Session
from tradebus.sim.calendar import calendar_of, phase

SERVER_VER = 1011  # OpenD 10.11, the version this futu-api release ships with
SERVER_BUILD_NO = 7108
KEEP_ALIVE_INTERVAL = 10  # seconds, what real OpenD announces
PACKET_ENC_NONE = -1
USER_ATTRIBUTION_NN = 1
PROGRAM_STATUS_READY = 10
PROGRAM_STATUS_LOGGING = 2

# Qot_Common.QotMarketState. The simulated stock markets trade around the clock, so they report a
# continuous-trading state; markets that are not simulated report CLOSED.
STATE_CLOSED = 6

ENCRYPTION_REFUSED = ("opend_sim serves the plaintext protocol only: encrypted connections (RSA/AES) are "
                      "not enabled. Leave is_encrypt off and do not call SysConfig.set_init_rsa_file().")


def login_user_id(login_account: str) -> int:
    if login_account.isdigit():
        return int(login_account)
    return int.from_bytes(hashlib.sha256(login_account.encode()).digest()[:4], "big")


class ConnectionProtos:
    def __init__(self, login_account: str, is_logged_in: Callable[[], bool],
                 now_ns: Callable[[], int] = time.time_ns) -> None:
        self._now_ns = now_ns  # the market's clock: the market states follow the calendars at it
        self._user_id = login_user_id(login_account)
        self._is_logged_in = is_logged_in

    def handlers(self) -> dict[int, Callable[[Session, Any], Any]]:
        return {1001: self.init_connect, 1002: self.global_state, 1004: self.keep_alive}

    def init_connect(self, session: Session, req: Any) -> Any:
        c2s = req.c2s
        if c2s.HasField("packetEncAlgo") and c2s.packetEncAlgo != PACKET_ENC_NONE:
            return pb.error_response(1001, ENCRYPTION_REFUSED)
        rsp = pb.response(1001)
        rsp.retType = 0
        s2c = rsp.s2c
        s2c.serverVer = SERVER_VER
        s2c.loginUserID = self._user_id
        s2c.connID = session.conn_id
        s2c.connAESKey = secrets.token_hex(8).upper()  # 16 chars; unused in plaintext but required
        s2c.keepAliveInterval = KEEP_ALIVE_INTERVAL
        s2c.userAttribution = USER_ATTRIBUTION_NN
        session.ready = True
        return rsp

    def keep_alive(self, session: Session, req: Any) -> Any:
        rsp = pb.response(1004)
        rsp.retType = 0
        rsp.s2c.time = int(time.time())
        return rsp

    def global_state(self, session: Session, req: Any) -> Any:
        logged_in = self._is_logged_in()
        now = time.time()
        market_ns = self._now_ns()
        rsp = pb.response(1002)
        rsp.retType = 0
        s2c = rsp.s2c
        s2c.marketHK = _state("HK", market_ns)
        s2c.marketUS = _state("US", market_ns)
        s2c.marketSH = _state("SH", market_ns)
        s2c.marketSZ = _state("SZ", market_ns)
        s2c.marketHKFuture = STATE_CLOSED  # HK futures are not simulated
        s2c.qotLogined = logged_in
        s2c.trdLogined = logged_in
        s2c.serverVer = SERVER_VER
        s2c.serverBuildNo = SERVER_BUILD_NO
        s2c.time = int(now)
        s2c.localTime = now
        s2c.programStatus.type = PROGRAM_STATUS_READY if logged_in else PROGRAM_STATUS_LOGGING
        s2c.connID = session.conn_id
        return rsp


def _state(market: str, ts_ns: int) -> int:
    return MARKET_STATE[phase(calendar_of(market), timefmt.local(market, ts_ns))]
