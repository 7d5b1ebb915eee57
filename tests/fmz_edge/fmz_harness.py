"""fmz_edge running in-process on a real NATS server, with the stand-in peer (``fmz_peer.py``) and two users.

alice may use ``ctp:000001`` and ``futu:281756457``; bob may use ``ctp:000002``. Both hold FMZ keys
issued by the real user store.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fmz_peer import Peer, new_market

from fmz_edge.service import FmzEdge
from tradebus.bus import connect
from tradebus.config import NatsConfig, load_config
from tradebus.users import UserStore


@dataclass
class Key:
    access_key: str
    secret_key: str
    last_nonce: int = 0

    def nonce(self) -> int:
        self.last_nonce = max(time.time_ns(), self.last_nonce + 1)
        return self.last_nonce


async def http(port: int, raw: bytes) -> tuple[int, bytes]:
    """Send raw bytes as one HTTP exchange on a new connection; return (status, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        return await read_response(reader)
    finally:
        writer.close()
        await writer.wait_closed()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 10)
    return status, body


def post_bytes(path: str, body: bytes, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


@dataclass
class Edge:
    service: FmzEdge
    peer: Peer
    alice: Key
    bob: Key
    port: int
    extra_headers: dict[str, str] = field(default_factory=dict)

    async def call(self, path: str, key: Key, method: str, params: dict[str, Any], *,
                   nonce: int | None = None, headers: str = "") -> dict[str, Any]:
        body = {"access_key": key.access_key, "method": method, "nonce": nonce or key.nonce(), "params": params,
                "secret_key": key.secret_key}
        status, answer = await http(self.port, post_bytes(path, json.dumps(body).encode(), headers))
        assert status == 200
        return json.loads(answer)


@pytest.fixture
async def edge(nats_server: Any, tmp_path: Path) -> AsyncIterator[Edge]:
    users_file = tmp_path / "users.json"
    store = UserStore(users_file)
    store.add("alice", "alice-password", ["ctp:000001", "futu:281756457"])
    store.add("bob", "bob-password-1", ["ctp:000002"])
    alice = Key(*store.issue_fmz_key("alice"))
    bob = Key(*store.issue_fmz_key("bob"))
    config = load_config(env={"TRADEBUS_NATS_URL": nats_server.url, "TRADEBUS_USERS_FILE": str(users_file),
                              "TRADEBUS_FMZ_PORT": "0", "TRADEBUS_FMZ_MD_WAIT_S": "1.0",
                              "TRADEBUS_FMZ_REQUEST_TIMEOUT_S": "2.0", "TRADEBUS_DATA_DIR": str(tmp_path)})
    from tradebus.bus import ensure_topology

    edge_bus = await connect(NatsConfig(url=nats_server.url, connect_timeout_s=2, reconnect_wait_s=0.2), "fmz_edge")
    peer_bus = await connect(NatsConfig(url=nats_server.url, connect_timeout_s=2, reconnect_wait_s=0.2), "peer")
    await ensure_topology(edge_bus.js, config.streams)
    peer = Peer(peer_bus, new_market(), {("ctp", "000001"): {"alice"}, ("futu", "281756457"): {"alice"},
                                         ("ctp", "000002"): {"bob"}})
    await peer.start()
    service = FmzEdge(config)
    service.bus = edge_bus
    await service.start()
    try:
        yield Edge(service=service, peer=peer, alice=alice, bob=bob, port=service.port)
    finally:
        await service.stop()
        await edge_bus.close()
        await peer_bus.close()
