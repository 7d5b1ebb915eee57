"""Bounded fuzz of auth_broker's WebSocket (a real ``python -m auth_broker`` supervising opend_sim):
thousands of seeded malformed frames, then the broker is healthy, still answers STATUS, still runs
one OpenD, and every line it printed is one of its own JSON records.

``INIT`` is left out of the templates: each one (re)starts OpenD, which is supervision, not parsing,
and is rate-limited on purpose (min_spawn_gap_s)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.request
from typing import Any

import websockets
from broker_harness import BrokerLauncher
from fuzz_inputs import frames
from websockets.exceptions import ConnectionClosed

from tradebus.natsd import free_port

COUNT = 3000
MAX_FRAME = 4096  # [auth] ws_max_frame
IGNORED = ("websocket frame ignored", "websocket message type ignored")
BUDGET_S = 30.0
TEMPLATES = [
    {"type": "STATUS"},
    {"type": "VERIFY_CODE", "code": "000000"},
    {"type": "VERIFY_PIC_CODE", "code": "abcd"},
    {"type": "REQUEST_CODE"},
]


async def _drain(ws: websockets.ClientConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for _ in ws:
            pass


async def _settled(broker: Any, timeout: float = 20) -> list[dict[str, Any]]:
    """The broker's "ignored" log events once their number stops growing (it has read every frame)."""
    deadline = time.monotonic() + timeout
    last = -1
    while True:
        seen = [e for e in broker.log_events() if e.get("event") in IGNORED]
        if len(seen) == last or time.monotonic() > deadline:
            return seen
        last = len(seen)
        await asyncio.sleep(0.3)  # polling another process's log, bounded by the deadline


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


async def test_fuzzing_the_broker_websocket_leaves_it_up_and_its_logs_its_own(brokers: BrokerLauncher) -> None:
    health_port = free_port()
    broker = await brokers.start("sms", auth={"ws_rate_per_s": 1e6, "ws_burst": 1_000_000},
                                 health_port=health_port)
    first = await broker.ws()
    await first.expect("REQUEST_CODE")
    started = time.monotonic()
    url = f"ws://127.0.0.1:{broker.ws_port}/"
    conn = await websockets.connect(url, open_timeout=10, max_size=2**20)
    reader = asyncio.create_task(_drain(conn))
    oversized = 0
    for frame in frames(1406, COUNT, TEMPLATES):
        if len(frame) > MAX_FRAME:  # closes its connection (1009) by design: sent on a connection of its own
            oversized += 1
            async with websockets.connect(url, open_timeout=10) as spare:
                await spare.send(frame)
                await asyncio.wait_for(spare.wait_closed(), 10)
                assert spare.close_code == 1009
            continue
        await conn.send(frame)
        assert time.monotonic() - started < BUDGET_S, "fuzz over its time budget"
    seen = await _settled(broker)
    await conn.close()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    assert len(seen) > COUNT * 0.3 and oversized > 0, (len(seen), oversized)
    # Still up: healthy, STATUS answered on the first connection, OpenD still supervised. (Whether the
    # right code now finishes the login depends on how long opend_sim takes over the fuzz's wrong
    # codes queued before it — login behaviour, covered by test_ws_scenarios.py, not parsing.)
    assert await asyncio.to_thread(_healthy, health_port)
    assert broker.proc.returncode is None
    await first.status()  # answered (raises when no STATUS comes)
    assert len(broker.alive_opend_pids()) == 1
    assert await broker.terminate() == 0
    for number, line in enumerate(broker.log_text().splitlines(), 1):
        record = json.loads(line)  # raises on a line that is not a JSON record
        assert isinstance(record, dict) and record.get("service") == "auth_broker", (number, line)
    assert not [r for r in broker.log_events() if r.get("level") == "error"]
