"""The login state of an OpenD that tradebus does not run, read from OpenD's own API.

An OpenD run elsewhere (another host, a container, a desktop OpenD) has no console for us to read, so
its state comes from the API port every client uses: connect, ``InitConnect`` (1001), then
``GetGlobalState`` (1002) every ``poll_s`` and whenever OpenD pushes a ``Notify`` (1003). The answer's
``qotLogined`` and ``trdLogined`` decide:

* nothing listens, or the connection drops: ``CLOSED``;
* OpenD answers but refuses ``InitConnect`` (it does so until its own login is done) or reports a
  flag false: ``INITIALIZING``, with OpenD's words as the reason;
* both flags true: ``CONNECTED``.

The wire format (docs/auth_broker.md, "External OpenD") is OpenD's: a 44-byte little-endian header
(``FT``, proto id, format 0 = protobuf, version, serial, body length, SHA1 of the body, 8 reserved
bytes) and a protobuf body, built with futu-api's message classes. Text from OpenD is shortened and
never trusted beyond being a reason string.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from tradebus.futu import frame
from tradebus.futu.frame import GET_GLOBAL_STATE, INIT_CONNECT, KEEP_ALIVE, NOTIFY
from tradebus.futu.loader import import_futu
from tradebus.logs import get_logger
from tradebus.schemas.auth import AuthState

log = get_logger("tradebus.opend_login")

MAX_BODY = 1 << 20  # no answer of these protos comes near; a bigger length is a broken stream
MAX_REASON = 200
CLIENT_ID = "tradebus"
CLIENT_VER = 300


class OpenDProtocolError(Exception):
    """OpenD sent something this client cannot read; the connection is dropped and retried."""


@dataclass(frozen=True)
class LoginView:
    state: AuthState
    reason: str


def _short(text: str) -> str:
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    return printable[:MAX_REASON]


class _Wire:
    """One API connection: framed requests out; one reader routes replies by serial, pushes to ``on_push``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pb: dict[int, Any],
                 on_push: Callable[[int, Any], None]) -> None:
        self.reader = reader
        self.writer = writer
        self.pb = pb
        self.on_push = on_push
        self._serials = itertools.count(int.from_bytes(os.urandom(2), "little") + 1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self.pump = asyncio.ensure_future(self._pump())

    async def request(self, proto: int, request: Any, timeout: float) -> Any:
        body = request.SerializeToString()
        serial = next(self._serials) & 0xFFFFFFFF
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[serial] = reply
        try:
            self.writer.write(frame.pack(proto, serial, body))
            await self.writer.drain()
            await asyncio.wait([reply, self.pump], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if reply.done():
                return reply.result()
            if self.pump.done():
                self.pump.result()  # raises what ended the connection
            raise TimeoutError(f"proto {proto}: no answer within {timeout:g}s")
        finally:
            self._waiting.pop(serial, None)

    async def _pump(self) -> None:
        """Read frames until the connection ends; the end (or a bad frame) is raised to the waiter."""
        while True:
            proto, serial, response = await self._receive()
            waiter = self._waiting.get(serial)
            if waiter is not None and not waiter.done():
                waiter.set_result(response)
            else:
                self.on_push(proto, response)

    async def _receive(self) -> tuple[int, int, Any]:
        try:
            proto, fmt, serial, length, sha1 = frame.unpack_header(await self.reader.readexactly(frame.HEADER_SIZE),
                                                                   MAX_BODY)
        except frame.FrameError as exc:
            raise OpenDProtocolError(f"not an OpenD frame ({exc})") from exc
        body = await self.reader.readexactly(length)
        if not frame.body_matches(body, sha1):
            raise OpenDProtocolError(f"proto {proto}: body SHA1 mismatch")
        if fmt != 0:
            raise OpenDProtocolError(f"proto {proto}: format {fmt} (only protobuf is asked for)")
        module = self.pb.get(proto)
        response = module.Response() if module is not None else None
        if response is not None:
            response.ParseFromString(body)
        return proto, serial, response

    async def close(self) -> None:
        self.pump.cancel()
        with contextlib.suppress(BaseException):
            await self.pump
        self.writer.close()


def _pb_modules(futu_home: str) -> dict[int, Any]:
    import_futu(futu_home)  # keeps futu-api from taking over HOME and SIGINT on import
    from futu.common.pb import GetGlobalState_pb2, InitConnect_pb2, KeepAlive_pb2, Notify_pb2

    modules: dict[int, ModuleType] = {INIT_CONNECT: InitConnect_pb2, GET_GLOBAL_STATE: GetGlobalState_pb2,
                                      NOTIFY: Notify_pb2, KEEP_ALIVE: KeepAlive_pb2}
    return modules


class OpenDLoginWatch:
    """Follow the login of the OpenD at ``host:port`` through its API; see the module text."""

    def __init__(self, host: str, port: int, *, futu_home: str, poll_s: float = 5.0, timeout_s: float = 10.0,
                 retry_s: float = 3.0) -> None:
        self.host = host
        self.port = port
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self.retry_s = retry_s
        self._pb = _pb_modules(futu_home)
        self._wake = asyncio.Event()

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    async def views(self) -> AsyncIterator[LoginView]:
        """The login state now, then every change, forever (reconnecting as needed)."""
        last: LoginView | None = None
        async for view in self._raw_views():
            if view != last:
                last = view
                yield view

    async def _raw_views(self) -> AsyncIterator[LoginView]:
        while True:
            try:
                async with asyncio.timeout(self.timeout_s):
                    reader, writer = await asyncio.open_connection(self.host, self.port)
            except (OSError, TimeoutError) as exc:
                yield LoginView(AuthState.CLOSED, _short(f"OpenD not reachable at {self.where}: "
                                                         f"{getattr(exc, 'strerror', None) or type(exc).__name__}"))
                await asyncio.sleep(self.retry_s)  # reconnect pause
                continue
            wire = _Wire(reader, writer, self._pb, self._on_push)
            try:
                async for view in self._session(wire):
                    yield view
            except (OSError, TimeoutError, asyncio.IncompleteReadError, OpenDProtocolError) as exc:
                yield LoginView(AuthState.CLOSED, _short(f"connection to OpenD at {self.where} lost: "
                                                         f"{str(exc) or type(exc).__name__}"))
            finally:
                await wire.close()
            await asyncio.sleep(self.retry_s)  # reconnect pause

    async def _session(self, wire: _Wire) -> AsyncIterator[LoginView]:
        init = self._pb[INIT_CONNECT].Request()
        c2s = init.c2s
        c2s.clientVer, c2s.clientID, c2s.recvNotify = CLIENT_VER, CLIENT_ID, True
        c2s.packetEncAlgo, c2s.pushProtoFmt, c2s.programmingLanguage = -1, 0, "Python"
        reply = await wire.request(INIT_CONNECT, init, self.timeout_s)
        if reply is None or reply.retType != 0:
            why = reply.retMsg if reply is not None else "no answer"
            yield LoginView(AuthState.INITIALIZING, _short(f"OpenD refuses API clients: {why}"))
            return  # OpenD closes or ignores such a connection; connect again after the pause
        user_id = reply.s2c.loginUserID
        while True:
            query = self._pb[GET_GLOBAL_STATE].Request()
            query.c2s.userID = user_id
            yield self._view_of(await wire.request(GET_GLOBAL_STATE, query, self.timeout_s))
            self._wake.clear()
            # Until the next poll: a Notify push wakes us at once; a dropped connection ends the wait.
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait([woken, wire.pump], timeout=self.poll_s, return_when=asyncio.FIRST_COMPLETED)
            finally:
                woken.cancel()
            if wire.pump.done():
                wire.pump.result()  # raises what ended the connection

    def _on_push(self, proto: int, response: Any) -> None:
        if proto == NOTIFY:
            log.info("opend notify", type=getattr(getattr(response, "s2c", None), "type", None))
            self._wake.set()

    def _view_of(self, response: Any) -> LoginView:
        if response.retType != 0:
            return LoginView(AuthState.INITIALIZING, _short(f"GetGlobalState refused: {response.retMsg}"))
        qot, trd = bool(response.s2c.qotLogined), bool(response.s2c.trdLogined)
        if qot and trd:
            return LoginView(AuthState.CONNECTED, "OpenD reports quote and trade logged in")
        return LoginView(AuthState.INITIALIZING, f"OpenD not logged in (quote {qot}, trade {trd})")
