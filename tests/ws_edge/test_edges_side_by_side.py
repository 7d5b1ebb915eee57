"""Two ws_edge instances side by side on one bus (issue 19, "stateless edges ×N"), every part a real
process: ctp_sim, md_ingest, td_exec, ws_edge "a" and ws_edge "b" on their own ports.

* Clients of both subscribe to rb2601: md_ingest holds one venue subscription with one reference per
  instance. After kill -9 of "a", "b"'s clients keep their ticks and can trade, and md_ingest drops "a"'s
  reference by itself within its lease (``[ws] md_lease_s``, 2 s here) plus one housekeeping tick.
* A console login issued by "a" is accepted by "b" and by "a" restarted (logins live in the KV bucket
  ``console_sessions``); a logout on one instance ends the token everywhere, live sockets included.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from console_client import console, resume
from ctp_front import CtpFront
from edge_stack import holds, kill9, refcount, refcount_is, start_core
from nats.aio.msg import Msg
from polling import until, until_async
from service_process import ServiceProcess, port_open, service_env, start_service
from webctp_frames import quoted
from websockets.asyncio.client import ClientConnection, connect

from tradebus.bus import Bus
from tradebus.natsd import free_port
from tradebus.schemas import SYSTEM_DECODER, Heartbeat
from tradebus.subjects import sys_health
from tradebus.users import UserStore

LEASE_S = 2.0
PASSWORD = "alice-password"
RB = ("ctp", "SHFE", "rb2601")


async def start_edge(nats_url: str, data_dir: Path, instance: str, port: int) -> ServiceProcess:
    env = service_env(nats_url, data_dir, TRADEBUS_WS_INSTANCE_ID=instance, TRADEBUS_WS_MD_PORT=str(port),
                      TRADEBUS_WS_TD_PORT="0", TRADEBUS_WS_MD_LEASE_S=str(LEASE_S),
                      TRADEBUS_WS_CONSOLE_REFRESH_S="0.5", TRADEBUS_WS_LOGIN_FAIL_BASE_DELAY_S="0",
                      TRADEBUS_RUNTIME_HEARTBEAT_S="0.5")
    work = data_dir / f"ws-{instance}"
    work.mkdir(exist_ok=True)
    return await start_service("ws_edge", env, work, ready=lambda: port_open(port), timeout=60)


async def receive(ws: ClientConnection, key: str, value: str, timeout: float = 15) -> dict[str, Any]:
    """The next frame whose ``key`` is ``value`` (frames in between are skipped), within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic())))
        if frame.get(key) == value:
            return frame


async def md_client(port: int) -> ClientConnection:
    ws = await connect(f"ws://127.0.0.1:{port}/md/", max_size=2**24)
    await ws.send(json.dumps({"MsgType": "ReqUserLogin", "ReqUserLogin": {"UserID": "alice", "Password": PASSWORD}}))
    login = await receive(ws, "MsgType", "RspUserLogin")
    assert login["RspInfo"]["ErrorID"] == 0, login
    await ws.send(json.dumps({"MsgType": "SubscribeMarketData", "InstrumentID": ["rb2601"]}))
    answer = await receive(ws, "MsgType", "RspSubMarketData")
    assert answer["RspInfo"]["ErrorID"] == 0, answer
    return ws


async def ticks_within(ws: ClientConnection, count: int, timeout: float) -> list[dict[str, Any]]:
    return [(await receive(ws, "MsgType", "RtnDepthMarketData", timeout))["DepthMarketData"] for _ in range(count)]


async def place_order(port: int, price: float) -> dict[str, Any]:
    """alice's /td/ login on ``port`` and a limit buy of rb2601: the RtnOrder that answers it."""
    async with connect(f"ws://127.0.0.1:{port}/td/") as ws:
        await ws.send(json.dumps({"MsgType": "ReqUserLogin", "RequestID": 1,
                                  "ReqUserLogin": {"UserID": "alice", "Password": PASSWORD}}))
        assert (await receive(ws, "MsgType", "RspUserLogin"))["RspInfo"]["ErrorID"] == 0
        await ws.send(json.dumps({"MsgType": "ReqOrderInsert", "RequestID": 2, "InputOrder": {
            "InstrumentID": "rb2601", "ExchangeID": "SHFE", "Direction": "0", "CombOffsetFlag": "0",
            "OrderPriceType": "2", "LimitPrice": price, "VolumeTotalOriginal": 1, "TimeCondition": "3",
            "VolumeCondition": "1", "InvestorID": "000001", "OrderRef": "7"}}))
        deadline = time.monotonic() + 20
        while True:  # the order's first push, or the refusal in full (ErrRtnOrderInsert carries the reason)
            frame = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic())))
            assert frame["MsgType"] != "ErrRtnOrderInsert", (price, frame)
            if frame["MsgType"] == "RtnOrder":
                return frame["Order"]


