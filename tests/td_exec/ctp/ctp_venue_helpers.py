"""A ctp_sim front as a process, a recording VenueSink, and a CtpVenue wired to both."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctp_front import CtpFront
from polling import until

from td_exec.ctp_venue import CtpVenue
from td_exec.venue import CancelRejectReport, FillReport, OrderReport, VenueOrder
from tradebus.config import Config, CtpConfig, Secret
from tradebus.schemas.orders import Offset, OrderType, Side, TimeInForce

WAIT = 15.0
INVESTOR = "000001"


def ctp_config(front: CtpFront) -> Config:
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
        return await until(pred, timeout, what, changed=self.changed, detail=lambda: (
            f"orders={self.orders[-5:]} fills={self.fills[-5:]} connections={self.connections}"))

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


async def start_venue(front: CtpFront, data_dir: Path, factory: Callable[[str, str], Any] | None = None
                      ) -> tuple[CtpVenue, RecordingSink]:
    kwargs = {"api_factory": factory} if factory is not None else {}
    venue = CtpVenue(ctp_config(front), data_dir, None, **kwargs)
    sink = RecordingSink()
    await venue.start(sink)
    await sink.connected()
    return venue, sink


async def book(venue: CtpVenue, symbol: str) -> dict[str, Any]:
    """The front's depth for one instrument (through the adapter's own throttled query queue)."""
    from tradebus.ctp import import_ctp_modules

    _, td = import_ctp_modules()

    f = td.CThostFtdcQryDepthMarketDataField()
    f.InstrumentID = symbol
    rows = await venue._query("ReqQryDepthMarketData", f)
    return rows[0]
