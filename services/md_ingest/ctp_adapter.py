"""CTP quotes through ``CThostFtdcMdApi`` (openctp-ctp, or the ctp_sim double for ``sim://`` fronts).

Connection: the CTP api reconnects to its front by itself (that is how the library works; recreating
it would only lose its flow files). We follow it: ``OnFrontConnected`` → log in (the CTP kit's login
sequence, ``tradebus.ctp.session``); ``OnFrontDisconnected`` → feed DOWN with the reason. A refused
or unanswered login is retried with exponential backoff and jitter for as long as the front stays
connected.

Instruments: md fronts leave ``ExchangeID`` empty in depth pushes and accept subscriptions to
instruments that do not exist (and then send nothing). So the instrument list comes from the venue's
own answer: a short trader-api session (authenticate, login, ``ReqQryInstrument``) on the trading
front, released once the list is in. It gives exchange, multiplier and tick per instrument.

Threads: the SPI methods run on the api's thread. The kit's bridge (``tradebus.ctp.bridge``) copies
control callbacks and hands them to the loop; depth is copied and put into the inbox right there.
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
from tradebus.ctp.bridge import MD_CALLBACKS, TRADER_LOGIN_CALLBACKS, Error, Row, md_spi, trader_spi
from tradebus.ctp.codes import ResumeType
from tradebus.ctp.exchanges import CTP_EXCHANGES
from tradebus.ctp.session import LoginInfo, LoginSession, RequestFailed
from tradebus.logs import get_logger
from tradebus.schemas.market import FeedState, Tick

log = get_logger("md_ingest.ctp")
VENUE = "ctp"
INSTRUMENT_QUERY_TIMEOUT_S = 60.0  # a real front's whole instrument list takes a few seconds
# Positions in ctp_map.depth_values' tuple, looked up once here rather than by name for every depth update.
_IX = ctp_map.INDEX
_EXCHANGE, _TRADING_DAY, _ACTION_DAY = _IX["ExchangeID"], _IX["TradingDay"], _IX["ActionDay"]
_UPDATE_TIME, _UPDATE_MILLISEC = _IX["UpdateTime"], _IX["UpdateMillisec"]
_LAST, _OPEN, _HIGH, _LOW = _IX["LastPrice"], _IX["OpenPrice"], _IX["HighestPrice"], _IX["LowestPrice"]
_PRE_SETTLEMENT, _PRE_CLOSE = _IX["PreSettlementPrice"], _IX["PreClosePrice"]
_VOLUME, _TURNOVER, _OPEN_INTEREST = _IX["Volume"], _IX["Turnover"], _IX["OpenInterest"]
_UPPER_LIMIT, _LOWER_LIMIT, _AVERAGE_PRICE = _IX["UpperLimitPrice"], _IX["LowerLimitPrice"], _IX["AveragePrice"]


class InstrumentLoader:
    """One trader-api session that fetches the instrument list and is released afterwards.

    The kit's login sequence logs it in (and retries); the instrument query is its one step of its own.
    """

    def __init__(self, config: Config, flow_dir: str, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.flow_dir = flow_dir
        self.loop = loop
        self.done = asyncio.Event()
        self.instruments: dict[str, InstrumentRef] = {}
        self._api: Any = None
        self._spi: Any = None
        self._session: LoginSession | None = None
        self.error = ""

    def start(self) -> None:
        _, td = import_ctp_modules()
        self._td = td
        self._api = create_trader_api(self.config.ctp.td_front, self.flow_dir)
        self._session = LoginSession(
            self._api, td, self.config.ctp, self, authenticate=True, after_login=self._load,
            backoff=Backoff(self.config.md.backoff_initial_s, self.config.md.backoff_max_s),
        )
        self._spi = trader_spi(self.loop, self._session.handle, (*TRADER_LOGIN_CALLBACKS, "OnRspQryInstrument"))
        self._api.RegisterSpi(self._spi)
        self._api.SubscribePrivateTopic(ResumeType.QUICK)  # we want no order replay on this session
        self._api.SubscribePublicTopic(ResumeType.QUICK)
        self._api.RegisterFront(self.config.ctp.td_front)
        self._api.Init()

    async def _load(self, login: LoginInfo) -> None:
        assert self._session is not None
        field = self._td.CThostFtdcQryInstrumentField()
        rows = await self._session.requests.call("ReqQryInstrument", lambda rid: self._api.ReqQryInstrument(field, rid),
                                                 timeout=INSTRUMENT_QUERY_TIMEOUT_S)
        self.instruments = {
            str(row["InstrumentID"]): InstrumentRef(str(row["ExchangeID"]), int(row["VolumeMultiple"]),
                                                    float(row["PriceTick"]))
            for row in rows if row.get("InstrumentID")
        }

    # --- the session's listener (on the loop) -----------------------------------------------------

    def front_connected(self) -> None:
        log.info("ctp instrument session connected")

    def ready(self, login: LoginInfo) -> None:
        self.error = ""
        self.done.set()
        log.info("ctp instrument list loaded", count=len(self.instruments))

    def login_failed(self, failure: RequestFailed, retry_in: float | None) -> None:
        self.error = str(failure)
        log.error("ctp instrument list", error=self.error, retry_in=retry_in)

    def front_disconnected(self, reason: str) -> None:
        log.info("ctp instrument session disconnected", reason=reason)

    async def release(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.stop()
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
        self.session: LoginSession | None = None
        self.login_day = ""
        self.backoff = Backoff(config.md.backoff_initial_s, config.md.backoff_max_s)
        self._sub_waiters: dict[str, asyncio.Future[str]] = {}
        self._stopping = False

    @property
    def logged_in(self) -> bool:
        return self.session is not None and self.session.ready

    # --- the api's thread ------------------------------------------------------------------------

    def _on_depth(self, field: Any) -> None:
        """OnRtnDepthMarketData, on CTP's thread: copy the fields out and queue them (no loop hop)."""
        if field is None:
            return
        values = ctp_map.depth_values(field)
        assert self.sink is not None
        self.sink.inbox.put(VENUE, values[0], values)

    # --- lifecycle -----------------------------------------------------------------------------

    def prepare(self) -> None:
        import_ctp_modules()

    async def start(self, sink: FeedSink) -> None:
        self.loop = asyncio.get_running_loop()
        self.sink = sink
        md, _ = import_ctp_modules()
        self.loader = InstrumentLoader(self.config, os.path.join(self.data_dir, "ctp_td_flow"), self.loop)
        self.loader.start()
        self.loop.create_task(self._release_loader_when_done(), name="ctp-instruments")
        front = self.config.ctp.md_front
        self.api = create_md_api(front, os.path.join(self.data_dir, "ctp_md_flow"))
        self.session = LoginSession(self.api, md, self.config.ctp, self, authenticate=False, backoff=self.backoff)
        # The native api does not own its SPI: we keep it alive as long as the api may call it.
        self.spi = md_spi(self.loop, self._dispatch, MD_CALLBACKS, on_thread={"OnRtnDepthMarketData": self._on_depth})
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
        if self.session is not None:
            await self.session.stop()
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

    def _dispatch(self, name: str, *args: Any) -> None:
        assert self.session is not None
        if self.session.handle(name, *args):
            return
        if name == "OnRspSubMarketData":
            self._on_sub_rsp(*args)

    def front_connected(self) -> None:
        assert self.sink is not None
        self.sink.feed_state(VENUE, FeedState.CONNECTING, "front connected, logging in")

    def login_failed(self, failure: RequestFailed, retry_in: float | None) -> None:
        assert self.sink is not None
        retry = f"; retrying in {retry_in:.1f}s" if retry_in is not None else "; not retrying"
        self.sink.feed_state(VENUE, FeedState.DOWN, f"{failure}{retry}")

    def front_disconnected(self, reason: str) -> None:
        for waiter in self._sub_waiters.values():
            if not waiter.done():
                waiter.set_result("front disconnected")
        self._sub_waiters.clear()
        if not self._stopping:
            assert self.sink is not None
            self.sink.feed_state(VENUE, FeedState.DOWN, reason)

    def ready(self, login: LoginInfo) -> None:
        self.login_day = login.trading_day
        assert self.sink is not None
        self.sink.feed_state(VENUE, FeedState.UP, f"logged in, trading day {self.login_day}")

    def _on_sub_rsp(self, row: Row | None, error: Error | None, rid: int, last: bool) -> None:
        name = str(row.get("InstrumentID", "")) if row is not None else ""
        waiter = self._sub_waiters.pop(name, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(f"{error[0]} {error[1]}" if error is not None and error[0] else "")

    # --- subscriptions -------------------------------------------------------------------------

    def validate(self, instrument: Instrument) -> str:
        if instrument.exchange not in CTP_EXCHANGES:
            return f"unknown CTP exchange {instrument.exchange!r} (expected one of {sorted(CTP_EXCHANGES)})"
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
        symbol = v[0]
        ref = self.loader.instruments.get(symbol) if self.loader is not None else None
        exchange = v[_EXCHANGE] or (ref.exchange if ref is not None else "")
        if not exchange:
            return None  # an instrument we cannot place (the list is not loaded): nothing to publish
        price = ctp_map.price
        oi = price(v[_OPEN_INTEREST])
        return Tick(
            venue=VENUE, exchange=exchange, symbol=symbol, seq=0,
            ts_event=ctp_map.event_time(exchange, v[_ACTION_DAY], v[_UPDATE_TIME], v[_UPDATE_MILLISEC], received_ns),
            ts_init=received_ns,
            trading_day=ctp_map.trading_day(exchange, v[_TRADING_DAY], self.login_day),
            last=price(v[_LAST]), open=price(v[_OPEN]), high=price(v[_HIGH]), low=price(v[_LOW]),
            prev_close=price(v[_PRE_SETTLEMENT]), pre_close=price(v[_PRE_CLOSE]),
            volume=int(v[_VOLUME]), turnover=float(v[_TURNOVER]),
            open_interest=int(oi) if oi is not None else None,
            upper_limit=price(v[_UPPER_LIMIT]), lower_limit=price(v[_LOWER_LIMIT]),
            average_price=ctp_map.average_price(exchange, v[_AVERAGE_PRICE], ref.multiplier if ref else 0),
            bids=ctp_map.book(v, "Bid"),
            asks=ctp_map.book(v, "Ask"),
        )
