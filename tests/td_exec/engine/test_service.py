"""``python -m td_exec`` as a real process with only the sim venue: a submit over the bus, health, clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from tradebus.bus import Bus, RequestFailed
from tradebus.natsd import free_port
from tradebus.schemas import TRADE_REPLY_DECODER
from tradebus.schemas.orders import CommandAccepted, CommandDenied, OrderStatus, QueryOrders, SubmitOrder
from tradebus.subjects import td_cmd

ROOT = Path(__file__).resolve().parents[3]


async def _http_get(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


async def _submit_when_ready(bus: Bus, cmd: SubmitOrder, timeout: float = 20.0) -> object:
    """Retry while the service is starting (no responders) or reconciling; anything else is the answer."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            reply = await bus.request(td_cmd("sim", "SIM-FUT"), cmd, TRADE_REPLY_DECODER, timeout=5)
            if not (isinstance(reply, CommandDenied) and reply.code in {"reconciling", "venue_disconnected"}):
                return reply
        except RequestFailed:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("td_exec did not become ready")
        await asyncio.sleep(0.1)


async def test_td_exec_process_with_sim_venue_returns_filled_market_order(nats_server, bus: Bus,  # type: ignore[no-untyped-def]
                                                                          tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "TRADEBUS_NATS_URL": nats_server.url, "TRADEBUS_DATA_DIR": str(tmp_path),
           "TRADEBUS_LOG_FORMAT": "json", "TRADEBUS_TD_FUTU": "0", "TRADEBUS_TD_CTP": "0", "TRADEBUS_TD_SIM": "1",
           "TRADEBUS_TD_SIM_TICK_S": "0.2",
           # services/ on the path: a checkout whose editable install predates td_exec still runs it
           "PYTHONPATH": os.pathsep.join([str(ROOT / "services"), str(ROOT / "libs"),
                                          os.environ.get("PYTHONPATH", "")])}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "td_exec", "--health-port", str(port), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output = bytearray()

    async def collect() -> None:
        assert process.stdout is not None
        while chunk := await process.stdout.read(4096):
            output.extend(chunk)

    collector = asyncio.create_task(collect())
    try:
        cmd = SubmitOrder(venue="sim", account="SIM-FUT", exchange="SHFE", symbol="rb2601", side="buy", qty=2,  # type: ignore[arg-type]
                          order_type="market", offset="open", client_order_id="svc-1")  # type: ignore[arg-type]
        reply = await _submit_when_ready(bus, cmd)
        assert isinstance(reply, CommandAccepted), (reply, output.decode(errors="replace")[-2000:])
        assert reply.order.status is OrderStatus.FILLED and reply.order.filled_qty == 2
        orders = await bus.request(td_cmd("sim", "SIM-FUT"), QueryOrders(venue="sim", account="SIM-FUT"),
                                   TRADE_REPLY_DECODER)
        assert [o.client_order_id for o in orders.orders] == ["svc-1"]  # type: ignore[union-attr]
        status, body = await _http_get(port, "/healthz")
        assert status == 200, body
        checks = json.loads(body)["checks"]
        assert checks["venue_sim"] == "ok" and checks["spool"] == "ok"
        _, metrics = await _http_get(port, "/metrics")
        assert b'tradebus_td_events_total{kind="OrderFilled"}' in metrics
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        with contextlib.suppress(Exception):
            await collector
