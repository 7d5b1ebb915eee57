"""Hypothesis on the frame handler: no input raises out of it, closes the socket, or goes unanswered wrongly."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ws_harness import PASSWORDS, ws_config

from tradebus.bus import Bus, connect, ensure_topology
from tradebus.config import NatsConfig, StreamsConfig
from tradebus.runtime.metrics import Registry
from tradebus.users import UserStore
from ws_edge.edge import Edge
from ws_edge.routes import TD_ROUTES
from ws_edge.server import SESSIONS
from ws_edge.session import Session


class RecordingChannel:
    """The socket side of a session, recorded: the fuzz drives the frame handler directly."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.closed = False

    def send(self, frame: bytes) -> None:
        self.frames.append(frame)

    def send_tick(self, key: Any, frame: bytes) -> None:
        self.frames.append(frame)

    def drop_ticks(self, key: Any) -> None:
        pass


class Loop:
    """An event loop in a thread holding a real bus and edge, so sync hypothesis tests can drive it."""

    def __init__(self, url: str, tmp_path: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.bus: Bus = self.run(connect(NatsConfig(url=url, request_timeout_s=0.3), "fuzz"))
        self.run(ensure_topology(self.bus.js, StreamsConfig()))
        users = UserStore(tmp_path / "users.json")
        users.add("alice", PASSWORDS["alice"], ["sim:SIM-FUT"])
        self.edge = Edge(self.bus, ws_config(request_timeout_s=0.3, rate_per_s=1e6, rate_burst=10**6), users,
                         Registry(), requester="ws_edge:fuzz")
        self.run(self.edge.start())

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def close(self) -> None:
        self.run(self.edge.stop())
        self.run(self.bus.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    from tradebus.natsd import NatsServer

    server = NatsServer(store_dir=tmp_path_factory.mktemp("js"))
    server.start()
    runner = Loop(server.url, tmp_path_factory.mktemp("users"))
    try:
        yield runner
    finally:
        runner.close()
        server.stop()


def session(loop: Loop, kind: str, *, logged_in: bool) -> tuple[Session, RecordingChannel]:
    channel = RecordingChannel()
    session_class, table = SESSIONS[kind]
    made = session_class(loop.edge, channel, "127.0.0.1", table)  # type: ignore[arg-type]
    if logged_in:
        made.user = loop.edge.users.get("alice")
    return made, channel


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)
msg_types = st.sampled_from([*TD_ROUTES, "SubscribeMarketData", "UnSubscribeMarketData", "Ping", "Pong", "",
                             "ReqQrySettlementInfo", "Nope"])
body_keys = st.sampled_from(["InputOrder", "InputOrderAction", "QryOrder", "QryInstrument", "ReqUserLogin",
                             "InstrumentID", "QryTradingAccount", "QryMaxOrderVolume"])
requests = st.builds(
    lambda t, k, b, rid: {"MsgType": t, k: b, **({} if rid is None else {"RequestID": rid})},
    msg_types, body_keys,
    st.dictionaries(st.sampled_from(["InstrumentID", "Direction", "LimitPrice", "OrderRef", "OrderSysID", "UserID",
                                     "Password", "VolumeTotalOriginal", "InvestorID", "ActionFlag", "FrontID",
                                     "SessionID", "ExchangeID"]), json_values, max_size=6) | json_values,
    st.none() | st.integers(-5, 5) | st.floats(allow_nan=False) | st.text(max_size=3))
frames = (st.text(max_size=200) | st.binary(max_size=50) | requests.map(lambda r: json.dumps(r))
          | json_values.map(json.dumps))


def check(channel: RecordingChannel) -> None:
    for frame in channel.frames:
        message = json.loads(frame)
        assert isinstance(message, dict) and "MsgType" in message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=frames, logged_in=st.booleans(), td=st.booleans())
def test_frame_handler_never_raises(loop: Loop, frame: str | bytes, logged_in: bool, td: bool) -> None:
    made, channel = session(loop, "td" if td else "md", logged_in=logged_in)
    loop.run(made.handle_frame(frame))  # raises if anything leaks
    check(channel)
    if isinstance(frame, bytes):
        assert json.loads(channel.frames[0])["RspInfo"]["ErrorID"] == -400
