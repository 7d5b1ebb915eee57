"""ws_edge on a real nats-server, with the real td_exec engine (its in-process ``sim`` venue) behind
``td.cmd.*`` and a stand-in md_ingest peer on ``md.ctl.*`` that publishes real ticks.

Clients are real WebSocket clients (``websockets``) talking to the edge's real listener on a free port.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from nats.aio.msg import Msg
from polling import until
from websockets.asyncio.client import ClientConnection, connect

from td_exec.commands import CommandServer
from td_exec.engine import AccountStatus, Engine
from td_exec.sim_venue import SimVenue
from tradebus.bus import Bus, ensure_topology
from tradebus.bus import connect as bus_connect
from tradebus.bus.flush import flush_in_order
from tradebus.config import NatsConfig, StreamsConfig
from tradebus.config_sections.td import TdConfig
from tradebus.config_sections.ws import WsConfig
from tradebus.runtime.metrics import Registry
from tradebus.schemas import MARKET_CONTROL_DECODER
from tradebus.schemas.base import now_ns
from tradebus.schemas.market import Level, SubscribeRequest, SubscriptionReply, Tick, UnsubscribeRequest
from tradebus.subjects import MD_CTL_SUBSCRIBE, MD_CTL_UNSUBSCRIBE, md_tick
from tradebus.users import UserStore
from ws_edge.edge import Edge
from ws_edge.server import Listener

sys.path.insert(0, str(Path(__file__).parent))

PASSWORDS = {"alice": "alice-secret-1", "bob": "bob-secret-22"}
TD_CFG = TdConfig(futu=False, ctp=False, sim=True, sim_tick_s=0.0, submit_timeout_s=2.0, cancel_timeout_s=2.0,
                  query_timeout_s=3.0, reconcile_timeout_s=3.0, store_timeout_s=1.0, inflight_grace_s=30.0,
                  inflight_check_s=1.0)




@dataclass
class MdPeer:
    """Stands in for md_ingest on the real bus: a ref-counted md.ctl registry that publishes ticks."""

    bus: Bus
    holders: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)
    requests: list[Any] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    seq: int = 0

    async def start(self) -> None:
        await self.bus.serve(MD_CTL_SUBSCRIBE, self._on_ctl)
        await self.bus.serve(MD_CTL_UNSUBSCRIBE, self._on_ctl)

    async def _on_ctl(self, msg: Msg) -> None:
        request = MARKET_CONTROL_DECODER.decode(msg.data)
        self.requests.append(request)
        key = (request.venue, request.exchange, request.symbol)
        if isinstance(request, SubscribeRequest):
            if request.symbol in self.refuse:
                await self.bus.reply(msg, SubscriptionReply(ok=False, venue=request.venue, exchange=request.exchange,
                                                            symbol=request.symbol, error="unknown instrument"))
                return
            self.holders.setdefault(key, set()).add(request.requester)
        elif isinstance(request, UnsubscribeRequest):
            self.holders.get(key, set()).discard(request.requester)
        await self.bus.reply(msg, SubscriptionReply(ok=True, venue=request.venue, exchange=request.exchange,
                                                    symbol=request.symbol, refcount=len(self.holders.get(key, ()))))

    def tick(self, venue: str, exchange: str, symbol: str, last: float, **kw: Any) -> Tick:
        self.seq += 1
        now = now_ns()
        fields: dict[str, Any] = {
            "venue": venue, "exchange": exchange, "symbol": symbol, "seq": self.seq, "ts_event": now,
            "ts_init": now, "trading_day": "20251203", "last": last, "open": last - 1, "high": last + 2,
            "low": last - 2, "prev_close": last - 0.5, "volume": 100 + self.seq, "turnover": 1e6,
            "open_interest": 5000, "upper_limit": last * 1.06, "lower_limit": last * 0.94,
            "bids": (Level(last - 1, 5),), "asks": (Level(last + 1, 7),)}
        fields.update(kw)
        return Tick(**fields)

    async def publish(self, tick: Tick) -> None:
        await self.bus.publish(md_tick(tick.venue, tick.exchange, tick.symbol), tick)
        await flush_in_order(self.bus.nc)

    def count(self, kind: type, symbol: str) -> int:
        return sum(1 for r in self.requests if isinstance(r, kind) and r.symbol == symbol)


class Client:
    """A webctp client: JSON text frames in, parsed messages (and the raw text) out."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.raw: list[str] = []

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        await self.ws.send(message if isinstance(message, str | bytes) else json.dumps(message, ensure_ascii=False))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        text = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(text, str), "the edge sends text frames only"
        self.raw.append(text)
        return json.loads(text)

    async def recv_until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0,
                         ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The first message matching, and everything received before it."""
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            message = await self.recv(max(0.05, deadline - time.monotonic()))
            if predicate(message):
                return message, seen
            seen.append(message)

    async def stream(self, msg_type: str, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Every message of one streamed answer, through the one with IsLast."""
        out: list[dict[str, Any]] = []
        while True:
            message, _ = await self.recv_until(lambda m: m["MsgType"] == msg_type, timeout)
            out.append(message)
            if message.get("IsLast") is True or (message["RspInfo"] and message["RspInfo"]["ErrorID"] != 0):
                return out

    async def quiet(self, seconds: float = 0.3) -> list[dict[str, Any]]:
        """What arrives within ``seconds`` (used to check that nothing more comes)."""
        out: list[dict[str, Any]] = []
        try:
            while True:
                out.append(await self.recv(seconds))
        except TimeoutError:
            return out

    async def close(self) -> None:
        await self.ws.close()


