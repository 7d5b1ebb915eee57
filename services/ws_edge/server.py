"""The WebSocket listeners: ``/md/`` and ``/td/`` (with or without the trailing slash) per port.

Plain HTTP on the same port goes through ``http_handler`` (the web console's files); the console's
own WebSocket (``/console/ws``) is served on the listener given ``console``. An unknown path gets 404,
a wrong ``?token=`` 403 before the upgrade (as Homalos does).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from tradebus.logs import get_logger
from ws_edge.channel import Channel
from ws_edge.connection import remote_address, run_connection
from ws_edge.edge import Edge
from ws_edge.route import RouteTable
from ws_edge.routes import MD_TABLE, TD_TABLE
from ws_edge.session import MdSession, Session
from ws_edge.td_session import TdSession

if TYPE_CHECKING:
    from ws_edge.console import Console

log = get_logger("ws_edge.server")
PATHS: dict[str, str] = {"/md/": "md", "/md": "md", "/td/": "td", "/td": "td"}
# Each endpoint: its session class and the route table it dispatches with.
SESSIONS: dict[str, tuple[type[Session], RouteTable]] = {"md": (MdSession, MD_TABLE), "td": (TdSession, TD_TABLE)}
HttpHandler = Callable[[ServerConnection, Request], Response | None]


class Listener:
    """One port serving some of the endpoints (``{"md", "td"}`` in combined mode)."""

    def __init__(self, edge: Edge, endpoints: frozenset[str], *, http_handler: HttpHandler | None = None,
                 console: Console | None = None) -> None:
        self.edge = edge
        self.endpoints = endpoints
        self.http_handler = http_handler
        self.console = console  # its WebSocket path is served here too (the combined listener only)
        self.server: Server | None = None
        self.sessions: set[Session] = set()

    async def start(self, host: str, port: int) -> int:
        cfg = self.edge.config
        self.server = await serve(self._serve, host, port, process_request=self._process_request,
                                  max_size=cfg.hard_max_frame_bytes, compression=None, ping_interval=20,
                                  ping_timeout=20, max_queue=64)
        bound: int = self.server.sockets[0].getsockname()[1]
        return bound

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if self.console is not None and url.path == self.console.path:
            return self.console.check_upgrade(conn, request)
        kind = PATHS.get(url.path)
        if kind is None or kind not in self.endpoints:
            if self.http_handler is not None:
                answer = self.http_handler(conn, request)
                if answer is not None:
                    return answer
            return conn.respond(HTTPStatus.NOT_FOUND, "not found: use /md/ or /td/\n")
        token = self.edge.config.token
        if token:
            given = (parse_qs(url.query).get("token") or [""])[0]
            if not hmac.compare_digest(given.encode(), token.reveal().encode()):
                log.warning("bad token", address=remote_address(conn))
                return Response(HTTPStatus.FORBIDDEN, "Forbidden", Headers(), b"bad or missing token\n")
        return None

    async def _serve(self, conn: ServerConnection) -> None:
        path = urlsplit(conn.request.path).path if conn.request else "/md/"
        if self.console is not None and path == self.console.path:
            await self.console.serve(conn)
            return
        kind = PATHS[path]
        cfg = self.edge.config
        channel = Channel(conn, max_frames=cfg.queue_max_frames, write_high=cfg.write_buffer_high,
                          on_conflate=self.edge.conflated.inc)
        session_class, table = SESSIONS[kind]
        session = session_class(self.edge, channel, remote_address(conn), table)
        await run_connection(conn, channel, session, self.sessions)  # type: ignore[arg-type]
