"""Two ``python -m td_exec`` processes on one bus: SIGSTOP the holder past its lease, then SIGCONT it.

The standby takes the account over; until then, commands routed to the stopped process meet silence and
are resent with the same client_order_id (the documented contract). Once the standby holds the account,
every command for it is answered, although the stopped process is still in the queue group: the holder
subscribes its accounts directly. Once woken, the old holder finds its lease taken and stands by — one
holder, never two.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import msgspec
from local_http import http_get
from polling import until_async
from td_process import TdProcess, submit_when_ready, td_exec_process

from tradebus.bus import Bus, RequestFailed, RequestTimeout
from tradebus.schemas import TRADE_REPLY_DECODER
from tradebus.schemas.orders import CommandAccepted, CommandDenied, SubmitOrder
from tradebus.subjects import td_cmd, td_lease_key

LEASE_S = 1.0


def order(coid: str) -> SubmitOrder:
    return msgspec.convert({"venue": "sim", "account": "SIM-FUT", "exchange": "SHFE", "symbol": "rb2601",
                            "side": "buy", "qty": 1, "price": 3000.0, "offset": "open", "order_type": "limit",
                            "client_order_id": coid}, SubmitOrder)


async def holder(bus: Bus) -> str:
    kv = await bus.js.key_value("td_leases")
    entry = await kv.get(td_lease_key("sim", "SIM-FUT"))
    return json.loads(entry.value or b"{}")["holder"]


async def venue_check(td: TdProcess) -> str:
    _, body = await http_get(td.health_port, "/healthz")
    return str(json.loads(body)["checks"].get("venue_sim", ""))


async def standing_by(td: TdProcess) -> bool:
    return (await venue_check(td)).startswith("ok, STANDBY")


async def test_sigstop_past_the_lease_then_sigcont_leaves_one_holder(nats_server, bus: Bus,  # type: ignore[no-untyped-def]
                                                                     tmp_path: Path) -> None:
    env = {"TRADEBUS_TD_LEASE_S": str(LEASE_S), "TRADEBUS_TD_SIM_TICK_S": "0"}
    async with td_exec_process(nats_server.url, tmp_path / "a", {**env, "TRADEBUS_TD_INSTANCE_ID": "a"}) as a:
        assert isinstance(await submit_when_ready(bus, order("st-0")), CommandAccepted), a.log_tail()
        async with td_exec_process(nats_server.url, tmp_path / "b", {**env, "TRADEBUS_TD_INSTANCE_ID": "b"}) as b:
            # its check says something else first (starting, connecting to the venue) on a busy machine
            await until_async(lambda: standing_by(b), 20, "b standing by", ignore=(OSError, ValueError, KeyError))
            assert await holder(bus) == "a"

            a.process.send_signal(signal.SIGSTOP)
            stopped_at = time.monotonic()
            try:
                # The client keeps trading: a command the server routes to the stopped process meets silence
                # and is sent again with the same client_order_id until an instance answers it.
                accepted: list[str] = []
                silent = denied = 0
                i = 0
                while len(accepted) < 5:
                    i += 1
                    coid = f"st-{i}"
                    while True:
                        try:
                            reply = await bus.request(td_cmd("sim", "SIM-FUT"), order(coid), TRADE_REPLY_DECODER,
                                                      timeout=1.0)
                        except (RequestTimeout, RequestFailed):
                            silent += 1
                            continue
                        if isinstance(reply, CommandAccepted):
                            accepted.append(coid)
                            break
                        assert isinstance(reply, CommandDenied) and reply.code == "reconciling", reply
                        denied += 1
                    assert time.monotonic() - stopped_at < 30, (b.log_tail(), accepted)
                resumed_s = time.monotonic() - stopped_at
                assert await holder(bus) == "b"
                # a is still frozen and still in the queue group (this server pings every 2 minutes), so the
                # queue hands it a share of the commands. b subscribes the account it holds directly: every
                # command for it is answered at once, none by silence, none twice.
                for i in range(20):
                    # One try each: silence (the frozen process's share) never ends, a slow answer does.
                    reply = await bus.request(td_cmd("sim", "SIM-FUT"), order(f"held-{i}"), TRADE_REPLY_DECODER,
                                              timeout=5.0)
                    assert isinstance(reply, CommandAccepted), (i, reply)
            finally:
                a.process.send_signal(signal.SIGCONT)

            # Awake again: its renewal is refused (the revision moved), it stands by; b keeps the account.
            await until_async(lambda: standing_by(a), 10 * LEASE_S, "a standing by after SIGCONT",
                              ignore=(OSError, ValueError, KeyError))
            assert await holder(bus) == "b" and (await venue_check(b)) == "ok"

            async def accepted_after() -> bool:  # reaching a, it is forwarded to b once a knows b holds it
                reply = await bus.request(td_cmd("sim", "SIM-FUT"), order("st-after"), TRADE_REPLY_DECODER, timeout=5)
                assert isinstance(reply, CommandAccepted | CommandDenied), reply
                assert isinstance(reply, CommandAccepted) or reply.code == "reconciling", reply
                return isinstance(reply, CommandAccepted)

            await until_async(accepted_after, 10 * LEASE_S, "an order accepted after a woke up")
            print(f"td-failover sigstop: resume_s={resumed_s:.2f} silent_retries={silent} reconciling={denied}")
