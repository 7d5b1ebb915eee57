"""Bounded fuzz of ws_edge as a real process (webctp /td/ and /md/, the console WebSocket), with a real
``python -m td_exec`` (its sim venue) behind it: thousands of seeded malformed frames from logged-in
clients, then both services are healthy, td_exec's orders equal the fold of TD_EVT, and every line
either process printed is one of its own JSON log records. Seeds are fixed: a failure replays."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fuzz_inputs import frames
from order_consistency import orders_match_the_event_store
from service_process import (
    ServiceProcess,
    port_open,
    service_env,
    start_service,
    start_sim_td_exec,
    stop_and_check_logs,
)
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from ws_harness import PASSWORDS

from tradebus.bus import Bus
from tradebus.natsd import free_port
from tradebus.users import UserStore

PER_ENDPOINT = 3000
BUDGET_S = 40.0  # all three endpoints together

TD_TEMPLATES: list[dict[str, Any]] = [
    {"MsgType": "ReqOrderInsert", "RequestID": 1, "InputOrder": {
        "InstrumentID": "rb2601", "ExchangeID": "SHFE", "Direction": "0", "CombOffsetFlag": "0",
        "OrderPriceType": "2", "LimitPrice": 3100.0, "VolumeTotalOriginal": 1, "TimeCondition": "3",
        "VolumeCondition": "1", "InvestorID": "SIM-FUT"}},  # no OrderRef: the edge numbers each insert
    {"MsgType": "ReqOrderAction", "RequestID": 2, "InputOrderAction": {
        "ActionFlag": "0", "FrontID": 1, "SessionID": 1, "OrderRef": "1", "InstrumentID": "rb2601",
        "LimitPrice": 3001.0, "VolumeChange": 2}},
    {"MsgType": "ReqQryOrder", "RequestID": 3, "QryOrder": {"InstrumentID": "rb2601"}},
    {"MsgType": "ReqQryInstrument", "RequestID": 4, "QryInstrument": {"InstrumentID": "rb2601"}},
    {"MsgType": "ReqQryTradingAccount", "RequestID": 5, "QryTradingAccount": {}},
    {"MsgType": "ReqQryInvestorPosition", "RequestID": 6, "QryInvestorPosition": {}},
    {"MsgType": "ReqUserLogin", "RequestID": 7, "ReqUserLogin": {"UserID": "alice", "Password": "wrong"}},
]
MD_TEMPLATES: list[dict[str, Any]] = [
    {"MsgType": "SubscribeMarketData", "InstrumentID": ["rb2601", "HK.00700"]},
    {"MsgType": "UnSubscribeMarketData", "InstrumentID": ["rb2601"]},
    {"MsgType": "ReqUserLogin", "ReqUserLogin": {"UserID": "alice", "Password": "wrong"}},
]
CONSOLE_TEMPLATES: list[dict[str, Any]] = [
    {"type": "place", "venue": "sim", "account": "SIM-FUT", "instrument": "rb2601", "side": "buy", "price": 3100.0,
     "qty": 1, "offset": "open"},
    {"type": "cancel", "venue": "sim", "account": "SIM-FUT", "client_order_id": "x-1"},
    {"type": "watch_add", "instrument": "rb2601"},
    {"type": "watch_remove", "instrument": "rb2601"},
    {"type": "ping"},
    {"type": "login", "user": "alice", "password": "wrong"},
]


class Pump:
    """One logged-in client sending every frame, reconnecting (and logging in again) when closed."""

    def __init__(self, url: str, login: dict[str, Any], origin: str | None = None) -> None:
        self.url, self.login, self.origin = url, login, origin
        self.reconnects = 0
        self.received = 0

    async def _open(self, timeout: float = 10) -> Any:
        """Connected and logged in: the pumps share one address, so a login may be refused while another
        pump's is being checked (the throttle's rule); it is retried until accepted, with a deadline."""
        ws = await connect(self.url, compression=None, max_size=2**24, origin=self.origin)  # type: ignore[arg-type]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await ws.send(json.dumps(self.login))
            while True:
                reply = json.loads(await asyncio.wait_for(ws.recv(), timeout))
                if reply.get("type") in ("login_ok", "login_failed") or reply.get("MsgType") == "RspUserLogin":
                    break
            if reply.get("type") == "login_ok" or (reply.get("RspInfo") or {}).get("ErrorID") == 0:
                return ws
            await asyncio.sleep(0.05)  # another pump's login in flight; bounded by the deadline
        raise AssertionError(f"{self.url}: could not log in")

    async def _drain(self, ws: Any) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for _ in ws:
                self.received += 1

    async def run(self, inputs: Iterable[str | bytes]) -> None:
        ws = await self._open()
        reader = asyncio.create_task(self._drain(ws))
        for frame in inputs:
            try:
                await ws.send(frame)
            except ConnectionClosed:
                reader.cancel()
                self.reconnects += 1
                ws = await self._open()
                reader = asyncio.create_task(self._drain(ws))
        await ws.close()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def _fresh_login(url: str, login: dict[str, Any], timeout: float = 10) -> bool:
    """Log in once the edge has worked through the fuzz's queued logins from this address (while one
    is being checked, another from the same address is refused: that is the throttle's rule)."""
    deadline = time.monotonic() + timeout
    async with connect(url) as ws:
        while time.monotonic() < deadline:
            await ws.send(json.dumps(login))
            if json.loads(await ws.recv())["RspInfo"]["ErrorID"] == 0:
                return True
            await asyncio.sleep(0.1)  # polling the other process's queue, bounded by the deadline
    return False


