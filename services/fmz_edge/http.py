"""A small, strict HTTP/1.1 server on asyncio streams for the FMZ docker's POSTs.

Why our own: the docker only ever sends ``POST /<label>`` with a ``Content-Length`` JSON body (and
``GET`` by mistake), so a full framework buys nothing, aiohttp is not a dependency, and the
``websockets`` library's HTTP layer only parses GET upgrade requests. What this server does:

* request line + headers up to ``max_header_bytes``, each line ended by CRLF or a bare LF (HTTP/1.1
  lets a server take LF alone; some clients send it), a CR anywhere else refused; ``Content-Length``
  bodies only — a
  ``Transfer-Encoding`` (chunked) request is refused, so body framing can never be ambiguous;
* a body larger than ``max_body_bytes`` is refused without being read, and the connection closed;
* keep-alive (HTTP/1.1 default, ``Connection: close`` honoured; HTTP/1.0 closes), idle timeout;
* every answer the handler gives is HTTP 200 ``application/json`` (FMZ reads the body); only
  unparseable HTTP gets a 400 and a closed connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tradebus.logs import get_logger

log = get_logger("fmz_edge.http")

_REASONS = {200: "OK", 400: "Bad Request"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    peer: str


Handler = Callable[[Request], Awaitable[bytes]]  # → JSON body, always sent with status 200
Refusal = Callable[[str], bytes]  # message → JSON error body


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class _EndOfStream(Exception):
    """The client closed the connection between requests."""


class HttpServer:
    def __init__(self, handler: Handler, refusal: Refusal, *, max_body: int, max_header: int,
                 idle_timeout: float) -> None:
        self.handler = handler
        self.refusal = refusal
        self.max_body = max_body
        self.max_header = max_header
        self.idle_timeout = idle_timeout
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._serve, host, port, reuse_address=True,
                                                  limit=self.max_header + 1024)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peername = writer.get_extra_info("peername")
        peer = str(peername[0]) if peername else ""  # the address alone: key checks are throttled per address
        try:
            while await self._one(reader, writer, peer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> bool:
        """Serve one request; True when the connection stays open for another."""
        try:
            head = await asyncio.wait_for(_read_head(reader, self.max_header), self.idle_timeout)
        except _EndOfStream:
            return False
        except BadRequest as exc:
            await self._send(writer, exc.status, self.refusal(str(exc)), keep=False)
            return False
        try:
            method, path, version, headers = _parse_head(head)
            keep = _keep_alive(version, headers)
            length = _content_length(method, headers)
        except BadRequest as exc:
            await self._send(writer, exc.status, self.refusal(str(exc)), keep=False)
            await _linger(reader, writer)
            return False
        if length > self.max_body:
            # Refused unread: answer, then close, since the unread body would be taken for a request.
            too_big = self.refusal(f"request body too large: {length} bytes (limit {self.max_body})")
            await self._send(writer, 200, too_big, keep=False)
            await _linger(reader, writer)
            return False
        body = await asyncio.wait_for(reader.readexactly(length), self.idle_timeout) if length else b""
        request = Request(method=method, path=path, headers=headers, body=body, peer=peer)
        answer = await self.handler(request)
        await self._send(writer, 200, answer, keep=keep)
        return keep

    async def _send(self, writer: asyncio.StreamWriter, status: int, body: bytes, *, keep: bool) -> None:
        writer.write(
            f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\n"
            "Content-Type: application/json; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n".encode() + body
        )
        await writer.drain()


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Half-close and discard what the client is still sending (bounded), so closing with unread data
    does not reset the connection before the client has read our answer."""
    with contextlib.suppress(Exception):
        if writer.can_write_eof():
            writer.write_eof()
        deadline = asyncio.get_running_loop().time() + 1.0
        discarded = 0
        while discarded < 1 << 20:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            chunk = await asyncio.wait_for(reader.read(65536), left)
            if not chunk:
                break
            discarded += len(chunk)


async def _read_head(reader: asyncio.StreamReader, max_header: int) -> list[str]:
    """The request line and header lines, up to the empty line; CRLF and bare LF both end a line.
    Empty lines before the request line are skipped (HTTP/1.1 asks servers to). The head as a whole
    is bounded by ``max_header`` bytes."""
    lines: list[str] = []
    size = 0
    too_big = BadRequest(f"request headers larger than {max_header} bytes")
    while True:
        try:
            raw = await reader.readline()
        except ValueError:  # one line beyond the reader's limit
            raise too_big from None
        size += len(raw)
        if size > max_header:
            raise too_big
        if not raw.endswith(b"\n"):  # the stream ended
            if lines or raw.strip():
                raise BadRequest("incomplete HTTP request")
            raise _EndOfStream
        line = raw[:-1].removesuffix(b"\r")
        if b"\r" in line:
            raise BadRequest("a bare CR in the request head")
        if not line:
            if lines:
                return lines
            continue
        lines.append(line.decode("latin-1"))


def _parse_head(lines: list[str]) -> tuple[str, str, str, dict[str, str]]:
    parts = lines[0].rstrip(" \t").split(" ")  # trailing blanks after the version are harmless; FMZ's guide shows one
    if len(parts) != 3 or not parts[0].isalpha() or not parts[1].startswith("/") \
            or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadRequest(f"malformed request line {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(f"malformed header line {line[:80]!r}")
        key = name.lower()
        if key == "content-length" and key in headers:
            raise BadRequest("repeated Content-Length header")
        headers[key] = value.strip()
    return parts[0].upper(), parts[1], parts[2], headers


def _keep_alive(version: str, headers: dict[str, str]) -> bool:
    connection = headers.get("connection", "").lower()
    if version == "HTTP/1.0":
        return connection == "keep-alive"
    return connection != "close"


def _content_length(method: str, headers: dict[str, str]) -> int:
    if "transfer-encoding" in headers:
        raise BadRequest("Transfer-Encoding is not supported; send a Content-Length body")
    raw = headers.get("content-length")
    if raw is None:
        if method == "POST":
            raise BadRequest("POST without Content-Length")
        return 0
    if not raw.isdigit():
        raise BadRequest(f"bad Content-Length {raw[:20]!r}")
    return int(raw)
