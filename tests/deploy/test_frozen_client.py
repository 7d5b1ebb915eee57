"""A frozen process stops taking requests: the generated nats.conf makes nats-server drop a client that no
longer answers its pings, so a frozen member of a queue group (a td_exec under SIGSTOP, a paused VM) stops
swallowing its share of ``td.cmd`` within seconds, not after nats-server's default minutes.

Real nats-server with the repo's nats.conf, a real second process frozen with SIGSTOP, requests sent as the
edges send them (user ``ws_edge``) to a queue group both td_exec members serve.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import nats.errors
import pytest

from deploy.conftest import REPO, SecureNats, raw_client
from tradebus.bus.flush import flush_in_order
from tradebus.permissions import SERVER_PING_INTERVAL_S, SERVER_PING_MAX

pytestmark = pytest.mark.timeout(120)

SUBJECT = "td.cmd.ctp.000001"
QUEUE = "td_exec"
# The server drops a client at the ping tick after SERVER_PING_MAX unanswered pings: at most this long after
# the client's last word, plus one interval of slack for a loaded box.
DROPPED_WITHIN_S = (SERVER_PING_MAX + 2) * SERVER_PING_INTERVAL_S

MEMBER = """
import asyncio, os, sys
import nats
from tradebus.bus.flush import flush_in_order

async def main():
    nc = await nats.connect(sys.argv[1], user="td_exec", password=os.environ["PW"], allow_reconnect=False)
    async def answer(msg):
        await msg.respond(b"frozen-member")
    await nc.subscribe(sys.argv[2], queue=sys.argv[3], cb=answer)
    await flush_in_order(nc)
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def _asks(nc: nats.aio.client.Client, count: int) -> list[bytes | None]:
    """``count`` requests one after another: each answer, None for silence (0.5 s)."""
    answers: list[bytes | None] = []
    for _ in range(count):
        try:
            answers.append((await nc.request(SUBJECT, b"{}", timeout=0.5)).data)
        except nats.errors.TimeoutError:
            answers.append(None)
    return answers


async def test_a_frozen_queue_member_is_dropped_and_stops_taking_requests(secure_nats: SecureNats) -> None:
    env = {**os.environ, "PW": secure_nats.passwords["td_exec"], "PYTHONPATH": str(REPO / "libs")}
    member = await asyncio.create_subprocess_exec(sys.executable, "-c", MEMBER, secure_nats.url, SUBJECT, QUEUE,
                                                  stdout=asyncio.subprocess.PIPE, env=env)
    try:
        assert member.stdout is not None
        assert await asyncio.wait_for(member.stdout.readline(), 20) == b"ready\n"
        reports: list[str] = []
        async with raw_client(secure_nats, "td_exec", reports) as live, \
                raw_client(secure_nats, "ws_edge", reports) as edge:

            async def answer(msg: nats.aio.msg.Msg) -> None:
                await msg.respond(b"live-member")

            await live.subscribe(SUBJECT, queue=QUEUE, cb=answer)
            await flush_in_order(live)
            # Both members take requests before the freeze (the member process is really in the group).
            seen = set(await _asks(edge, 30))
            assert {b"live-member", b"frozen-member"} <= seen, seen

            os.kill(member.pid, signal.SIGSTOP)
            frozen_at = time.monotonic()
            silent = 0
            while True:  # until the server dropped the frozen member: every request answered by the live one
                answers = await _asks(edge, 10)
                if all(a == b"live-member" for a in answers):
                    break
                silent += answers.count(None)
                assert time.monotonic() - frozen_at < DROPPED_WITHIN_S, (
                    f"the frozen member still took requests {DROPPED_WITHIN_S}s after its freeze")
            dropped_after = time.monotonic() - frozen_at
            assert silent > 0, "no request ever reached the frozen member: nothing was tested"
            assert set(await _asks(edge, 20)) == {b"live-member"}
            print(f"frozen queue member dropped {dropped_after:.1f}s after SIGSTOP; {silent} requests met silence")
    finally:
        if member.returncode is None:  # still ours to stop, by pid
            os.kill(member.pid, signal.SIGCONT)
            member.kill()
        await asyncio.wait_for(member.wait(), 10)