async def test_fuzzing_ws_edge_leaves_it_up_consistent_and_its_logs_its_own(nats_server: Any, bus: Bus,
                                                                             tmp_path: Path) -> None:
    UserStore(tmp_path / "users.json").add("alice", PASSWORDS["alice"], ["sim:SIM-FUT", "sim:SIM-HK"])
    td = await start_sim_td_exec(nats_server.url, tmp_path)
    services: list[ServiceProcess] = [td]
    port = free_port()
    env = service_env(nats_server.url, tmp_path, TRADEBUS_WS_MD_PORT=str(port), TRADEBUS_WS_TD_PORT="0",
                      TRADEBUS_WS_FUTURES_VENUE="sim", TRADEBUS_WS_STOCKS_VENUE="sim", TRADEBUS_WS_RATE_PER_S="1e6",
                      TRADEBUS_WS_RATE_BURST="1000000", TRADEBUS_WS_REQUEST_TIMEOUT_S="1",
                      TRADEBUS_WS_LOGIN_FAIL_BASE_DELAY_S="0.001", TRADEBUS_WS_LOGIN_FAIL_MAX_DELAY_S="0.01")
    edge = await start_service("ws_edge", env, tmp_path, lambda: port_open(port))
    services.append(edge)
    try:
        base = f"ws://127.0.0.1:{port}"
        login = {"ReqUserLogin": {"UserID": "alice", "Password": PASSWORDS["alice"]}}
        pumps = [
            (Pump(f"{base}/td/", {"MsgType": "ReqUserLogin", "RequestID": 0, **login}), frames(1401, PER_ENDPOINT,
                                                                                             TD_TEMPLATES)),
            (Pump(f"{base}/md/", {"MsgType": "ReqUserLogin", **login}), frames(1402, PER_ENDPOINT, MD_TEMPLATES)),
            (Pump(f"{base}/console/ws", {"type": "login", "user": "alice", "password": PASSWORDS["alice"]},
                  origin=f"http://127.0.0.1:{port}"), frames(1403, PER_ENDPOINT, CONSOLE_TEMPLATES)),
        ]
        started = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(pump.run(inputs) for pump, inputs in pumps)), BUDGET_S)
        assert all(pump.received > 0 for pump, _ in pumps)
        assert all(pump.reconnects == 0 for pump, _ in pumps), [pump.reconnects for pump, _ in pumps]
        # Still serving: healthy, a fresh client logs in, and the handshake guards still hold.
        assert edge.healthy() and td.healthy()
        assert await _fresh_login(f"{base}/td/", {"MsgType": "ReqUserLogin", "RequestID": 1, **login})
        try:
            await connect(f"{base}/nowhere")
            raise AssertionError("an unknown path was accepted")
        except InvalidStatus as refused:
            assert refused.response.status_code == 404
        assert await orders_match_the_event_store(bus, "sim", "SIM-FUT") > 0  # the fuzz did reach td_exec
        assert time.monotonic() - started < BUDGET_S
    finally:
        await stop_and_check_logs(services)