async def test_two_ws_edges_share_md_ingest_and_console_logins(nats_server: Any, bus: Bus, front: CtpFront,
                                                               tmp_path: Path) -> None:
    UserStore(tmp_path / "users.json").add("alice", PASSWORD, ["ctp:000001"])
    started: list[ServiceProcess] = []
    sockets: list[ClientConnection] = []
    try:
        started += await start_core(nats_server.url, front, tmp_path)
        port_a, port_b = free_port(), free_port()
        edge_a = await start_edge(nats_server.url, tmp_path, "a", port_a)
        edge_b = await start_edge(nats_server.url, tmp_path, "b", port_b)
        started += [edge_a, edge_b]

        # Each instance beats as itself (host:pid/<instance>) on the service's one heartbeat subject.
        beats: set[str] = set()

        async def on_beat(msg: Msg) -> None:
            beat = SYSTEM_DECODER.decode(msg.data)
            if isinstance(beat, Heartbeat):
                beats.add(beat.instance.rsplit("/", 1)[-1])

        beat_sub = await bus.nc.subscribe(sys_health("ws_edge"), cb=on_beat)
        await until(lambda: {"a", "b"} <= beats, 10, "heartbeats of ws_edge a and b")
        await beat_sub.unsubscribe()

        # Clients on both instances watch rb2601: one venue subscription, one reference per instance.
        on_a, on_b = await md_client(port_a), await md_client(port_b)
        sockets += [on_a, on_b]
        await ticks_within(on_a, 2, 15)
        await ticks_within(on_b, 2, 15)
        assert await refcount(bus, *RB) == 3  # ws_edge:a, ws_edge:b and this test's probe

        # A console login on "a"; its token is accepted by "b" while "a" is alive.
        login_ws = await console(port_a)
        sockets.append(login_ws)
        await login_ws.send(json.dumps({"type": "login", "user": "alice", "password": PASSWORD}))
        login = await receive(login_ws, "type", "login_ok")
        token = login["token"]
        on_b_console, answer = await resume(port_b, token)
        sockets.append(on_b_console)
        assert answer["type"] == "login_ok" and answer["user"] == "alice", answer
        assert answer["expires_at"] == login["expires_at"]

        # kill -9 "a": "b"'s clients keep their ticks, and "a"'s reference lapses at md_ingest.
        killed_at = time.monotonic()
        kill9(edge_a)
        assert await edge_a.process.wait() == -9
        await ticks_within(on_b, 5, 10)
        await until_async(lambda: refcount_is(bus, 2, *RB), LEASE_S * 3 + 2,
                          "ws_edge:a's reference lapsed at md_ingest")
        dropped_after = time.monotonic() - killed_at
        assert dropped_after <= LEASE_S + 1.5, f"reference dropped {dropped_after:.1f} s after the kill"
        assert not await holds(bus, "ws_edge:a", *RB)  # gone, not merely one fewer
        await ticks_within(on_b, 3, 10)  # md_ingest still publishes for "b"

        # "b" still trades.
        tick = (await ticks_within(on_b, 1, 10))[0]
        while not quoted(tick["BidPrice1"]):  # a side without a quote reads 0 or DBL_MAX: not a price
            tick = (await ticks_within(on_b, 1, 10))[0]
        order = await place_order(port_b, float(round(tick["BidPrice1"])))
        assert order["InstrumentID"] == "rb2601" and order["InvestorID"] == "000001", order

        # The token issued by the dead "a" works on a restarted "a".
        edge_a = await start_edge(nats_server.url, tmp_path, "a", port_a)
        started.append(edge_a)
        on_a_console, answer = await resume(port_a, token)
        sockets.append(on_a_console)
        assert answer["type"] == "login_ok" and answer["user"] == "alice", answer

        # Logout on "b": the live socket on the restarted "a" is ended, and the token works nowhere.
        await on_b_console.send(json.dumps({"type": "logout"}))
        await receive(on_b_console, "type", "logged_out")
        await receive(on_a_console, "type", "logged_out", timeout=10)
        for port in (port_a, port_b):
            ws, answer = await resume(port, token)
            sockets.append(ws)
            assert answer["type"] == "login_failed", (port, answer)
    finally:
        for ws in sockets:
            await ws.close()
        for service in reversed(started):
            await service.stop()

