"""A real ctp_sim front process and SPI subclasses that record what the double calls."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradebus.ctp import import_ctp_modules
from tradebus.ctp.structs import struct_to_dict

# Without the locale this raises CtpLocaleMissing with the command that adds it: a loud collection
# error, never a silent skip of every CTP test.
md_mod, td_mod = import_ctp_modules()

BROKER, USER, PASSWORD = "9999", "000001", "123456"
APP_ID, AUTH_CODE = "simnow_client_test", "0000000000000000"
WAIT = 10.0


@dataclass
class Event:
    name: str
    args: tuple[Any, ...]  # struct arguments copied to dicts, others as given
    types: tuple[type, ...]
    thread: str


@dataclass
class Recorder:
    events: queue.Queue[Event] = field(default_factory=queue.Queue)
    seen: list[Event] = field(default_factory=list)

    def record(self, name: str, *args: Any) -> None:
        copied = tuple(struct_to_dict(a) if hasattr(a, "this") else a for a in args)
        self.events.put(Event(name, copied, tuple(type(a) for a in args), threading.current_thread().name))

    def wait(self, name: str, pred: Callable[[Event], bool] = lambda e: True, timeout: float = WAIT) -> Event:
        """The next event called ``name`` that satisfies ``pred``; everything read is kept in ``seen``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {name} within {timeout}s; saw {[e.name for e in self.seen[-20:]]}")
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(event)
            if event.name == name and pred(event):
                return event

    def drain(self) -> list[Event]:
        while True:
            try:
                self.seen.append(self.events.get_nowait())
            except queue.Empty:
                return self.seen


def _recording_methods(base: type) -> dict[str, Any]:
    names = [n for n in vars(base) if n.startswith("On")]

    def make(name: str) -> Callable[..., None]:
        def method(self: Any, *args: Any) -> None:
            self.rec.record(name, *args)

        return method

    return {n: make(n) for n in names}


class TraderSpi(td_mod.CThostFtdcTraderSpi):  # type: ignore[misc,name-defined]
    def __init__(self) -> None:
        super().__init__()
        self.rec = Recorder()


class MdSpi(md_mod.CThostFtdcMdSpi):  # type: ignore[misc,name-defined]
    def __init__(self) -> None:
        super().__init__()
        self.rec = Recorder()


for _cls, _base in ((TraderSpi, td_mod.CThostFtdcTraderSpi), (MdSpi, md_mod.CThostFtdcMdSpi)):
    for _name, _method in _recording_methods(_base).items():
        setattr(_cls, _name, _method)


def auth_field(user: str = USER, app_id: str = APP_ID, auth_code: str = AUTH_CODE) -> Any:
    f = td_mod.CThostFtdcReqAuthenticateField()
    f.BrokerID, f.UserID, f.AppID, f.AuthCode = BROKER, user, app_id, auth_code
    return f


def login_field(user: str = USER, password: str = PASSWORD) -> Any:
    f = td_mod.CThostFtdcReqUserLoginField()
    f.BrokerID, f.UserID, f.Password = BROKER, user, password
    return f


def confirm_field(user: str = USER) -> Any:
    f = td_mod.CThostFtdcSettlementInfoConfirmField()
    f.BrokerID, f.InvestorID = BROKER, user
    return f


def order_field(instrument: str, exchange: str, direction: str, price: float, volume: int,
                order_ref: str, offset: str = "0", user: str = USER, request_id: int = 0) -> Any:
    f = td_mod.CThostFtdcInputOrderField()
    f.BrokerID, f.InvestorID, f.UserID = BROKER, user, user
    f.InstrumentID, f.ExchangeID = instrument, exchange
    f.OrderRef = order_ref
    f.Direction = direction
    f.CombOffsetFlag = offset
    f.CombHedgeFlag = "1"
    f.OrderPriceType = "2"
    f.LimitPrice = price
    f.VolumeTotalOriginal = volume
    f.TimeCondition = "3"
    f.VolumeCondition = "1"
    f.ContingentCondition = "1"
    f.ForceCloseReason = "0"
    f.RequestID = request_id  # the struct's own RequestID, echoed in RtnOrder (not nRequestID)
    return f


@dataclass
class Trader:
    api: Any
    spi: TraderSpi
    login: dict[str, Any]
    next_ref: int = 0

    def ref(self) -> str:
        self.next_ref += 1
        return str(self.next_ref)


def start_trader(front_addr: str, flow_dir: Path, resume: int = td_mod.THOST_TERT_QUICK) -> tuple[Any, TraderSpi]:
    from tradebus.ctp.api import create_trader_api

    api = create_trader_api(front_addr, str(flow_dir))
    spi = TraderSpi()
    api.RegisterSpi(spi)
    api.SubscribePrivateTopic(resume)
    api.SubscribePublicTopic(td_mod.THOST_TERT_QUICK)
    api.RegisterFront(front_addr)
    api.Init()
    return api, spi


def start_md(front_addr: str, flow_dir: Path) -> tuple[Any, MdSpi, Event]:
    """An md api on the front, logged in (BrokerID only, as md fronts take it); and its login answer.

    The caller releases the api."""
    from tradebus.ctp.api import create_md_api

    api = create_md_api(front_addr, str(flow_dir))
    spi = MdSpi()
    api.RegisterSpi(spi)
    api.RegisterFront(front_addr)
    api.Init()
    try:
        spi.rec.wait("OnFrontConnected")
        login = md_mod.CThostFtdcReqUserLoginField()
        login.BrokerID = BROKER
        assert api.ReqUserLogin(login, 0) == 0
        return api, spi, spi.rec.wait("OnRspUserLogin")
    except BaseException:
        api.Release()
        raise


def log_in(api: Any, spi: TraderSpi, rid: int = 1) -> dict[str, Any]:
    assert api.ReqAuthenticate(auth_field(), rid) == 0
    auth = spi.rec.wait("OnRspAuthenticate")
    assert auth.args[1]["ErrorID"] == 0, auth.args[1]
    assert api.ReqUserLogin(login_field(), rid + 1) == 0
    login = spi.rec.wait("OnRspUserLogin")
    assert login.args[1]["ErrorID"] == 0, login.args[1]
    return login.args[0]


def send_query(call: Callable[[], int], timeout: float = 5.0) -> None:
    """Issue a query, polling while CTP's flow control refuses it (-3/-2), up to a deadline."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while (rc := call()) in (-2, -3):
        assert time.monotonic() < deadline, f"query still refused with {rc}"
        pause.wait(0.05)
    assert rc == 0, rc
