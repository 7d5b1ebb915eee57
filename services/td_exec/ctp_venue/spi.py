"""The trader SPI: copies every CTP callback's structs on CTP's thread and hands them to the loop.

CTP (and the ctp_sim double) calls the SPI on its own thread, and the struct pointers it passes are
only valid during the call: each struct is copied into a plain dict right there (text fields come out
of openctp-ctp's getters already decoded from GB18030), then ``loop.call_soon_threadsafe`` delivers
``(callback name, copied args)`` to the adapter, which runs everything on the event loop thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import cache
from typing import Any

from tradebus.ctp import import_ctp_modules
from tradebus.ctp.structs import field_names

log = logging.getLogger(__name__)

_, td = import_ctp_modules()

# The callbacks the adapter handles; any other SPI method keeps the library's no-op.
CALLBACKS = (
    "OnFrontConnected",
    "OnFrontDisconnected",
    "OnHeartBeatWarning",
    "OnRspAuthenticate",
    "OnRspUserLogin",
    "OnRspSettlementInfoConfirm",
    "OnRspOrderInsert",
    "OnErrRtnOrderInsert",
    "OnRspOrderAction",
    "OnErrRtnOrderAction",
    "OnRtnOrder",
    "OnRtnTrade",
    "OnRspError",
    "OnRspQryInstrument",
    "OnRspQryDepthMarketData",
    "OnRspQryOrder",
    "OnRspQryTrade",
    "OnRspQryInvestorPosition",
    "OnRspQryTradingAccount",
)
RSP_INFO = "CThostFtdcRspInfoField"

Dispatch = Callable[..., None]
Error = tuple[int, str]


@cache
def _names(cls: type) -> tuple[str, ...]:
    return tuple(field_names(cls))


def copy_arg(arg: Any) -> Any:
    """A struct → dict of its fields (RspInfo → ``(ErrorID, ErrorMsg)``); anything else as given."""
    if arg is None or not hasattr(arg, "this"):
        return arg
    cls = type(arg)
    if cls.__name__ == RSP_INFO:
        return int(arg.ErrorID), str(arg.ErrorMsg)
    out: dict[str, Any] = {}
    for name in _names(cls):
        try:
            out[name] = getattr(arg, name)
        except UnicodeDecodeError:
            out[name] = ""  # a garbled text field must not lose the whole callback
    return out


class TraderSpi(td.CThostFtdcTraderSpi):  # type: ignore[misc,name-defined]
    def __init__(self, loop: asyncio.AbstractEventLoop, dispatch: Dispatch) -> None:
        super().__init__()
        self._loop = loop
        self._dispatch = dispatch

    def _post(self, name: str, *args: Any) -> None:
        try:
            copied = tuple(copy_arg(a) for a in args)
            self._loop.call_soon_threadsafe(self._dispatch, name, *copied)
        except RuntimeError:
            pass  # the loop is closed: the adapter has stopped
        except Exception:
            log.exception("ctp callback %s could not be delivered", name)


def _forwarder(name: str) -> Callable[..., None]:
    def method(self: TraderSpi, *args: Any) -> None:
        self._post(name, *args)

    method.__name__ = name
    return method


for _name in CALLBACKS:
    setattr(TraderSpi, _name, _forwarder(_name))
