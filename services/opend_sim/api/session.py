"""One API client connection: its identity, what it registered for, and the way bytes leave it."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

from opend_sim.api import framing, pb

# stdlib logging: quiet (warnings to stderr) unless the process configures it, so nothing of ours
# mixes into the OpenD console on stdout; tradebus.logs routes it into structlog when configured
log = logging.getLogger("opend_sim.api")

# A slow reader must not make the server buffer without bound: past this it is dropped, as OpenD
# drops clients that stop reading.
MAX_WRITE_BUFFER = 32 * 1024 * 1024
PUSH_SERIAL = 0  # the client ignores push serials

# connID keys futu-api's process-global FutuConnMng, so ids stay unique across server restarts in
# one process (tests restart the server on the same port) by starting from the clock.
_conn_ids = itertools.count(int(time.time()) % 1_000_000 * 1000 + 1)


def next_conn_id() -> int:
    return next(_conn_ids)


class Session:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.conn_id = next_conn_id()
        self.writer = writer
        self.peer = str(writer.get_extra_info("peername"))
        self.ready = False  # InitConnect answered with success
        self.acc_push: frozenset[int] = frozenset()  # latest Trd_SubAccPush list
        self._deferred: list[tuple[int, bytes]] = []

    @property
    def closing(self) -> bool:
        return self.writer.is_closing()

    def send(self, proto_id: int, serial: int, msg: Any) -> None:
        self.send_raw(framing.pack(proto_id, serial, pb.serialize(msg)))

    def send_raw(self, packet: bytes) -> None:
        if self.writer.is_closing():
            return
        self.writer.write(packet)
        if self.writer.transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            log.warning("client %d (%s) is not reading, dropping it", self.conn_id, self.peer)
            self.writer.transport.abort()

    def push(self, proto_id: int, msg: Any) -> None:
        self.send(proto_id, PUSH_SERIAL, msg)

    def defer_push(self, proto_id: int, msg: Any) -> None:
        """Queue a push caused by the request being answered; it leaves right after the reply."""
        self._deferred.append((proto_id, framing.pack(proto_id, PUSH_SERIAL, pb.serialize(msg))))

    def flush_deferred(self) -> None:
        pending, self._deferred = self._deferred, []
        for _proto_id, packet in pending:
            self.send_raw(packet)
