"""A WebSocket session: the frame handler shared by ``/md/`` and ``/td/``, and the market-data session.

Every client frame goes through :meth:`Session.handle_frame`, which never raises: bad input of any
kind is answered the way webctp answers it (-400 with ``Detail``, -401, -404, -3) and the connection
stays usable. Frames are handled one at a time per socket, as webctp does.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tradebus.logs import get_logger
from tradebus.ratelimit import TokenBucket
from tradebus.users import User
from ws_edge.channel import Channel
from ws_edge.envelope import (
    BAD_REQUEST,
    CALL_FAILED,
    CTP_INSTRUMENT_NOT_FOUND,
    CTP_INVALID_LOGIN,
    MD_OK_TEXT,
    NOT_IMPLEMENTED,
    NOT_LOGGED_IN,
    TOO_MANY_PER_SECOND,
    call_failed,
    encode,
    error,
    response,
    rsp_info,
)
from ws_edge.fields import MD_LOGIN, fill
from ws_edge.instruments import EXCHANGE_TZ, BusInstrument
from ws_edge.requests import (
    HEARTBEAT_TYPES,
    MD_RSP,
    RequestInvalid,
    validate_instrument_list,
    validate_md_login,
)

if TYPE_CHECKING:
    from ws_edge.edge import Edge

log = get_logger("ws_edge.session")
CHINA_TZ = EXCHANGE_TZ["SHFE"]


def china_now() -> datetime:
    return datetime.fromtimestamp(time.time(), CHINA_TZ)


class Session:
    kind = "?"

    def __init__(self, edge: Edge, channel: Channel, address: str) -> None:
        self.edge = edge
        self.channel = channel
        self.address = address
        self.user: User | None = None
        self.session_id = secrets.randbelow(2**31 - 2) + 1
        cfg = edge.config
        self.bucket = TokenBucket(cfg.rate_per_s, cfg.rate_burst)

    @property
    def user_name(self) -> str:
        return self.user.name if self.user else ""

    # --- output ------------------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        self.channel.send(encode(message))

    def send_all(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            self.send(message)

    # --- input -------------------------------------------------------------------------------

    async def handle_frame(self, frame: str | bytes) -> None:
        """One client frame; answers every problem on the socket and never raises."""
        try:
            await self._handle(frame)
        except Exception:
            log.exception("request failed", kind=self.kind)
            self.send(call_failed("", CALL_FAILED))

    async def _handle(self, frame: str | bytes) -> None:
        self.edge.requests_in.inc(1.0, self.kind)
        if isinstance(frame, bytes):
            self.send(error("", BAD_REQUEST, "binary frames are not supported: send JSON in text frames"))
            return
        if len(frame) > self.edge.config.max_frame_bytes:
            self.send(error("", BAD_REQUEST, f"frame of {len(frame)} characters exceeds the limit of "
                                             f"{self.edge.config.max_frame_bytes}"))
            return
        try:
            data = json.loads(frame)
        except (ValueError, RecursionError) as exc:
            self.send(error("", BAD_REQUEST, str(exc)))
            return
        if not isinstance(data, dict):
            self.send(error("", BAD_REQUEST, f"a request must be a JSON object, not {type(data).__name__}"))
            return
        msg_type = data.get("MsgType")
        if not isinstance(msg_type, str):
            self.send(error("", BAD_REQUEST, "MsgType: Field required (a string)"))
            return
        if msg_type in HEARTBEAT_TYPES:
            return
        if not self.bucket.take():
            self.edge.rate_limited.inc()
            self.send(call_failed(self.rsp_name(msg_type), TOO_MANY_PER_SECOND))
            return
        try:
            await self.dispatch(msg_type, data)
        except RequestInvalid as exc:
            self.send(error(msg_type, BAD_REQUEST, exc.detail))

    def rsp_name(self, msg_type: str) -> str:
        return msg_type

    async def dispatch(self, msg_type: str, data: dict[str, Any]) -> None:
        raise NotImplementedError

    async def login(self, user_id: str, password: str) -> bool:
        """Check the credentials (slowed down after failures); True when logged in."""
        if self.user is not None:
            return True  # webctp re-runs the first login on a second ReqUserLogin: same session, same user
        user = await self.edge.authenticate(user_id, password, self.address)
        if user is None:
            return False
        self.user = user
        log.info("login", kind=self.kind, user=user.name, address=self.address)
        return True

    async def closed(self) -> None:
        """The socket is gone: release what the session held."""


class MdSession(Session):
    kind = "md"

    def __init__(self, edge: Edge, channel: Channel, address: str) -> None:
        super().__init__(edge, channel, address)
        self.subscribed: dict[str, BusInstrument] = {}
        self.anonymous = False  # logged in without credentials (market data only)

    def _anonymous_login(self, body: dict[str, Any]) -> bool:
        """webctp's MD login carries no credentials (its demo page sends empty ones): taken where the
        operator allows anonymous market data for this client's address (``[ws] anonymous_md``)."""
        if self.user is not None or body["UserID"] or body["Password"]:
            return False
        allowed = self.edge.anonymous_md_allowed(self.address)
        if allowed:
            log.info("anonymous market-data login", address=self.address)
        return allowed

    def rsp_name(self, msg_type: str) -> str:
        return MD_RSP.get(msg_type, "RspUserLogin" if msg_type == "ReqUserLogin" else msg_type)

    async def dispatch(self, msg_type: str, data: dict[str, Any]) -> None:
        if msg_type == "ReqUserLogin":
            await self._login(data)
        elif msg_type in MD_RSP:
            if self.user is None and not self.anonymous:
                self.send(error(msg_type, NOT_LOGGED_IN))
                return
            instruments = validate_instrument_list(msg_type, data)
            if msg_type == "SubscribeMarketData":
                await self._subscribe(instruments)
            else:
                await self._unsubscribe(instruments)
        else:
            self.send(error(msg_type, NOT_IMPLEMENTED))

    async def _login(self, data: dict[str, Any]) -> None:
        body = validate_md_login(data)
        if self._anonymous_login(body) or self.anonymous:
            self.anonymous = True
        elif not await self.login(body["UserID"], body["Password"]):
            self.send(response("RspUserLogin", rsp_info(CTP_INVALID_LOGIN), is_last=True, has_body=False))
            return
        now = china_now()
        trading_day = await self.edge.trading_day_now(self.edge.config.futures_venue)
        login_body = fill(MD_LOGIN, {"TradingDay": trading_day, "UserID": self.user_name,
                                     "BrokerID": self.edge.config.broker_id, "LoginTime": now.strftime("%H:%M:%S"),
                                     "SystemName": "tradebus"})
        self.send(response("RspUserLogin", rsp_info(0, MD_OK_TEXT), "RspUserLogin", login_body, is_last=True))

    async def _subscribe(self, instrument_ids: list[str]) -> None:
        accepted: list[BusInstrument] = []
        last = len(instrument_ids) - 1
        for i, instrument_id in enumerate(instrument_ids):
            instrument = self.edge.instruments.resolve(instrument_id)
            problem = "unknown instrument" if instrument is None else ""
            if instrument is not None and instrument_id not in self.subscribed:
                problem = await self.edge.market.acquire(instrument)
                if not problem:
                    accepted.append(instrument)
                    self.subscribed[instrument_id] = instrument
            info = rsp_info(0, MD_OK_TEXT) if not problem else rsp_info(CTP_INSTRUMENT_NOT_FOUND)
            self.send(response("RspSubMarketData", info, "SpecificInstrument", {"InstrumentID": instrument_id},
                               is_last=i == last))
        for instrument in accepted:
            await self.edge.market.attach(self.channel, instrument)

    async def _unsubscribe(self, instrument_ids: list[str]) -> None:
        last = len(instrument_ids) - 1
        for i, instrument_id in enumerate(instrument_ids):
            instrument = self.subscribed.pop(instrument_id, None)
            if instrument is not None:
                await self.edge.market.release(self.channel, instrument)
            # Not subscribed on this socket (never, or its subscribe failed): nothing was undone, so say so.
            info = rsp_info(0, MD_OK_TEXT) if instrument is not None else rsp_info(CTP_INSTRUMENT_NOT_FOUND)
            self.send(response("RspUnSubMarketData", info, "SpecificInstrument", {"InstrumentID": instrument_id},
                               is_last=i == last))

    async def closed(self) -> None:
        for instrument in self.subscribed.values():
            await self.edge.market.release(self.channel, instrument)
        self.subscribed.clear()
