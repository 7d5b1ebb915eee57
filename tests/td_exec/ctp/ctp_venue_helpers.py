"""A ctp_sim front as a process, a recording VenueSink, and a CtpVenue wired to both."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from td_exec.ctp_venue import CtpVenue
from td_exec.venue import CancelRejectReport, FillReport, OrderReport, VenueOrder
from tradebus.config import Config, CtpConfig, Secret
from tradebus.schemas.orders import Offset, OrderType, Side, TimeInForce

WAIT = 15.0
INVESTOR = "000001"


class Front:
    """``python -m ctp_sim`` with its state in a temp folder; stopped by pid."""

    def __init__(self, state_dir: Path, *extra: str) -> None:
        self.state_dir = state_dir
        self.extra = extra
        self.td_port = 0
        self.md_port = 0
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> Front:
        args = [sys.executable, "-m", "ctp_sim", "--host", "127.0.0.1", "--state-dir", str(self.state_dir),
                "--tick-interval", "0.1", "--seed", "5", "--td-port", str(self.td_port),
                "--md-port", str(self.md_port), *self.extra]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        lines: queue.Queue[str] = queue.Queue()
        out = self.proc.stdout
        assert out is not None
        threading.Thread(target=lambda: [lines.put(line) for line in out], daemon=True).start()
        line = lines.get(timeout=WAIT)
        assert line.startswith("ctp_sim ready"), line
        info = dict(part.split("=", 1) for part in line.split()[2:])
        self.td_port, self.md_port = int(info["td_port"]), int(info["md_port"])
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=WAIT)
        self.proc = None

    @property
    def td(self) -> str:
        return f"sim://127.0.0.1:{self.td_port}"


def ctp_config(front: Front) -> Config:
    return Config(ctp=CtpConfig(td_front=front.td, md_front=f"sim://127.0.0.1:{front.md_port}",
                                password=Secret("123456"), auth_code=Secret("0000000000000000")))


@dataclass
class RecordingSink:
    """What the adapter reported, in order; waits poll a condition until a deadline."""

    orders: list[OrderReport] = field(default_factory=list)
    fills: list[FillReport] = field(default_factory=list)
    cancel_rejects: list[CancelRejectReport] = field(default_factory=list)
    connections: list[tuple[bool, str]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def _note(self) -> None:
        self.changed.set()

    def on_order(self, report: OrderReport) -> None:
        self.orders.append(report)
        self._note()

    def on_fill(self, report: FillReport) -> None:
        self.fills.append(report)
        self._note()

    def on_cancel_rejected(self, report: CancelRejectReport) -> None:
        self.cancel_rejects.append(report)
        self._note()

    def on_connection(self, connected: bool, reason: str) -> None:
        self.connections.append((connected, reason))
        self._note()

    async def wait(self, pred: Callable[[], Any], timeout: float = WAIT, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = pred()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what}; orders={self.orders[-5:]} "
                                     f"fills={self.fills[-5:]} connections={self.connections}")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                pass

    async def connected(self, count: int = 1) -> None:
        await self.wait(lambda: sum(1 for c, _ in self.connections if c) >= count, what=f"{count} connections")

    def order_states(self, coid: str) -> list[OrderReport]:
        return [r for r in self.orders if r.client_order_id == coid]

    def last(self, coid: str) -> OrderReport | None:
        states = self.order_states(coid)
        return states[-1] if states else None

    def fills_of(self, coid: str) -> list[FillReport]:
        return [f for f in self.fills if f.client_order_id == coid]


class CallLog:
    """Wraps the API object the adapter creates, to see when each call went out and what it returned."""

    def __init__(self, api: Any) -> None:
        self._api = api
        self.calls: list[tuple[str, float, int]] = []

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._api, name)
        if not name.startswith("Req"):
            return target

        def call(*args: Any) -> Any:
            rc = target(*args)
            self.calls.append((name, time.monotonic(), rc))
            return rc

        return call


def venue_order(coid: str, symbol: str = "rb2601", exchange: str = "SHFE", side: Side = Side.BUY,
                qty: int = 1, price: float | None = None, offset: Offset = Offset.OPEN,
                order_type: OrderType = OrderType.LIMIT, tif: TimeInForce = TimeInForce.DAY) -> VenueOrder:
    return VenueOrder(account=INVESTOR, client_order_id=coid, exchange=exchange, symbol=symbol, side=side,
                      order_type=order_type, qty=qty, price=price, offset=offset, time_in_force=tif)


async def start_venue(front: Front, data_dir: Path, factory: Callable[[str, str], Any] | None = None
                      ) -> tuple[CtpVenue, RecordingSink]:
    kwargs = {"api_factory": factory} if factory is not None else {}
    venue = CtpVenue(ctp_config(front), data_dir, None, **kwargs)
    sink = RecordingSink()
    await venue.start(sink)
    await sink.connected()
    return venue, sink


async def book(venue: CtpVenue, symbol: str) -> dict[str, Any]:
    """The front's depth for one instrument (through the adapter's own throttled query queue)."""
    from td_exec.ctp_venue.spi import td

    f = td.CThostFtdcQryDepthMarketDataField()
    f.InstrumentID = symbol
    rows = await venue._query("ReqQryDepthMarketData", f)
    return rows[0]
