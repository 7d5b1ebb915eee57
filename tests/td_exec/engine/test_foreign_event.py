"""td_exec starts with a foreign message at the tail of TD_EVT (issue 14).

An operator publishing on ``td.evt.…`` by mistake (a development bus has no per-service users), or a
direct get whose reply subject was pointed into ``td.evt.…``, leaves a message in TD_EVT that td_exec
never wrote. The rebuild logs it once with its sequence, counts it, skips it, and the service starts
and serves commands; the orders it did write are rebuilt exactly (the relayed copy does not count twice).
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
from pathlib import Path

from local_http import http_get
from td_process import submit_when_ready, td_exec_process

from tradebus.bus import Bus
from tradebus.schemas import TRADE_REPLY_DECODER
from tradebus.schemas.orders import CommandAccepted, OrderStatus, QueryOrders, SubmitOrder
from tradebus.subjects import td_cmd, td_evt


def _submit(client_order_id: str) -> SubmitOrder:
    return SubmitOrder(venue="sim", account="SIM-FUT", exchange="SHFE", symbol="rb2601", side="buy", qty=2,  # type: ignore[arg-type]
                       order_type="market", offset="open", client_order_id=client_order_id)  # type: ignore[arg-type]


async def _stop(td) -> None:  # type: ignore[no-untyped-def]
    td.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(td.process.wait(), 15) == 0, td.log_tail()


async def test_td_exec_restarts_with_foreign_messages_at_the_tail_of_td_evt(nats_server, bus: Bus,  # type: ignore[no-untyped-def]
                                                                          tmp_path: Path) -> None:
    async with td_exec_process(nats_server.url, tmp_path) as td:
        reply = await submit_when_ready(bus, _submit("svc-1"))
        assert isinstance(reply, CommandAccepted) and reply.order.status is OrderStatus.FILLED, td.log_tail()
        await _stop(td)
    subject = td_evt("sim", "SIM-FUT", "svc-1")
    # A relayed copy: what a direct get stores when its reply subject points into td.evt.… (any reader
    # can do that): a real event with the headers the direct get adds. (Within TD_EVT's duplicate window
    # the server drops such a copy by its Nats-Msg-Id; after it, only td_exec's check stands.)
    first = await bus.js.get_msg("TD_EVT", 1)
    relayed = await bus.js.publish(subject, first.data, headers={"Nats-Stream": "MD", "Nats-Sequence": "7"})
    # Last, at the tail: an operator's mistake: not JSON, with a newline and an ANSI escape in it.
    mistake = await bus.js.publish(subject, b"oops\n\x1b[31mnot an event")
    assert (await bus.js.stream_info("TD_EVT")).state.last_seq == mistake.seq == relayed.seq + 1

    async with td_exec_process(nats_server.url, tmp_path) as td:
        reply = await submit_when_ready(bus, _submit("svc-2"))
        assert isinstance(reply, CommandAccepted), (reply, td.log_tail())
        orders = await bus.request(td_cmd("sim", "SIM-FUT"), QueryOrders(venue="sim", account="SIM-FUT"),
                                   TRADE_REPLY_DECODER)
        by_id = {o.client_order_id: o for o in orders.orders}  # type: ignore[union-attr]
        assert sorted(by_id) == ["svc-1", "svc-2"]
        assert by_id["svc-1"].filled_qty == 2  # the relayed copy of its submission was not folded
        status, body = await http_get(td.health_port, "/healthz")
        assert status == 200, body
        _, metrics = await http_get(td.health_port, "/metrics")
        assert re.search(rb"^tradebus_td_rebuild_skipped_total (\S+)$", metrics, re.M).group(1) in (b"2", b"2.0")  # type: ignore[union-attr]
        await _stop(td)
        skipped = [json.loads(line) for line in td.output.decode().splitlines()
                   if "foreign message in TD_EVT skipped" in line]
    assert sorted(entry["seq"] for entry in skipped) == [relayed.seq, mistake.seq]  # once each
    raw = next(e for e in skipped if e["seq"] == mistake.seq)
    assert "\n" not in raw["head"] and "\x1b" not in raw["head"]  # escaped before it reached the log
