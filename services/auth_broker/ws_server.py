"""The WebSocket in ``ostai/futuopend``'s protocol, byte for byte (docs/auth_broker.md, 'The WebSocket').

Downstream frames are compact JSON text, exactly what Node's ``JSON.stringify`` produced:
``{"type":"REQUEST_CODE"}``, ``{"type":"CONNECTED"}``, ``{"type":"CLOSED"}``,
``{"type":"STATUS","status":1}``. Upstream: ``INIT``, ``STATUS``, ``VERIFY_CODE`` (and, only with
``pic_codes``, ``VERIFY_PIC_CODE``). Any path is accepted, as ostai's server has none.

What ostai lacked: bound to 127.0.0.1 unless configured; a ``?token=`` when one is configured; a
malformed frame is logged (never its content) and ignored; frames are rate-limited per client and
size-limited (an oversized frame closes that connection with 1009); closed clients are forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import json
from http import HTTPStatus
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tradebus.config_sections.auth import AuthConfig, is_loopback
from tradebus.logs import get_logger
from tradebus.ratelimit import TokenBucket

log = get_logger("auth_broker.ws")

UPSTREAM_TYPES = ("INIT", "STATUS", "VERIFY_CODE", "VERIFY_PIC_CODE")
FLOOD_CLOSE_AFTER = 200  # frames dropped in a row by the rate limit: the client is not a person typing


class Broker(Protocol):
    """What the server asks of the broker."""

    def ws_status(self) -> int: ...
    def ws_on_connect(self) -> list[dict[str, object]]: ...
    def ws_init(self, client: str) -> None: ...
    def ws_verify_code(self, code: str, client: str) -> None: ...
    def ws_verify_pic_code(self, code: str, client: str) -> None: ...


def encode(message: dict[str, object]) -> str:
    """Node's JSON.stringify: no spaces, non-ASCII kept as is, key order as given."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


class BadFrame(Exception):
    """Why a frame was ignored; the text never includes the frame's content."""


def parse_frame(data: str | bytes) -> dict[str, object]:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadFrame("binary frame that is not UTF-8") from None
    try:
        message = json.loads(data)
    except (ValueError, RecursionError):
        raise BadFrame("not JSON") from None
    if not isinstance(message, dict):
        raise BadFrame("JSON but not an object")
    kind = message.get("type")
    if not isinstance(kind, str):
        raise BadFrame("no string 'type'")
    return message


class OstaiServer:
    def __init__(self, config: AuthConfig, broker: Broker) -> None:
        self._config = config
        self._broker = broker
        self._clients: dict[ServerConnection, str] = {}
        self._server: Server | None = None
        self._ids = itertools.count(1)
        self.frames_bad = 0
        self.frames_limited = 0

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(next(iter(self._server.sockets)).getsockname()[1])

    @property
    def client_count(self) -> int:
        return len(self._clients)

    async def start(self) -> None:
        self._server = await serve(
            self._session, self._config.ws_host, self._config.ws_port,
            process_request=self._admit, max_size=self._config.ws_max_frame,
            max_queue=4, compression=None, ping_interval=20, ping_timeout=20,
        )
        log.info("websocket listening", host=self._config.ws_host, port=self.port,
                 clients_must_present="token" if self._config.token else "nothing")

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 3.0)

    # ------------------------------------------------------------------ admission
    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        token = self._config.token
        if token:
            given = parse_qs(urlsplit(request.path).query).get("token", [""])[0]
            if not hmac.compare_digest(given.encode(), token.reveal().encode()):
                log.warning("websocket client refused: bad or missing token", remote=_remote(connection))
                return connection.respond(HTTPStatus.UNAUTHORIZED, "token required\n")
        elif not is_loopback(_remote_host(connection)):
            # The config refuses a non-loopback ws_host without a token; this holds even if it did not.
            log.warning("websocket client refused: not loopback and no token configured", remote=_remote(connection))
            return connection.respond(HTTPStatus.FORBIDDEN, "only loopback clients without a token\n")
        if len(self._clients) >= self._config.ws_max_clients:
            log.warning("websocket client refused: too many clients", remote=_remote(connection))
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "too many clients\n")
        return None

    # ------------------------------------------------------------------ sessions
    async def _session(self, connection: ServerConnection) -> None:
        client = f"ws#{next(self._ids)}@{_remote(connection)}"
        self._clients[connection] = client
        log.info("websocket client connected", client=client, clients=len(self._clients))
        bucket = TokenBucket(self._config.ws_rate_per_s, float(self._config.ws_burst))
        dropped_in_a_row = 0
        try:
            for message in self._broker.ws_on_connect():
                await connection.send(encode(message))
            async for frame in connection:
                if not bucket.take():
                    self.frames_limited += 1
                    dropped_in_a_row += 1
                    if dropped_in_a_row == 1:
                        log.warning("websocket client over its frame rate; frames dropped", client=client)
                    if dropped_in_a_row >= FLOOD_CLOSE_AFTER:
                        log.warning("websocket client flooding; closing it", client=client)
                        await connection.close(1008, "rate limit")
                        return
                    continue
                dropped_in_a_row = 0
                await self._on_frame(connection, client, frame)
        except ConnectionClosed as exc:
            if exc.rcvd is None and exc.sent is not None and exc.sent.code == 1009:
                log.warning("websocket client sent an oversized frame; closed", client=client,
                            max_bytes=self._config.ws_max_frame)
        finally:
            self._clients.pop(connection, None)
            log.info("websocket client gone", client=client, clients=len(self._clients))

    async def _on_frame(self, connection: ServerConnection, client: str, frame: str | bytes) -> None:
        try:
            message = parse_frame(frame)
        except BadFrame as exc:
            self.frames_bad += 1
            log.warning("websocket frame ignored", client=client, problem=str(exc), size=len(frame))
            return
        kind = message["type"]
        if kind == "STATUS":
            await connection.send(encode({"type": "STATUS", "status": self._broker.ws_status()}))
        elif kind == "INIT":
            self._broker.ws_init(client)
        elif kind == "VERIFY_CODE":
            self._broker.ws_verify_code(_code_of(message), client)
        elif kind == "VERIFY_PIC_CODE" and self._config.pic_codes:
            self._broker.ws_verify_pic_code(_code_of(message), client)
        else:
            self.frames_bad += 1
            log.warning("websocket message type ignored", client=client,
                        type=kind[:32] if kind in UPSTREAM_TYPES else "unknown")

    def broadcast(self, message: dict[str, object]) -> None:
        broadcast(list(self._clients), encode(message))


def _code_of(message: dict[str, object]) -> str:
    code = message.get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        code = str(code)  # ostai wrote whatever it got; a JSON number 123456 worked there
    return code if isinstance(code, str) else ""


def _remote_host(connection: ServerConnection) -> str:
    address = connection.remote_address
    return str(address[0]) if address else ""


def _remote(connection: ServerConnection) -> str:
    address = connection.remote_address
    return f"{address[0]}:{address[1]}" if address else "?"
