"""Log forging and password guessing against ws_edge over real sockets (issue 14).

* A login name carrying a newline, ANSI escapes and a NUL, sent to a real ``python -m ws_edge``
  process on /td/, /md/ and the console WebSocket: every line the process printed is one of its own
  JSON records, and ``tradebus up``'s printer shows none of them as a forged line.
* Twenty parallel guesses from one address are not all evaluated; the right password from another
  address works while the guessing address is throttled (127.0.0.2 is a second loopback address).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from service_process import port_open, service_env, start_service
from websockets.asyncio.client import connect
from ws_harness import PASSWORDS, build_stack, close_stack, ws_config

from tradebus.cli.render import LinePrinter
from tradebus.natsd import free_port
from tradebus.users import UserStore

FORGED = "alice\nws_edge      | info    login  user=FORGEDADMIN\r\x1b[2K\x1b[31mx\x00\u2028"
CONTROL = ("\n", "\r", "\x1b", "\x00", "\u2028")


async def _exchange(url: str, frame: dict[str, Any], **kw: Any) -> Any:
    async with connect(url, compression=None, **kw) as ws:
        await ws.send(json.dumps(frame))
        return json.loads(await asyncio.wait_for(ws.recv(), 10))


async def test_a_forged_login_name_forges_no_log_line(nats_server: Any, tmp_path: Path) -> None:
    UserStore(tmp_path / "users.json").add("alice", PASSWORDS["alice"], ["sim:SIM-FUT"])
    port = free_port()
    env = service_env(nats_server.url, tmp_path, TRADEBUS_WS_MD_PORT=str(port), TRADEBUS_WS_TD_PORT="0",
                      TRADEBUS_WS_LOGIN_FAIL_BASE_DELAY_S="0.01", TRADEBUS_WS_FUTURES_VENUE="sim")
    edge = await start_service("ws_edge", env, tmp_path, lambda: port_open(port))
    try:
        base = f"ws://127.0.0.1:{port}"
        login = {"MsgType": "ReqUserLogin", "RequestID": 1, "ReqUserLogin": {"UserID": FORGED, "Password": "x"}}
        assert (await _exchange(f"{base}/td/", login))["RspInfo"]["ErrorID"] != 0
        assert (await _exchange(f"{base}/md/", login))["RspInfo"]["ErrorID"] != 0
        # Fields the edge echoes or logs: an instrument id and a frame type from outside.
        await _exchange(f"{base}/md/", {"MsgType": f"Req{FORGED}"})
        console = await _exchange(f"{base}/console/ws", {"type": "login", "user": FORGED[:60], "password": "x"},
                                  origin=f"http://127.0.0.1:{port}")
        assert console["type"] == "login_failed"
        assert edge.healthy()
    finally:
        assert await edge.stop() == 0
    records = edge.records()  # asserts every line is one of ws_edge's own JSON records
    failed = [r for r in records if r["event"] == "login failed"]
    assert len(failed) >= 3 and all("FORGEDADMIN" in r["user"] for r in failed)
    for record in records:  # the values themselves, not only their JSON encoding, carry no control character
        assert not any(ch in str(value) for value in record.values() for ch in CONTROL), record
    printer = LinePrinter(colour=False)
    for line in edge.output().splitlines():
        shown = printer.format("ws_edge", line)
        assert "\n" not in shown and not any(ch in shown for ch in CONTROL), shown


async def test_parallel_guesses_are_not_all_evaluated(nats_server: Any, tmp_path: Path) -> None:
    stack = await build_stack(nats_server.url, tmp_path, ws_config(login_fail_base_delay_s=0.5,
                                                                   login_fail_max_delay_s=30.0))
    checked: list[str] = []
    verify = stack.users.verify_password

    def counting_verify(name: str, password: str) -> Any:  # counts what really reaches the hash check
        checked.append(password)
        return verify(name, password)

    stack.users.verify_password = counting_verify  # type: ignore[method-assign]
    try:
        clients = [await stack.client("/td/") for _ in range(20)]
        started = time.monotonic()

        async def guess(i: int) -> int:
            await clients[i].send({"MsgType": "ReqUserLogin", "RequestID": i,
                                   "ReqUserLogin": {"UserID": "alice", "Password": f"guess-{i}"}})
            return int((await clients[i].recv(10))["RspInfo"]["ErrorID"])

        codes = await asyncio.gather(*(guess(i) for i in range(20)))
        assert all(code != 0 for code in codes)
        assert len(checked) == 1, checked  # one address, one check in flight: the other 19 refused unchecked
        assert time.monotonic() - started < 5
        assert stack.edge.throttle.refused == 19
    finally:
        await close_stack(stack)


async def test_right_password_from_another_address_works_while_one_is_throttled(nats_server: Any,
                                                                                tmp_path: Path) -> None:
    stack = await build_stack(nats_server.url, tmp_path, ws_config(login_fail_base_delay_s=2.0,
                                                                   login_fail_max_delay_s=30.0))
    try:
        attacker = await stack.client("/td/")
        for i in range(2):  # two failures: the attacker's next attempt waits 4 s
            await attacker.send({"MsgType": "ReqUserLogin", "RequestID": i,
                                 "ReqUserLogin": {"UserID": "alice", "Password": "wrong"}})
            assert (await attacker.recv(10))["RspInfo"]["ErrorID"] != 0
        assert stack.edge.throttle.delay("alice", "127.0.0.1") == 4.0
        await attacker.send({"MsgType": "ReqUserLogin", "RequestID": 9,
                             "ReqUserLogin": {"UserID": "alice", "Password": "wrong-again"}})  # now waiting
        ws = await connect(f"ws://127.0.0.1:{stack.port}/td/", local_addr=("127.0.0.2", 0), compression=None)
        try:
            started = time.monotonic()
            await ws.send(json.dumps({"MsgType": "ReqUserLogin", "RequestID": 1,
                                      "ReqUserLogin": {"UserID": "alice", "Password": PASSWORDS["alice"]}}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert reply["MsgType"] == "RspUserLogin" and reply["RspInfo"]["ErrorID"] == 0, reply
            assert time.monotonic() - started < 2.0  # not held behind the attacker's 4 s
        finally:
            await ws.close()
        # The same right password from the throttled address is still slowed: the address is throttled.
        assert stack.edge.throttle.delay("alice", "127.0.0.1") == 4.0
    finally:
        await close_stack(stack)
