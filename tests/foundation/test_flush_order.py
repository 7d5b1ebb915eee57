"""flush_in_order: its PING reaches nats-server after every command queued before it.

A relay between a nats-py client and a real nats-server records what the client writes, in the order the
server reads it. nats-py's own ``flush()`` is recorded too: it writes its PING ahead of a SUB still waiting
for the flusher task, which is why tradebus does not rely on it. If a nats-py release fixes that, the
second test fails and says so, and :mod:`tradebus.bus.flush` can go.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlparse

import nats
from nats.aio.client import Client

from tradebus.bus.flush import flush_in_order

PING = b"PING\r\n"


class RecordingRelay:
    """Forwards one TCP connection to nats-server; keeps the bytes the client sent.

    With ``lag_after_ping_s`` set it plays a busy server that reads a PING, answers it, and reads what
    follows a moment later: the bytes behind each PING are held back that long.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.sent = bytearray()
        self.lag_after_ping_s = 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self.upstream)
        for task in (self._pipe(client_r, server_w, self.sent), self._pipe(server_r, client_w, None)):
            running = asyncio.create_task(task)
            self._tasks.add(running)
            running.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, record: bytearray | None) -> None:
        try:
            while chunk := await src.read(65536):
                if record is not None:
                    record.extend(chunk)
                    cut = chunk.find(PING)
                    if self.lag_after_ping_s and cut != -1 and cut + len(PING) < len(chunk):
                        dst.write(chunk[:cut + len(PING)])
                        await dst.drain()
                        await asyncio.sleep(self.lag_after_ping_s)  # the slow read this relay stands for
                        chunk = chunk[cut + len(PING):]
                dst.write(chunk)
                await dst.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            dst.close()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@asynccontextmanager
async def relayed_client(nats_server: Any) -> AsyncIterator[tuple[Client, RecordingRelay]]:
    url = urlparse(nats_server.url)
    relay = RecordingRelay(url.hostname or "127.0.0.1", url.port or 4222)
    port = await relay.start()
    nc = await nats.connect(f"nats://127.0.0.1:{port}", allow_reconnect=False)
    try:
        await nc.flush()  # the handshake's own PING/PONG is done before a test starts recording
        yield nc, relay
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
        await relay.stop()


async def _server_read_so_far(relay: RecordingRelay, nc: Client, after: bytes) -> bytes:
    """What the client has written since ``after`` was the whole record, once a last round trip is done."""
    await flush_in_order(nc, 5)
    return bytes(relay.sent[len(after):])


async def test_flush_in_order_sends_the_pending_sub_before_its_ping(nats_server: Any) -> None:
    async with relayed_client(nats_server) as (nc, relay):
        before = bytes(relay.sent)
        await nc.subscribe("order.check")
        await nc.publish("order.check", b"x")
        await flush_in_order(nc, 5)
        wire = bytes(relay.sent[len(before):])
        sub, pub, ping = wire.find(b"SUB order.check"), wire.find(b"PUB order.check"), wire.find(PING)
        assert -1 not in (sub, pub, ping), wire
        assert sub < pub < ping, wire


async def test_nats_py_flush_alone_may_send_its_ping_first(nats_server: Any) -> None:
    """The behaviour flush_in_order exists for, recorded on the wire (see the module docstring)."""
    async with relayed_client(nats_server) as (nc, relay):
        before = bytes(relay.sent)
        await nc.subscribe("order.check")
        await nc.flush(timeout=5)
        wire = await _server_read_so_far(relay, nc, before)
        first_ping, sub = wire.find(PING), wire.find(b"SUB order.check")
        assert -1 not in (first_ping, sub), wire
        assert first_ping < sub, (
            "nats-py's flush() now writes pending commands before its PING; tradebus.bus.flush may go", wire)


async def test_a_subscription_confirmed_in_order_gets_another_connections_next_message(
        nats_server: Any) -> None:
    """The case a CI run lost: subscribe on one connection, confirm, publish from another at once, with the
    server slow to read what follows a PING. With nats-py's flush() the message is lost here."""
    publisher = await nats.connect(nats_server.url, allow_reconnect=False)
    try:
        async with relayed_client(nats_server) as (nc, relay):
            relay.lag_after_ping_s = 0.5
            sub = await nc.subscribe("order.cross")
            await flush_in_order(nc, 5)
            await publisher.publish("order.cross", b"tick")
            await flush_in_order(publisher, 5)
            assert (await sub.next_msg(timeout=2)).data == b"tick"
    finally:
        await publisher.close()
