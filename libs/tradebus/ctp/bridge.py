"""The SPI bridge: CTP's callbacks, made on the API's own thread, delivered to the asyncio loop.

CTP (and the ctp_sim double) calls the SPI on a thread of its own, and the struct pointers it passes
are only valid during the call. So each struct is copied into a plain dict right there (openctp-ctp's
getters already decode text from GB18030; ``CThostFtdcRspInfoField`` becomes ``(ErrorID, ErrorMsg)``),
and ``loop.call_soon_threadsafe`` hands ``dispatch(callback name, *copied args)`` to the loop, where
everything else runs. A hot callback (depth) may instead be handled on CTP's thread by a function of
the caller's (``on_thread``), which must copy what it needs and return quickly.

An exception must never travel back into the native library (SWIG would abort the process): every
bridged method logs and swallows it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Any

from tradebus.ctp import import_ctp_modules
from tradebus.ctp.structs import field_names

log = logging.getLogger(__name__)

RSP_INFO = "CThostFtdcRspInfoField"
Row = dict[str, Any]
Error = tuple[int, str]
Dispatch = Callable[..., None]

# The session callbacks every client needs (tradebus.ctp.session handles them).
SESSION_CALLBACKS = ("OnFrontConnected", "OnFrontDisconnected", "OnHeartBeatWarning", "OnRspError")
TRADER_LOGIN_CALLBACKS = (*SESSION_CALLBACKS, "OnRspAuthenticate", "OnRspUserLogin", "OnRspSettlementInfoConfirm")
MD_CALLBACKS = (*SESSION_CALLBACKS, "OnRspUserLogin", "OnRspSubMarketData", "OnRspUnSubMarketData")


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
    out: Row = {}
    for name in _names(cls):
        try:
            out[name] = getattr(arg, name)
        except UnicodeDecodeError:
            out[name] = ""  # a garbled text field must not lose the whole callback
    return out


def _forwarder(name: str) -> Callable[..., None]:
    def method(self: Any, *args: Any) -> None:
        try:
            copied = tuple(copy_arg(a) for a in args)
            self._loop.call_soon_threadsafe(self._dispatch, name, *copied)
        except RuntimeError:
            pass  # the loop is closed: the client has stopped
        except Exception:
            log.exception("ctp callback %s could not be delivered", name)

    method.__name__ = name
    return method


def _on_thread(name: str) -> Callable[..., None]:
    def method(self: Any, *args: Any) -> None:
        try:
            self._on_thread[name](*args)
        except Exception:
            log.exception("ctp callback %s failed on the api thread", name)

    method.__name__ = name
    return method


@cache
def _spi_class(base: type, forwarded: tuple[str, ...], direct: tuple[str, ...]) -> type:
    def __init__(self: Any, loop: asyncio.AbstractEventLoop, dispatch: Dispatch,
                 on_thread: Mapping[str, Callable[..., None]]) -> None:
        base.__init__(self)
        self._loop, self._dispatch, self._on_thread = loop, dispatch, dict(on_thread)

    methods: dict[str, Any] = {"__init__": __init__}
    methods |= {name: _forwarder(name) for name in forwarded}
    methods |= {name: _on_thread(name) for name in direct}  # any other callback keeps the library's no-op
    return type(f"Bridged{base.__name__}", (base,), methods)


def make_spi(base: type, loop: asyncio.AbstractEventLoop, dispatch: Dispatch, callbacks: Iterable[str],
             on_thread: Mapping[str, Callable[..., None]] | None = None) -> Any:
    """An instance of ``base`` (an openctp-ctp SPI class) forwarding ``callbacks`` to ``dispatch``.

    The native API does not own its SPI: keep the returned object alive as long as the API may call it.
    """
    direct = dict(on_thread or {})
    forwarded = tuple(name for name in callbacks if name not in direct)
    cls = _spi_class(base, forwarded, tuple(sorted(direct)))
    return cls(loop, dispatch, direct)


def trader_spi(loop: asyncio.AbstractEventLoop, dispatch: Dispatch, callbacks: Iterable[str]) -> Any:
    _, td = import_ctp_modules()
    return make_spi(td.CThostFtdcTraderSpi, loop, dispatch, callbacks)


def md_spi(loop: asyncio.AbstractEventLoop, dispatch: Dispatch, callbacks: Iterable[str] = MD_CALLBACKS,
           on_thread: Mapping[str, Callable[..., None]] | None = None) -> Any:
    md, _ = import_ctp_modules()
    return make_spi(md.CThostFtdcMdSpi, loop, dispatch, callbacks, on_thread)
