"""Fixtures for the OpenD API port tests: the server on its own event-loop thread, futu-api clients.

futu-api is synchronous and blocks its caller, so the server cannot share the test's thread: it runs
on a private asyncio loop in a daemon thread, and the test talks to it through the real client.
Market state is only touched on that loop (``ServerThread.call``), as the server itself does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import queue
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from opend_sim.api import OpenDApiServer
from tradebus.futu.loader import import_futu
from tradebus.sim import SimMarket, a_share_instruments, default_instruments

T = TypeVar("T")
TRADE_PASSWORD = "123456"
TRADE_PWD_MD5 = hashlib.md5(TRADE_PASSWORD.encode()).hexdigest()
LOGIN_ACCOUNT = "12345678"
CALL_TIMEOUT = 15.0


futu = import_futu(tempfile.mkdtemp(prefix="futu-home-"))  # its log folder in a temp HOME


class LoginFlag:
    def __init__(self, logged_in: bool = True) -> None:
        self._event = threading.Event()
        if logged_in:
            self._event.set()

    def __call__(self) -> bool:
        return self._event.is_set()

    def set(self, value: bool) -> None:
        (self._event.set if value else self._event.clear)()


class ServerThread:
    """An OpenDApiServer on its own loop thread; start/stop/restart on a fixed port."""

    def __init__(self, make_market: Callable[[], SimMarket], *, state_path: Path | None = None,
                 tick_interval: float = 0.05, **server_kw: Any) -> None:
        self.login = LoginFlag()
        self._make_market = make_market
        self._state_path = state_path
        self._tick = tick_interval
        self._server_kw = server_kw
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="opend-sim-api", daemon=True)
        self._thread.start()
        self.server: OpenDApiServer | None = None
        self.port = 0

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop and return its result."""
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(fn())
            except BaseException as exc:  # hand every failure back to the test thread
                fut.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return fut.result(CALL_TIMEOUT)

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(CALL_TIMEOUT)

    def start(self, port: int = 0) -> int:
        async def go() -> tuple[OpenDApiServer, int]:
            server = OpenDApiServer(self._make_market(), login_account=LOGIN_ACCOUNT,
                                    trade_pwd_md5=TRADE_PWD_MD5, is_logged_in=self.login,
                                    tick_interval=self._tick, state_path=self._state_path, **self._server_kw)
            return server, await server.start("127.0.0.1", port)

        self.server, self.port = self._run(go())
        return self.port

    def stop(self) -> None:
        if self.server is not None:
            self._run(self.server.close())
            self.server = None

    def shutdown(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CALL_TIMEOUT)
        self._loop.close()

    def step(self, times: int = 1) -> None:
        """Advance the market ``times`` steps, pushes included, on the server's loop."""
        assert self.server is not None
        server = self.server
        for _ in range(times):
            self.call(server.step)

    @property
    def market(self) -> SimMarket:
        assert self.server is not None
        return self.server.market


def new_market() -> SimMarket:
    return SimMarket(default_instruments() + a_share_instruments(), seed=11)


@pytest.fixture
def api_opend() -> Iterator[ServerThread]:
    srv = ServerThread(new_market, unsub_min_seconds=0.0)
    srv.start()
    try:
        yield srv
    finally:
        srv.shutdown()


@pytest.fixture
def api_opend_manual() -> Iterator[ServerThread]:
    """A server whose market moves only when the test calls ``step``: values can be compared exactly."""
    srv = ServerThread(new_market, tick_interval=0, unsub_min_seconds=0.0)
    srv.start()
    try:
        yield srv
    finally:
        srv.shutdown()


def in_background(fn: Callable[[], T]) -> concurrent.futures.Future[T]:
    """Run ``fn`` on a daemon thread: a futu constructor that never returns must not block exit."""
    fut: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        try:
            fut.set_result(fn())
        except BaseException as exc:  # hand every failure back to the waiting test
            fut.set_exception(exc)

    threading.Thread(target=run, name="futu-ctor", daemon=True).start()
    return fut


def with_timeout(fn: Callable[[], T], timeout: float = 20.0) -> T:
    """Run a futu context constructor, which can retry forever, with a deadline."""
    return in_background(fn).result(timeout)


def quote_ctx(port: int) -> Any:
    return with_timeout(lambda: futu.OpenQuoteContext(host="127.0.0.1", port=port))


def trade_ctx(port: int, market: Any = None) -> Any:
    mkt = market or futu.TrdMarket.HK
    return with_timeout(lambda: futu.OpenSecTradeContext(filter_trdmarket=mkt, host="127.0.0.1", port=port,
                                                         security_firm=futu.SecurityFirm.FUTUSECURITIES))


PUSH_WAIT = 10.0


class Collector:
    """Handler mix-in: every result the handler base produced lands in a queue."""

    got: queue.Queue[Any]

    def on_recv_rsp(self, rsp_pb: Any) -> Any:
        result = super().on_recv_rsp(rsp_pb)  # type: ignore[misc]
        self.got.put(result)
        return result

    def next_ok(self, timeout: float = PUSH_WAIT) -> Any:
        """The next push's data (most handlers return (ret, data); the broker's (ret, code, frames))."""
        result = self.got.get(timeout=timeout)
        assert result[0] == futu.RET_OK, result
        return result[1] if len(result) == 2 else result[1:]


def handler(base: type) -> Any:
    """An instance of a futu handler class that records what it receives."""
    obj = type(f"Test{base.__name__}", (Collector, base), {})()
    obj.got = queue.Queue()
    return obj
