"""Futu quotes through futu-api's ``OpenQuoteContext`` and push handler subclasses.

Connection (ours, not futu's): futu-api's context reconnects forever at a fixed 6 s and its
constructor blocks until OpenD answers. We take that over so the feed has one owner and one policy:

* the context is built on a worker thread (never the event loop); our subclass makes a failed
  connect return at once instead of retrying inside the constructor, and turns futu's own
  auto-reconnect off after a disconnect;
* a failed connect or a lost connection → feed DOWN with the reason, the context is closed, and a new
  one is built after an exponential backoff with jitter;
* with ``futu.auth_instance`` set, a context exists only while auth_broker reports the OpenD login
  CONNECTED (``tradebus.opend_gate``); leaving CONNECTED closes it and reports DOWN;
* after every (re)connect the service subscribes every active instrument again.

Push handlers run on futu's callback thread: each hands the protobuf item to the inbox keyed by
(exchange, symbol, kind) — no parsing there. ``normalise`` merges them on the loop (futu_map.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from md_ingest.contract import FeedSink, Instrument, VenueAdapter
from md_ingest.futu_map import MergedQuote
from tradebus.backoff import Backoff
from tradebus.bus import Bus
from tradebus.config import Config
from tradebus.futu.loader import import_futu
from tradebus.futu.markets import QOT_MARKET_TO_EXCHANGE, QUOTE_MARKETS, join_code
from tradebus.logs import get_logger
from tradebus.opend_gate import opend_states
from tradebus.schemas.auth import AuthState
from tradebus.schemas.market import Bar, FeedState, Tick

log = get_logger("md_ingest.futu")
VENUE = "futu"
QUOTE, BOOK, TICKER, KLINE = "quote", "book", "ticker", "kline"
CONTEXT_CLOSE_TIMEOUT_S = 5.0
HISTORY_TIMEOUT_S = 15.0  # up to futu_history.MAX_PAGES round trips to OpenD


def _security(item: Any) -> tuple[str, str] | None:
    exchange = QOT_MARKET_TO_EXCHANGE.get(item.market)
    return (exchange, item.code) if exchange else None


def build_handlers(futu: ModuleType, adapter: FutuAdapter) -> list[Any]:
    """One handler subclass per push kind; each only hands protobuf items to the inbox."""
    put = adapter.inbox_put

    class QuoteHandler(futu.StockQuoteHandlerBase):  # type: ignore[misc,name-defined]
        def on_recv_rsp(self, rsp_pb: Any) -> tuple[int, Any]:
            if rsp_pb.retType == 0:
                for q in rsp_pb.s2c.basicQotList:
                    sec = _security(q.security)
                    if sec:
                        put((*sec, QUOTE), q)
            return 0, None

    class BookHandler(futu.OrderBookHandlerBase):  # type: ignore[misc,name-defined]
        def on_recv_rsp(self, rsp_pb: Any) -> tuple[int, Any]:
            if rsp_pb.retType == 0:
                sec = _security(rsp_pb.s2c.security)
                if sec:
                    put((*sec, BOOK), rsp_pb.s2c)
            return 0, None

    class TickerHandler(futu.TickerHandlerBase):  # type: ignore[misc,name-defined]
        def on_recv_rsp(self, rsp_pb: Any) -> tuple[int, Any]:
            if rsp_pb.retType == 0 and len(rsp_pb.s2c.tickerList):
                sec = _security(rsp_pb.s2c.security)
                if sec:
                    put((*sec, TICKER), rsp_pb.s2c.tickerList[-1])
            return 0, None

    class KlineHandler(futu.CurKlineHandlerBase):  # type: ignore[misc,name-defined]
        # Venue bars are not republished (ours are built from ticks); a push still proves the feed alive.
        def on_recv_rsp(self, rsp_pb: Any) -> tuple[int, Any]:
            adapter.kline_pushes += 1
            return 0, None

    return [QuoteHandler(), BookHandler(), TickerHandler(), KlineHandler()]


async def _in_daemon_thread(fn: Callable[[], Any]) -> Any:
    """Run a blocking futu call on a daemon thread: a connect that hangs must not hold up exit
    (the loop's default executor joins its threads at shutdown)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def deliver(ok: bool, value: Any) -> None:
        if not future.done():
            (future.set_result if ok else future.set_exception)(value)

    def run() -> None:
        try:
            result = fn()
        except BaseException as exc:  # hand every failure to the waiting task
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(deliver, False, exc)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(deliver, True, result)

    threading.Thread(target=run, name="futu-connect", daemon=True).start()
    return await future


def context_class(futu: ModuleType) -> type:
    class QuoteContext(futu.OpenQuoteContext):  # type: ignore[misc,name-defined]
        """futu's context with connection policy left to us (see the module docstring)."""

        def __init__(self, adapter: FutuAdapter, host: str, port: int) -> None:
            self._md_adapter = adapter
            self._md_error = ""
            adapter.constructing = self  # so stop() can close a context whose constructor still runs
            super().__init__(host=host, port=port)

        def _send_init_connect_sync(self) -> tuple[int, str]:
            ret, msg = super()._send_init_connect_sync()
            if ret != 0:
                self._md_error = str(msg)
            return ret, msg

        def _init_connect_sync(self) -> int:
            ret = super()._init_connect_sync()
            if ret != 0:
                self._auto_reconnect = False  # return from the constructor: we retry with backoff
                self._md_error = self._md_error or "cannot connect to OpenD"
            return ret

        def on_disconnect(self, conn_id: Any, reason: Any, msg: Any) -> None:
            self._auto_reconnect = False
            super().on_disconnect(conn_id, reason, msg)
            name = getattr(reason, "name", str(reason))
            self._md_adapter.call(self._md_adapter.on_context_lost, self,
                                  f"OpenD connection lost: {name} {msg or ''}".strip())

    return QuoteContext


class FutuAdapter(VenueAdapter):
    venue = VENUE

    def __init__(self, config: Config, data_dir: str, bus: Bus) -> None:
        self.config = config
        self.data_dir = data_dir
        self.bus = bus
        self.sub_types = list(config.md.futu_sub_types)
        self.quota = max(1, config.md.futu_quota // max(1, len(self.sub_types)))  # instruments
        self.backoff = Backoff(config.md.backoff_initial_s, config.md.backoff_max_s)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sink: FeedSink | None = None
        self.futu: ModuleType | None = None
        self.ctx: Any = None
        self.constructing: Any = None
        self.kline_pushes = 0
        self._merged: dict[tuple[str, str], MergedQuote] = {}
        self._gate_open = asyncio.Event()
        self._gate_state = AuthState.ORIGIN
        self._wake = asyncio.Event()  # gate changed, context lost or stop: re-evaluate
        self._lost_reason = ""
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    # --- threads → loop ------------------------------------------------------------------------

    def call(self, fn: Any, *args: Any) -> None:
        if self.loop is not None:
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(fn, *args)

    def inbox_put(self, key: tuple[str, str, str], item: Any) -> None:
        assert self.sink is not None
        self.sink.inbox.put(VENUE, key, item)

    # --- lifecycle -----------------------------------------------------------------------------

    def prepare(self) -> None:
        self.futu = import_futu(os.path.join(self.data_dir, "futu_home"))

    async def start(self, sink: FeedSink) -> None:
        self.loop = asyncio.get_running_loop()
        self.sink = sink
        self.futu = import_futu(os.path.join(self.data_dir, "futu_home"))
        self._tasks = [self.loop.create_task(self._follow_gate(), name="futu-gate"),
                       self.loop.create_task(self._run(), name="futu-feed")]

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for ctx in (self.ctx, self.constructing):
            if ctx is not None:
                await self._close(ctx)
        self.ctx = self.constructing = None

    async def _follow_gate(self) -> None:
        instance = self.config.futu.auth_instance
        async for state in opend_states(self.bus, instance):
            self._gate_state = state
            if state is AuthState.CONNECTED:
                self._gate_open.set()
            else:
                self._gate_open.clear()
            self._wake.set()

    async def _run(self) -> None:
        assert self.sink is not None
        futu_cfg = self.config.futu
        while not self._stopping:
            if not self._gate_open.is_set():
                self.sink.feed_state(VENUE, FeedState.DOWN,
                                     f"OpenD instance {futu_cfg.auth_instance!r} is {self._gate_state.value}")
                await self._wait_wake()
                continue
            self.sink.feed_state(VENUE, FeedState.CONNECTING, f"connecting to OpenD {futu_cfg.host}:{futu_cfg.port}")
            ctx = await self._connect()
            if self._stopping:
                return
            if ctx is None:
                delay = self.backoff.next()
                self.sink.feed_state(VENUE, FeedState.DOWN, f"{self._lost_reason}; retrying in {delay:.1f}s")
                await self._wait_wake(delay)
                continue
            self.backoff.reset()
            self.ctx = ctx
            self._lost_reason = ""
            self.sink.feed_state(VENUE, FeedState.UP, f"connected to OpenD {futu_cfg.host}:{futu_cfg.port}")
            while not self._stopping and self._lost_reason == "" and self._gate_open.is_set():
                await self._wait_wake()
            self.ctx = None
            await self._close(ctx)
            if self._stopping:
                return
            reason = self._lost_reason or f"OpenD instance {futu_cfg.auth_instance!r} is {self._gate_state.value}"
            self.sink.feed_state(VENUE, FeedState.DOWN, reason)
            if self._lost_reason:
                await self._wait_wake(self.backoff.next())

    async def _wait_wake(self, timeout: float | None = None) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _connect(self) -> Any:
        """Build a context on a worker thread; None (with ``_lost_reason``) when OpenD is not ready."""
        assert self.futu is not None
        cls = context_class(self.futu)
        host, port = self.config.futu.host, self.config.futu.port
        try:
            ctx = await _in_daemon_thread(lambda: cls(self, host, port))
        except Exception as exc:  # futu raises on bad arguments only, but never let the feed task die
            self.constructing = None
            self._lost_reason = f"cannot create the quote context: {exc}"
            return None
        self.constructing = None
        if ctx.status != self.futu.ContextStatus.READY:
            self._lost_reason = f"OpenD refused the connection: {ctx._md_error}"
            await self._close(ctx)
            return None
        for handler in build_handlers(self.futu, self):
            ctx.set_handler(handler)
        return ctx

    def on_context_lost(self, ctx: Any, reason: str) -> None:
        if ctx is self.ctx and not self._stopping:
            self._lost_reason = reason
            self._wake.set()

    async def _close(self, ctx: Any) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.to_thread(ctx.close), CONTEXT_CLOSE_TIMEOUT_S)

    # --- subscriptions -------------------------------------------------------------------------

    def validate(self, instrument: Instrument) -> str:
        if instrument.exchange not in QUOTE_MARKETS:
            return (f"unknown Futu market {instrument.exchange!r} "
                    f"(expected one of {sorted(QUOTE_MARKETS)})")
        return ""

    async def history_bars(self, exchange: str, symbol: str, period: str, start_ns: int | None, end_ns: int,
                           count: int) -> list[Bar]:
        """OpenD's history K-lines (``md.ctl.history``, see :mod:`md_ingest.history`)."""
        from md_ingest.futu_history import fetch_bars

        error = self.validate(Instrument(VENUE, exchange, symbol))
        if error:
            raise ValueError(error)
        ctx = self.ctx
        if ctx is None:
            raise RuntimeError("not connected to OpenD")
        call = lambda: fetch_bars(ctx, self.futu, exchange, symbol, period, start_ns, end_ns, count,  # noqa: E731
                                  now=time.time_ns)
        return await asyncio.wait_for(asyncio.to_thread(call), HISTORY_TIMEOUT_S)

    async def subscribe(self, instruments: list[Instrument]) -> dict[Instrument, str]:
        return await self._each(instruments, subscribe=True)

    async def unsubscribe(self, instruments: list[Instrument]) -> dict[Instrument, str]:
        return await self._each(instruments, subscribe=False)

    async def _each(self, instruments: list[Instrument], *, subscribe: bool) -> dict[Instrument, str]:
        # One call per instrument: OpenD refuses a whole batch for one unknown code.
        errors: dict[Instrument, str] = {}
        for inst in instruments:
            ctx = self.ctx
            if ctx is None:
                errors[inst] = "not connected to OpenD"
                continue
            code = join_code(inst.exchange, inst.symbol)
            if subscribe:
                call = lambda c=ctx, k=code: c.subscribe([k], self.sub_types, is_first_push=True)  # noqa: E731
            else:
                call = lambda c=ctx, k=code: c.unsubscribe([k], self.sub_types)  # noqa: E731
            try:
                ret, msg = await asyncio.wait_for(asyncio.to_thread(call), self.config.md.subscribe_timeout_s)
            except TimeoutError:
                ret, msg = -1, f"no answer from OpenD within {self.config.md.subscribe_timeout_s:g}s"
            if ret != 0:
                errors[inst] = str(msg)
            elif not subscribe:
                self._merged.pop((inst.exchange, inst.symbol), None)
        return errors

    # --- normalisation (on the loop) -----------------------------------------------------------

    def normalise(self, key: Any, raw: Any, received_ns: int) -> Tick | None:
        exchange, symbol, kind = key
        merged = self._merged.get((exchange, symbol))
        if merged is None:
            merged = self._merged[(exchange, symbol)] = MergedQuote(exchange, symbol)
        if kind == QUOTE:
            merged.apply_quote(raw)
        elif kind == BOOK:
            merged.apply_book(raw)
        elif kind == TICKER:
            merged.apply_ticker(raw)
            return None
        if not merged.have_quote:
            return None
        return Tick(venue=VENUE, exchange=exchange, symbol=symbol, seq=0, ts_event=merged.ts_event or received_ns,
                    ts_init=received_ns, last=merged.last, last_qty=merged.last_qty, open=merged.open,
                    high=merged.high, low=merged.low, prev_close=merged.prev_close, volume=merged.volume,
                    turnover=merged.turnover, bids=merged.bids, asks=merged.asks)
