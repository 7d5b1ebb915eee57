"""The web console: a page served by ws_edge at ``/`` and its WebSocket at ``/console/ws`` (see docs/console.md).

:class:`Console` is what the combined listener hands console requests to: static files over plain
HTTP, and the WebSocket (same-origin only) where the page logs in and gets live System / Market /
Trading data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from tradebus.logs import get_logger
from ws_edge.channel import Channel
from ws_edge.connection import remote_address, run_connection
from ws_edge.console.http import forbidden, load_static, same_origin, static_response
from ws_edge.console.session import ConsoleSession
from ws_edge.console.sessions import SessionStore
from ws_edge.console.system import SystemWatch

if TYPE_CHECKING:
    from ws_edge.edge import Edge

log = get_logger("ws_edge.console")
WS_PATH = "/console/ws"


class Console:
    path = WS_PATH

    def __init__(self, edge: Edge) -> None:
        self.edge = edge
        self.sessions = SessionStore(edge.bus, edge.config.console_session_s)
        self.system = SystemWatch(edge.bus)
        self.files = load_static()
        self.live: set[ConsoleSession] = set()

    def http(self, conn: ServerConnection, request: Request) -> Response | None:
        """A plain GET of one of the page's files; None for any other path (the listener's 404)."""
        return static_response(self.files, request.path.split("?", 1)[0])

    def check_upgrade(self, conn: ServerConnection, request: Request) -> Response | None:
        if not same_origin(request):
            address = remote_address(conn)
            log.warning("console WebSocket refused: foreign origin", origin=request.headers.get("Origin", ""),
                        address=address)
            return forbidden("the console WebSocket only accepts its own page (Origin must match Host)\n")
        return None

    async def serve(self, conn: ServerConnection) -> None:
        cfg = self.edge.config
        channel = Channel(conn, max_frames=cfg.queue_max_frames, write_high=cfg.write_buffer_high)
        session = ConsoleSession(self.edge, self.sessions, self.system, channel, remote_address(conn))
        await run_connection(conn, channel, session, self.live)  # type: ignore[arg-type]

    async def stop(self) -> None:
        await self.system.stop()
