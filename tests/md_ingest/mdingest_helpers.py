"""Fixtures for md_ingest: the simulators as real processes, the service on a real NATS server.

The simulators run as processes (``python -m ctp_sim``, ``python -m opend_sim``) on ports chosen
free up front, so a test can kill one by pid and start it again on the same port. The service runs
in the test's event loop on its own NATS connection (with reconnects), exactly as ``run_service``
wires it, minus the signal handlers.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from polling import until

from md_ingest.service import MdIngest
from opend_sim.state_dir import trust_device
from tradebus.bus import Bus, connect, ensure_topology
from tradebus.bus.flush import flush_in_order
from tradebus.config import Config, CtpConfig, FutuConfig, NatsConfig, Secret
from tradebus.config_sections.md import MdConfig
from tradebus.schemas import MARKET_DATA_DECODER
from tradebus.schemas.market import FeedFence, FeedStatus, Tick

WAIT = 20.0
SIM_TICK_S = "0.05"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _read_lines(proc: subprocess.Popen[str], sink: list[str], ready: threading.Event, marker: str) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        sink.append(line)
        if marker in line:
            ready.set()


class SimProcess:
    """A simulator process on fixed ports; ``stop`` by pid, ``start`` again on the same ports."""

    def __init__(self, argv: list[str], marker: str, env: dict[str, str] | None = None) -> None:
        self.argv, self.marker = argv, marker
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []

    def start(self) -> SimProcess:
        self.lines = []
        ready = threading.Event()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env=self.env)
        threading.Thread(target=_read_lines, args=(self.proc, self.lines, ready, self.marker), daemon=True).start()
        if not ready.wait(WAIT):
            self.stop()
            raise AssertionError(f"{self.argv[2]} not ready; output: {self.lines[-10:]}")
        return self

    def stop(self, sig: int = signal.SIGKILL) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=WAIT)


@pytest.fixture
def ctp_front(tmp_path: Path) -> Iterator[tuple[SimProcess, int, int]]:
    td, md = free_port(), free_port()
    argv = [sys.executable, "-m", "ctp_sim", "--host", "127.0.0.1", "--td-port", str(td), "--md-port", str(md),
            "--state-dir", str(tmp_path / "ctp_state"), "--tick-interval", SIM_TICK_S, "--seed", "5"]
    proc = SimProcess(argv, "ctp_sim ready").start()
    try:
        yield proc, td, md
    finally:
        proc.stop()


@pytest.fixture
def opend(tmp_path: Path) -> Iterator[tuple[SimProcess, int]]:
    state = tmp_path / "opend_state"
    trust_device(state)
    port = free_port()
    argv = [sys.executable, "-m", "opend_sim", "-lang=en", f"-api_port={port}", "-telnet_port=0",
            "-login_account=12345678", "-login_pwd=s3cret-Passw0rd", "--scenario", "ok",
            "--state-dir", str(state), "--tick-interval", SIM_TICK_S]
    proc = SimProcess(argv, "Login successful", env={"OPEND_SIM_SPEED": "20"}).start()
    try:
        yield proc, port
    finally:
        proc.stop()


def make_config(nats_url: str, data_dir: Path, *, futu_port: int = 0, ctp_ports: tuple[int, int] | None = None,
                **md: Any) -> Config:
    md_defaults: dict[str, Any] = {"futu": futu_port != 0, "ctp": ctp_ports is not None, "backoff_initial_s": 0.2,
                                   "backoff_max_s": 1.0, "stale_hours": "always", "subscribe_timeout_s": 10.0}
    md_defaults.update(md)
    ctp = CtpConfig()
    if ctp_ports is not None:
        ctp = CtpConfig(td_front=f"sim://127.0.0.1:{ctp_ports[0]}", md_front=f"sim://127.0.0.1:{ctp_ports[1]}",
                        password=Secret("123456"), auth_code=Secret("0000000000000000"))
    return msgspec.structs.replace(
        Config(),
        nats=NatsConfig(url=nats_url, connect_timeout_s=2, reconnect_wait_s=0.2),
        data=msgspec.structs.replace(Config().data, dir=str(data_dir)),
        futu=FutuConfig(host="127.0.0.1", port=futu_port or 11111),
        ctp=ctp,
        md=MdConfig(**md_defaults),
    )


class Harness:
    """One MdIngest on its own NATS connection, plus a recorder of everything on ``md.>``."""

    def __init__(self, config: Config, bus: Bus) -> None:
        self.config = config
        self.bus = bus  # the test's own connection (subscriber, requester)
        self.service: MdIngest | None = None
        self.service_bus: Bus | None = None
        self.ticks: list[Tick] = []
        self.statuses: list[FeedStatus] = []
        self.bars: list[Any] = []
        self._changed = asyncio.Event()

    async def start(self) -> MdIngest:
        self.service_bus = await connect(self.config.nats, "md_ingest-test")
        await ensure_topology(self.service_bus.js, self.config.streams)

        async def on_msg(msg: Any) -> None:
            data = MARKET_DATA_DECODER.decode(msg.data)
            if isinstance(data, FeedFence):  # which instance holds the venue: not market data
                return
            {"Tick": self.ticks, "FeedStatus": self.statuses, "Bar": self.bars}[type(data).__name__].append(data)
            self._changed.set()

        await self.bus.nc.subscribe("md.>", cb=on_msg)
        await flush_in_order(self.bus.nc)  # the subscription is live at the server before md_ingest says anything
        self.service = MdIngest(self.config)
        self.service.bus = self.service_bus
        await self.service.start()
        return self.service

    async def stop(self) -> None:
        if self.service is not None:
            await asyncio.wait_for(self.service.stop(), 15)
        if self.service_bus is not None:
            await self.service_bus.close()

    async def wait_for(self, what: str, pred: Callable[[], Any], timeout: float = WAIT) -> Any:
        return await until(pred, timeout, what, changed=self._changed, detail=lambda: (
            f"statuses: {[(s.venue, s.state.value, s.reason) for s in self.statuses[-8:]]}"))

    def ticks_of(self, venue: str, symbol: str | None = None) -> list[Tick]:
        return [t for t in self.ticks if t.venue == venue and (symbol is None or t.symbol == symbol)]

    def feed_states(self, venue: str) -> list[str]:
        return [s.state.value for s in self.statuses if s.venue == venue and s.symbol is None]


@pytest.fixture
async def harness_factory(bus: Bus) -> AsyncIterator[Callable[[Config], Awaitable[Harness]]]:
    made: list[Harness] = []

    async def make(config: Config) -> Harness:
        h = Harness(config, bus)
        made.append(h)
        await h.start()
        return h

    try:
        yield make
    finally:
        for h in made:
            await h.stop()