@dataclass
class Stack:
    url: str
    bus: Bus
    edge: Edge
    listener: Listener
    port: int
    md: MdPeer
    venue: SimVenue
    users: UserStore
    engine: Engine
    server: CommandServer
    clients: list[Client] = field(default_factory=list)

    async def client(self, path: str = "/td/", *, query: str = "") -> Client:
        ws = await connect(f"ws://127.0.0.1:{self.port}{path}{query}", max_size=2**22, compression=None)
        client = Client(ws)
        self.clients.append(client)
        return client

    async def login(self, path: str = "/td/", user: str = "alice", request_id: int = 0) -> Client:
        client = await self.client(path)
        body = {"MsgType": "ReqUserLogin", "ReqUserLogin": {"UserID": user, "Password": PASSWORDS[user]}}
        if path.startswith("/td"):
            body["RequestID"] = request_id
        await client.send(body)
        reply = await client.recv()
        assert reply["MsgType"] == "RspUserLogin" and reply["RspInfo"]["ErrorID"] == 0, reply
        return client


def ws_config(**overrides: Any) -> WsConfig:
    values: dict[str, Any] = {"md_port": 0, "td_port": 0, "futures_venue": "sim", "stocks_venue": "sim",
                              "login_fail_base_delay_s": 0.05, "login_fail_max_delay_s": 0.2,
                              "request_timeout_s": 5.0}
    values.update(overrides)
    return WsConfig(**values)


async def build_stack(url: str, tmp_path: Path, cfg: WsConfig) -> Stack:
    bus = await bus_connect(NatsConfig(url=url, connect_timeout_s=2, reconnect_wait_s=0.1), "ws-test")
    await ensure_topology(bus.js, StreamsConfig())
    users = UserStore(tmp_path / "users.json")
    if not len(users):
        users.add("alice", PASSWORDS["alice"], ["sim:SIM-FUT", "sim:SIM-HK"])
        users.add("bob", PASSWORDS["bob"], ["sim:SIM-US"])
    md = MdPeer(bus)
    await md.start()
    venue = SimVenue(seed=5)
    engine = Engine(bus, [venue], TD_CFG, tmp_path / "td_exec", Registry(), users=users)
    await engine.start()
    server = CommandServer(engine)
    await server.start()
    for account in ("SIM-FUT", "SIM-HK", "SIM-US"):
        await until(lambda a=account: ("sim", a) in engine.accounts
                    and engine.accounts[("sim", a)].status is AccountStatus.READY, 10, f"{account} ready")
    edge = Edge(bus, cfg, users, Registry(), requester="ws_edge:test")
    await edge.start()
    listener = Listener(edge, frozenset({"md", "td"}))
    port = await listener.start("127.0.0.1", 0)
    return Stack(url, bus, edge, listener, port, md, venue, users, engine, server)


async def close_stack(stack: Stack) -> None:
    for client in stack.clients:
        await client.close()
    await stack.listener.stop()
    await stack.edge.stop()
    await stack.server.stop()
    await stack.engine.stop()
    await stack.venue.stop()
    await stack.bus.close()


@pytest.fixture
async def stack(nats_server, tmp_path: Path) -> AsyncIterator[Stack]:  # type: ignore[no-untyped-def]
    built = await build_stack(nats_server.url, tmp_path, ws_config())
    try:
        yield built
    finally:
        await close_stack(built)
