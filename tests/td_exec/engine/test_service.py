"""``python -m td_exec`` as a real process with only the sim venue: a submit over the bus, health, clean stop."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

from local_http import http_get
from td_process import submit_when_ready, td_exec_process

from tradebus.bus import Bus
from tradebus.schemas import TRADE_REPLY_DECODER
from tradebus.schemas.orders import CommandAccepted, OrderStatus, QueryOrders, SubmitOrder
from tradebus.subjects import td_cmd


async def test_td_exec_process_with_sim_venue_returns_filled_market_order(nats_server, bus: Bus,  # type: ignore[no-untyped-def]
                                                                          tmp_path: Path) -> None:
    async with td_exec_process(nats_server.url, tmp_path) as td:
        cmd = SubmitOrder(venue="sim", account="SIM-FUT", exchange="SHFE", symbol="rb2601", side="buy", qty=2,  # type: ignore[arg-type]
                          order_type="market", offset="open", client_order_id="svc-1")  # type: ignore[arg-type]
        reply = await submit_when_ready(bus, cmd)
        assert isinstance(reply, CommandAccepted), (reply, td.log_tail())
        assert reply.order.status is OrderStatus.FILLED and reply.order.filled_qty == 2
        orders = await bus.request(td_cmd("sim", "SIM-FUT"), QueryOrders(venue="sim", account="SIM-FUT"),
                                   TRADE_REPLY_DECODER)
        assert [o.client_order_id for o in orders.orders] == ["svc-1"]  # type: ignore[union-attr]
        status, body = await http_get(td.health_port, "/healthz")
        assert status == 200, body
        checks = json.loads(body)["checks"]
        assert checks["venue_sim"] == "ok" and checks["spool"] == "ok"
        _, metrics = await http_get(td.health_port, "/metrics")
        assert b'tradebus_td_events_total{kind="OrderFilled"}' in metrics
        td.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(td.process.wait(), 15) == 0
