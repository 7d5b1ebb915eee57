"""A WebSocket session: the frame handler shared by ``/md/`` and ``/td/``, and the market-data session.

Every client frame goes through :meth:`Session.handle_frame`, which never raises: bad input of any
kind is answered the way webctp answers it (-400 with ``Detail``, -401, -404, -3) and the connection
stays usable. Frames are handled one at a time per socket, as webctp does.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Any

from tradebus.logs import get_logger
from tradebus.ratelimit import TokenBucket
from tradebus.users import User
from ws_edge.channel import Channel
from ws_edge.envelope import (
    BAD_REQUEST,
    CALL_FAILED,
    NOT_IMPLEMENTED,
    NOT_LOGGED_IN,
    TOO_MANY_PER_SECOND,
    call_failed,
    encode,
    error,
)
from ws_edge.instruments import BusInstrument
from ws_edge.requests import RequestInvalid
from ws_edge.route import Request, RouteTable

if TYPE_CHECKING:
    from ws_edge.edge import Edge

log = get_logger("ws_edge.session")


# Ignored silently, before dispatch (docs/ws_edge.md, 'Leniency we chose').
HEARTBEAT_TYPES = frozenset({"Ping", "Pong"})


class Session:
    kind = "?"

    def __init__(self, edge: Edge, channel: Channel, address: str, table: RouteTable) -> None:
        self.edge = edge
        self.table = table  # the endpoint's rows of the route table (ws_edge.routes)
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
        """The reply name of a refused call (-3): the route's, or the request's own name when unrouted."""
        return self.table.rsp_name(msg_type)

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

    def __init__(self, edge: Edge, channel: Channel, address: str, table: RouteTable) -> None:
        super().__init__(edge, channel, address, table)
        self.subscribed: dict[str, BusInstrument] = {}
        self.anonymous = False  # logged in without credentials (market data only)

    def anonymous_login(self, body: dict[str, Any]) -> bool:
        """webctp's MD login carries no credentials (its demo page sends empty ones): taken where the
        operator allows anonymous market data for this client's address (``[ws] anonymous_md``)."""
        if self.user is not None or body["UserID"] or body["Password"]:
            return False
        allowed = self.edge.anonymous_md_allowed(self.address)
        if allowed:
            log.info("anonymous market-data login", address=self.address)
        return allowed

    async def dispatch(self, msg_type: str, data: dict[str, Any]) -> None:
        """An unknown name is -404 even before login; the login check comes before validation, which the
        handlers do (docs/ws_edge.md, 'Market-data requests')."""
        route = self.table.get(msg_type)
        if route is None:
            self.send(error(msg_type, NOT_IMPLEMENTED))
            return
        if route.needs_login and self.user is None and not self.anonymous:
            self.send(error(msg_type, NOT_LOGGED_IN))
            return
        await route.handler(self, Request(msg_type, route, data, 0))

    async def closed(self) -> None:
        for instrument in self.subscribed.values():
            await self.edge.market.release(self.channel, instrument)
        self.subscribed.clear()
