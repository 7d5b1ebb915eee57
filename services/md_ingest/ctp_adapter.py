"""CTP quotes through ``CThostFtdcMdApi`` (openctp-ctp, or the ctp_sim double for ``sim://`` fronts).

Connection: the CTP api reconnects to its front by itself (that is how the library works; recreating
it would only lose its flow files). We follow it: ``OnFrontConnected`` → log in;
``OnFrontDisconnected`` → feed DOWN with the reason. A refused login is retried with exponential
backoff and jitter for as long as the front stays connected.

Instruments: md fronts leave ``ExchangeID`` empty in depth pushes and accept subscriptions to
instruments that do not exist (and then send nothing). So the instrument list comes from the venue's
own answer: a short trader-api session (authenticate, login, ``ReqQryInstrument``) on the trading
front, released once the list is in. It gives exchange, multiplier and tick per instrument.

Threads: the SPI methods run on the api's thread. They copy what they need out of the CTP struct and
hand it over with ``loop.call_soon_threadsafe`` (control events) or ``inbox.put`` (depth).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from md_ingest import ctp_map
from md_ingest.contract import FeedSink, Instrument, VenueAdapter
from md_ingest.ctp_map import InstrumentRef
from tradebus.backoff import Backoff
from tradebus.config import Config
from tradebus.ctp import import_ctp_modules
from tradebus.ctp.api import create_md_api, create_trader_api
from tradebus.logs import get_logger
from tradebus.schemas.market import FeedState, Level, Tick

log = get_logger("md_ingest.ctp")
VENUE = "ctp"
INSTRUMENT_RETRY_S = 1.1  # CTP allows one query per second
DISCONNECT_REASONS: dict[int, str] = {
    0x1001: "network read failure", 0x1002: "network write failure", 0x2001: "heartbeat timeout",
    0x2002: "heartbeat send failure", 0x2003: "bad packet received",
}  # fmt: skip


def _reason(code: int) -> str:
    return f"front disconnected: {DISCONNECT_REASONS.get(code, 'reason')} ({code:#x})"


def _rsp_error(info: Any) -> tuple[int, str]:
    if info is None:
        return 0, ""
    return int(info.ErrorID), str(info.ErrorMsg)


def make_md_spi(adapter: CtpAdapter) -> Any:
    md, _ = import_ctp_modules()

    class MdSpi(md.CThostFtdcMdSpi):  # type: ignore[misc,name-defined]
        def OnFrontConnected(self) -> None:
            adapter.call(adapter.on_front_connected)

        def OnFrontDisconnected(self, nReason: int) -> None:
            adapter.call(adapter.on_front_disconnected, int(nReason))

        def OnHeartBeatWarning(self, nTimeLapse: int) -> None:
            log.warning("ctp md heartbeat warning", silent_s=int(nTimeLapse))

        def OnRspUserLogin(self, pRspUserLogin: Any, pRspInfo: Any, nRequestID: int, bIsLast: bool) -> None:
            day = pRspUserLogin.TradingDay if pRspUserLogin is not None else ""
            adapter.call(adapter.on_login, *_rsp_error(pRspInfo), str(day))

        def OnRspSubMarketData(self, pSpecificInstrument: Any, pRspInfo: Any, nRequestID: int,
                               bIsLast: bool) -> None:
            name = pSpecificInstrument.InstrumentID if pSpecificInstrument is not None else ""
            adapter.call(adapter.on_sub_rsp, str(name), *_rsp_error(pRspInfo))

        def OnRspUnSubMarketData(self, pSpecificInstrument: Any, pRspInfo: Any, nRequestID: int,
                                 bIsLast: bool) -> None:
            pass

        def OnRspError(self, pRspInfo: Any, nRequestID: int, bIsLast: bool) -> None:
            log.warning("ctp md error", error=_rsp_error(pRspInfo))

        def OnRtnDepthMarketData(self, pDepthMarketData: Any) -> None:
            if pDepthMarketData is None:
                return
            values = ctp_map.depth_values(pDepthMarketData)
            adapter.inbox_put(values[0], values)

    return MdSpi()


def make_td_spi(loader: InstrumentLoader) -> Any:
    _, td = import_ctp_modules()

    class TdSpi(td.CThostFtdcTraderSpi):  # type: ignore[misc,name-defined]
        def OnFrontConnected(self) -> None:
            loader.call(loader.on_connected)

        def OnFrontDisconnected(self, nReason: int) -> None:
            loader.call(loader.on_disconnected, int(nReason))

        def OnRspAuthenticate(self, pRspAuthenticateField: Any, pRspInfo: Any, nRequestID: int,
                              bIsLast: bool) -> None:
            loader.call(loader.on_authenticated, *_rsp_error(pRspInfo))

        def OnRspUserLogin(self, pRspUserLogin: Any, pRspInfo: Any, nRequestID: int, bIsLast: bool) -> None:
            loader.call(loader.on_login, *_rsp_error(pRspInfo))

        def OnRspQryInstrument(self, pInstrument: Any, pRspInfo: Any, nRequestID: int, bIsLast: bool) -> None:
            row = None
            if pInstrument is not None and pInstrument.InstrumentID:
                row = (str(pInstrument.InstrumentID), str(pInstrument.ExchangeID),
                       int(pInstrument.VolumeMultiple), float(pInstrument.PriceTick))
            loader.call(loader.on_instrument, row, *_rsp_error(pRspInfo), bool(bIsLast))

    return TdSpi()


class InstrumentLoader:
    """One trader-api session that fetches the instrument list and is released afterwards."""

    def __init__(self, config: Config, flow_dir: str, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.flow_dir = flow_dir
        self.loop = loop
        self.done = asyncio.Event()
        self.instruments: dict[str, InstrumentRef] = {}
        self._rows: dict[str, InstrumentRef] = {}
        self._api: Any = None
        self._spi: Any = None
        self._request_id = 0
        self.error = ""

    def call(self, fn: Any, *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # loop closed during shutdown
            self.loop.call_soon_threadsafe(fn, *args)

    def start(self) -> None:
        _, td = import_ctp_modules()
        self._td = td
        self._api = create_trader_api(self.config.ctp.td_front, self.flow_dir)
        self._spi = make_td_spi(self)
        self._api.RegisterSpi(self._spi)
        self._api.SubscribePrivateTopic(2)  # QUICK: we want no order replay on this session
        self._api.SubscribePublicTopic(2)
        self._api.RegisterFront(self.config.ctp.td_front)
        self._api.Init()

    def _rid(self) -> int:
        self._request_id += 1
        return self._request_id

    def on_connected(self) -> None:
        ctp = self.config.ctp
        if ctp.app_id:
            field = self._td.CThostFtdcReqAuthenticateField()
            field.BrokerID, field.UserID, field.AppID = ctp.broker_id, ctp.user_id, ctp.app_id
            field.AuthCode = ctp.auth_code.reveal()
            self._api.ReqAuthenticate(field, self._rid())
        else:
            self.on_authenticated(0, "")

    def on_disconnected(self, code: int) -> None:
        log.info("ctp instrument session disconnected", reason=_reason(code))

    def on_authenticated(self, error_id: int, message: str) -> None:
        if error_id:
            self.error = f"authenticate failed: {error_id} {message}"
            log.error("ctp instrument list", error=self.error)
            return
        ctp = self.config.ctp
        field = self._td.CThostFtdcReqUserLoginField()
        field.BrokerID, field.UserID, field.Password = ctp.broker_id, ctp.user_id, ctp.password.reveal()
        self._api.ReqUserLogin(field, self._rid())

    def on_login(self, error_id: int, message: str) -> None:
        if error_id:
            self.error = f"trader login failed: {error_id} {message}"
            log.error("ctp instrument list", error=self.error)
            return
        self._query()

    def _query(self) -> None:
        if self.done.is_set():
            return
        rc = self._api.ReqQryInstrument(self._td.CThostFtdcQryInstrumentField(), self._rid())
        if rc != 0:  # -2/-3: CTP flow control; try again shortly
            self.loop.call_later(INSTRUMENT_RETRY_S, self._query)

    def on_instrument(self, row: tuple[str, str, int, float] | None, error_id: int, message: str,
                      last: bool) -> None:
        if error_id:
            self.error = f"ReqQryInstrument failed: {error_id} {message}"
            log.error("ctp instrument list", error=self.error)
            return
        if row is not None:
            symbol, exchange, multiplier, tick = row
            self._rows[symbol] = InstrumentRef(exchange, multiplier, tick)
        if last:
            self.instruments = self._rows
            self.error = ""
            self.done.set()
            log.info("ctp instrument list loaded", count=len(self.instruments))

    async def release(self) -> None:
        api, self._api = self._api, None
        if api is not None:
            await asyncio.to_thread(api.Release)


class CtpAdapter(VenueAdapter):
    venue = VENUE

    def __init__(self, config: Config, data_dir: str) -> None:
        self.config = config
        self.quota = config.md.ctp_max_subscriptions
        self.data_dir = data_dir
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sink: FeedSink | None = None
        self.api: Any = None
        self.spi: Any = None
        self.loader: InstrumentLoader | None = None
        self.login_day = ""
        self.logged_in = False
        self.connected = False
        self.backoff = Backoff(config.md.backoff_initial_s, config.md.backoff_max_s)
        self._retry: asyncio.TimerHandle | None = None
        self._sub_waiters: dict[str, asyncio.Future[str]] = {}
        self._request_id = 0
        self._md: Any = None
        self._stopping = False

    # --- threads → loop ------------------------------------------------------------------------

    def call(self, fn: Any, *args: Any) -> None:
        assert self.loop is not None
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(fn, *args)

    def inbox_put(self, symbol: str, values: tuple[Any, ...]) -> None:
        assert self.sink is not None
        self.sink.inbox.put(VENUE, symbol, values)

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self, sink: FeedSink) -> None:
        self.loop = asyncio.get_running_loop()
        self.sink = sink
        self._md, _ = import_ctp_modules()
        self.loader = InstrumentLoader(self.config, os.path.join(self.data_dir, "ctp_td_flow"), self.loop)
        self.loader.start()
        self.loop.create_task(self._release_loader_when_done(), name="ctp-instruments")
        front = self.config.ctp.md_front
        self.api = create_md_api(front, os.path.join(self.data_dir, "ctp_md_flow"))
        # The native api does not own its SPI: we keep it alive as long as the api may call it.
        self.spi = make_md_spi(self)
        self.api.RegisterSpi(self.spi)
        self.api.RegisterFront(front)
        sink.feed_state(VENUE, FeedState.CONNECTING, f"connecting to {front}")
        self.api.Init()

    async def _release_loader_when_done(self) -> None:
        assert self.loader is not None
        await self.loader.done.wait()
        await self.loader.release()

    async def stop(self) -> None:
        self._stopping = True
        if self._retry is not None:
            self._retry.cancel()
        if self.loader is not None:
            await self.loader.release()
        api, self.api = self.api, None
        if api is not None:
            await asyncio.to_thread(api.Release)

    async def wait_ready(self, timeout: float) -> None:
        if self.loader is not None and not self.loader.done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.loader.done.wait(), timeout)

    # --- connection events (on the loop) -------------------------------------------------------

    def _rid(self) -> int:
        self._request_id += 1
        return self._request_id

    def on_front_connected(self) -> None:
        if self._stopping:
            return
        self.connected = True
        assert self.sink is not None
        self.sink.feed_state(VENUE, FeedState.CONNECTING, "front connected, logging in")
        self._login()

    def _login(self) -> None:
        self._retry = None
        if not self.connected or self._stopping or self.api is None:
            return
        ctp = self.config.ctp
        field = self._md.CThostFtdcReqUserLoginField()
        field.BrokerID, field.UserID, field.Password = ctp.broker_id, ctp.user_id, ctp.password.reveal()
        if self.api.ReqUserLogin(field, self._rid()) != 0:
            self._schedule_login("ReqUserLogin could not be sent")

    def _schedule_login(self, reason: str) -> None:
        assert self.sink is not None and self.loop is not None
        delay = self.backoff.next()
        self.sink.feed_state(VENUE, FeedState.DOWN, f"{reason}; retrying in {delay:.1f}s")
        self._retry = self.loop.call_later(delay, self._login)

    def on_front_disconnected(self, code: int) -> None:
        self.connected = self.logged_in = False
        for waiter in self._sub_waiters.values():
            if not waiter.done():
                waiter.set_result("front disconnected")
        self._sub_waiters.clear()
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if not self._stopping:
            assert self.sink is not None
            self.sink.feed_state(VENUE, FeedState.DOWN, _reason(code))

    def on_login(self, error_id: int, message: str, trading_day: str) -> None:
        if error_id:
            self._schedule_login(f"login failed: {error_id} {message}")
            return
        self.backoff.reset()
        self.logged_in = True
        self.login_day = trading_day or (self.api.GetTradingDay() if self.api is not None else "")
        assert self.sink is not None
        self.sink.feed_state(VENUE, FeedState.UP, f"logged in, trading day {self.login_day}")

    def on_sub_rsp(self, name: str, error_id: int, message: str) -> None:
        waiter = self._sub_waiters.pop(name, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(f"{error_id} {message}" if error_id else "")

    # --- subscriptions -------------------------------------------------------------------------

    def validate(self, instrument: Instrument) -> str:
        if instrument.exchange not in ctp_map.CTP_EXCHANGES:
            return f"unknown CTP exchange {instrument.exchange!r} (expected one of {sorted(ctp_map.CTP_EXCHANGES)})"
        if self.loader is None or not self.loader.done.is_set():
            why = f": {self.loader.error}" if self.loader is not None and self.loader.error else ""
            return f"the CTP instrument list is not loaded yet{why}"
        ref = self.loader.instruments.get(instrument.symbol)
        if ref is None:
            return f"unknown instrument {instrument.symbol!r}: not in the CTP instrument list"
        if ref.exchange != instrument.exchange:
            return f"{instrument.symbol} trades on {ref.exchange}, not {instrument.exchange}"
        return ""

    async def subscribe(self, instruments: list[Instrument]) -> dict[Instrument, str]:
        return await self._call_venue(instruments, subscribe=True)

    async def unsubscribe(self, instruments: list[Instrument]) -> dict[Instrument, str]:
        return await self._call_venue(instruments, subscribe=False)

    async def _call_venue(self, instruments: list[Instrument], *, subscribe: bool) -> dict[Instrument, str]:
        if not instruments:
            return {}
        if self.api is None or not self.logged_in:
            return {i: "CTP md front not logged in" for i in instruments}
        names = [i.symbol.encode() for i in instruments]
        if not subscribe:
            rc = self.api.UnSubscribeMarketData(names, len(names))
            return {} if rc == 0 else {i: f"UnSubscribeMarketData returned {rc}" for i in instruments}
        assert self.loop is not None
        waiters = {i: self._sub_waiters.setdefault(i.symbol, self.loop.create_future()) for i in instruments}
        rc = self.api.SubscribeMarketData(names, len(names))
        if rc != 0:
            for i in instruments:
                self._sub_waiters.pop(i.symbol, None)
            return {i: f"SubscribeMarketData returned {rc}" for i in instruments}
        errors: dict[Instrument, str] = {}
        timeout = self.config.md.subscribe_timeout_s
        for inst, waiter in waiters.items():
            try:
                error = await asyncio.wait_for(asyncio.shield(waiter), timeout)
            except TimeoutError:
                self._sub_waiters.pop(inst.symbol, None)
                error = f"no OnRspSubMarketData within {timeout:g}s"
            if error:
                errors[inst] = error
        return errors

    # --- normalisation (on the loop) -----------------------------------------------------------

    def normalise(self, key: Any, raw: Any, received_ns: int) -> Tick | None:
        v: tuple[Any, ...] = raw
        ix = ctp_map.INDEX
        symbol = v[0]
        ref = self.loader.instruments.get(symbol) if self.loader is not None else None
        exchange = v[ix["ExchangeID"]] or (ref.exchange if ref is not None else "")
        if not exchange:
            return None  # an instrument we cannot place (the list is not loaded): nothing to publish
        price = ctp_map.price
        oi = price(v[ix["OpenInterest"]])
        return Tick(
            venue=VENUE, exchange=exchange, symbol=symbol, seq=0,
            ts_event=ctp_map.event_time(exchange, v[ix["ActionDay"]], v[ix["UpdateTime"]],
                                        v[ix["UpdateMillisec"]], received_ns),
            ts_init=received_ns,
            trading_day=ctp_map.trading_day(exchange, v[ix["TradingDay"]], self.login_day),
            last=price(v[ix["LastPrice"]]), open=price(v[ix["OpenPrice"]]), high=price(v[ix["HighestPrice"]]),
            low=price(v[ix["LowestPrice"]]), prev_close=price(v[ix["PreSettlementPrice"]]),
            pre_close=price(v[ix["PreClosePrice"]]),
            volume=int(v[ix["Volume"]]), turnover=float(v[ix["Turnover"]]),
            open_interest=int(oi) if oi is not None else None,
            upper_limit=price(v[ix["UpperLimitPrice"]]), lower_limit=price(v[ix["LowerLimitPrice"]]),
            average_price=ctp_map.average_price(exchange, v[ix["AveragePrice"]], ref.multiplier if ref else 0),
            bids=tuple(Level(p, q) for p, q in ctp_map.levels(v, "Bid")),
            asks=tuple(Level(p, q) for p, q in ctp_map.levels(v, "Ask")),
        )
