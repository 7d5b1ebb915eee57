"""``/healthz`` and ``/metrics`` over plain HTTP/1.1, on a per-service port.

Hand-rolled on asyncio streams: two GET routes do not justify a web framework, and the server must
keep answering while the service is busy (it only reads state, never awaits the service).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from tradebus.logs import get_logger

log = get_logger("tradebus.http")

Route = Callable[[], tuple[int, str, bytes]]  # → (status, content type, body)

_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 400: "Bad Request", 503: "Service Unavailable"}
_MAX_REQUEST = 8192


class HealthHttpServer:
    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._handle, host, port, reuse_address=True)
        bound = self._server.sockets[0].getsockname()[1]
        log.info("http listening", host=host, port=bound)
        return int(bound)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            status, ctype, body = self._route(head)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        except Exception:
            log.exception("health route failed")
            status, ctype, body = 503, "text/plain", b"internal error\n"
        writer.write(
            f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    def _route(self, head: bytes) -> tuple[int, str, bytes]:
        if len(head) > _MAX_REQUEST:
            return 400, "text/plain", b"request too large\n"
        try:
            method, target, _version = head.split(b"\r\n", 1)[0].decode("ascii").split(" ", 2)
        except ValueError:
            return 400, "text/plain", b"bad request\n"
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"method not allowed\n"
        route = self.routes.get(target.split("?", 1)[0])
        if route is None:
            return 404, "text/plain", b"not found\n"
        return route()
