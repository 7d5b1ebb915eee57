"""The market-data front: login, (un)subscribe, ``OnRtnDepthMarketData`` pushes.

Like a real CTP md front it does not check the login's BrokerID/UserID/Password (its success text
is the English ``CTP:No Error``), answers one ``OnRspSubMarketData`` per instrument with
``bIsLast`` on the last one, accepts a subscription to an instrument it does not list (and then
never sends anything for it), and pushes the latest snapshot right after a subscription.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ctp_sim import errors, fields
from ctp_sim.config import FrontConfig
from ctp_sim.state import DayState
from tradebus.ctp import time as ctp_time
from tradebus.ctp.wire import Frame
from tradebus.sim import Quote, SimInstrument, SimMarket

DEPTH_STRUCT = "CThostFtdcDepthMarketDataField"
SPECIFIC_STRUCT = "CThostFtdcSpecificInstrumentField"


@dataclass(eq=False)
class MdSession:
    session_id: int
    send: Callable[[Frame], None]
    logged_in: bool = False
    subscribed: set[str] = field(default_factory=set)


class MdHub:
    def __init__(self, config: FrontConfig, market: SimMarket, state: DayState,
                 now_ns: Callable[[], int] = time.time_ns) -> None:
        self.config = config
        self.market = market
        self.state = state
        self.now_ns = now_ns
        self.sessions: dict[int, MdSession] = {}
        self._instruments: dict[str, SimInstrument] = {i.symbol: i for i in market.instruments()}
        # PreOpenInterest: the open interest this front first saw for the day.
        self._pre_oi: dict[str, float] = {}
        self._next_session = 1
        # Trades by users between two steps move the market too: push them like any tick.
        market.add_listener(_ignore, _ignore, lambda quote: self.publish([quote]))

    def connect(self, send: Callable[[Frame], None]) -> MdSession:
        session = MdSession(session_id=self._next_session, send=send)
        self._next_session += 1
        self.sessions[session.session_id] = session
        send(Frame(kind="hello", trading_day=self.state.trading_day, front_id=self.config.front_id))
        return session

    def disconnect(self, session: MdSession) -> None:
        self.sessions.pop(session.session_id, None)

    def handle(self, s: MdSession, frame: Frame) -> None:
        if frame.kind != "req":
            return
        if frame.op == "ReqUserLogin":
            self._login(s, frame)
        elif frame.op == "ReqUserLogout":
            s.logged_in = False
            body = {k: (frame.body or {}).get(k, "") for k in ("BrokerID", "UserID")}
            s.send(Frame(kind="rsp", cb="OnRspUserLogout", st="CThostFtdcUserLogoutField", rid=frame.rid,
                         body=body, err=errors.rsp_info(errors.MD_SUCCESS)))
        elif frame.op == "SubscribeMarketData":
            self._subscribe(s, frame.instruments or [], "OnRspSubMarketData")
        elif frame.op == "UnSubscribeMarketData":
            self._subscribe(s, frame.instruments or [], "OnRspUnSubMarketData")
        else:
            s.send(Frame(kind="rsp", cb="OnRspError", rid=frame.rid, err=errors.rsp_info(errors.NO_SUCH_FUNCTION)))

    def _login(self, s: MdSession, frame: Frame) -> None:
        req = frame.body or {}
        now = self.now_ns()
        hhmmss = ctp_time.clock_time(now)
        s.logged_in = True
        body = {
            "TradingDay": self.state.trading_day,
            "LoginTime": hhmmss,
            "BrokerID": req.get("BrokerID", ""),
            "UserID": req.get("UserID", ""),
            "SystemName": "ctp_sim",
            "FrontID": self.config.front_id,
            "SessionID": s.session_id,
            "MaxOrderRef": "",
            "SHFETime": hhmmss,
            "DCETime": hhmmss,
            "CZCETime": hhmmss,
            "FFEXTime": hhmmss,
            "INETime": hhmmss,
        }
        s.send(Frame(kind="rsp", cb="OnRspUserLogin", st="CThostFtdcRspUserLoginField", rid=frame.rid,
                     body=body, err=errors.rsp_info(errors.MD_SUCCESS)))

    def _subscribe(self, s: MdSession, names: list[str], cb: str) -> None:
        error = errors.MD_SUCCESS if s.logged_in else errors.NOT_LOGGED_IN
        for i, name in enumerate(names):
            s.send(Frame(kind="rsp", cb=cb, st=SPECIFIC_STRUCT, rid=0, last=i == len(names) - 1,
                         body={"InstrumentID": name, "reserve1": name}, err=errors.rsp_info(error)))
        if not s.logged_in:
            return
        if cb == "OnRspUnSubMarketData":
            s.subscribed.difference_update(names)
            return
        s.subscribed.update(names)
        for name in names:
            inst = self._instruments.get(name)
            if inst is not None:
                s.send(self._depth_frame(inst, self.market.quote(inst.market, inst.symbol)))

    def _depth_frame(self, inst: SimInstrument, quote: Quote) -> Frame:
        pre_oi = self._pre_oi.setdefault(inst.symbol, float(quote.open_interest))
        body: dict[str, Any] = fields.depth(inst, quote, self.state.trading_day, pre_oi)
        return Frame(kind="rtn", cb="OnRtnDepthMarketData", st=DEPTH_STRUCT, body=body)

    def publish(self, quotes: list[Quote]) -> None:
        for quote in quotes:
            inst = self._instruments.get(quote.symbol)
            if inst is None:
                continue
            frame: Frame | None = None
            for s in self.sessions.values():
                if s.logged_in and inst.symbol in s.subscribed:
                    frame = frame or self._depth_frame(inst, quote)
                    s.send(frame)


def _ignore(_: object) -> None:
    """Order and trade events belong to the trading front."""
