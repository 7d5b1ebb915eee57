"""Projections of the event store: KV ``orders`` and intraday positions — folds, always rebuildable.

* KV ``orders``: key ``<venue>.<account>.<client_order_id>`` (each part escaped like a subject token)
  holds the encoded :class:`OrderView`. The writer coalesces: only the newest view of an order is
  put, on a background task, so the trading path never waits on KV and a NATS outage only delays it.
  An idle writer starts ``WRITE_DELAY_S`` after the first touch, so an order's quick succession
  (submitted, then accepted a few milliseconds later) is one put, made after the venue answered
  rather than while the venue's answer is on its way.
  After a rebuild every order td_exec holds is written again; a retired order (``td_exec.closed``) keeps
  the view written when it closed, so a deleted bucket gets back the held orders only.
* Positions: :func:`positions_from_trades` folds our fills into net long/short quantities per
  instrument (what today's orders changed). The venue's own snapshot (``QueryPositions``) is the
  authority for the full position, which includes yesterday's; the fold is how tests and readers
  check the two agree.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable

import msgspec
from nats.js.kv import KeyValue

from tradebus.bus import Bus
from tradebus.logs import get_logger
from tradebus.orders.order import Order
from tradebus.runtime.metrics import Registry
from tradebus.schemas.account import PositionSide, PositionSnapshot
from tradebus.schemas.orders import Offset, Side, TradeView
from tradebus.subjects import escape_token

log = get_logger("td_exec.projections")
_encoder = msgspec.json.Encoder()

ORDERS_BUCKET = "orders"
WRITE_DELAY_S = 0.02  # docs/performance.md, "The order path, leg by leg"


def kv_key(*parts: str) -> str:
    """A KV key of venue values: each part escaped like a subject token, joined by dots."""
    return ".".join(escape_token(part) for part in parts)


def order_key(venue: str, account: str, client_order_id: str) -> str:
    return kv_key(venue, account, client_order_id)


async def _nothing_pending() -> None:
    return None


class OrdersProjection:
    """Writes the newest view of every touched order to KV ``orders``."""

    def __init__(self, bus: Bus, metrics: Registry, *, write_delay_s: float = WRITE_DELAY_S) -> None:
        self.bus = bus
        self.write_delay_s = write_delay_s
        self._dirty: dict[str, Order] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._kv: KeyValue | None = None
        self._task: asyncio.Task[None] | None = None
        self._puts = metrics.counter("td_kv_orders_puts_total", "order views written to KV orders")
        # Several instances (docs/td_exec.md "Several instances"): a view is written once the events behind it
        # are settled (stored, or refused by the fence), and only for an account this instance still holds,
        # so a deposed writer's refused events never reach KV over the new holder's views.
        self.events_settled: Callable[[], Awaitable[None]] = _nothing_pending
        self.writable: Callable[[str, str], bool] = lambda _venue, _account: True
        metrics.gauge("td_kv_orders_pending", "order views waiting to be written", source=lambda: len(self._dirty))

    def touch(self, order: Order) -> None:
        self._dirty[order_key(order.venue, order.account, order.client_order_id)] = order
        self._idle.clear()
        self._wake.set()

    def touch_all(self, orders: Iterable[Order]) -> None:
        for order in orders:
            self.touch(order)

    async def start(self) -> None:
        self._kv = await self.bus.js.key_value(ORDERS_BUCKET)
        self._task = asyncio.create_task(self._writer(), name="td_exec.kv_orders")

    async def stop(self) -> None:
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.settled(), 2.0)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def abort(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def settled(self) -> None:
        """Wait until every touched order is in KV."""
        await self._idle.wait()

    async def _writer(self) -> None:
        assert self._kv is not None
        while True:
            if not self._dirty:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                await asyncio.sleep(self.write_delay_s)  # let the order's next views join this one
                continue
            if not self.bus.nc.is_connected:
                await asyncio.sleep(0.2)  # poll the connection; KV can wait, trading cannot
                continue
            await self.events_settled()
            key, order = next(iter(self._dirty.items()))
            del self._dirty[key]
            if not self.writable(order.venue, order.account):
                continue  # another instance holds the account now: its views are the true ones
            try:
                await self._kv.put(key, _encoder.encode(order.view()))
                self._puts.inc()
            except Exception as exc:
                self._dirty.setdefault(key, order)  # a newer view may have arrived meanwhile
                log.warning("KV orders put failed; will retry", key=key, error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(0.2)


# --- positions -------------------------------------------------------------------------------------


def _position_effect(trade: TradeView) -> tuple[PositionSide, int]:
    """Which side of the position a fill moves, and by how much (signed)."""
    if trade.offset is Offset.NONE:  # stocks: one net long position
        return PositionSide.LONG, trade.qty if trade.side is Side.BUY else -trade.qty
    opening = trade.offset is Offset.OPEN
    if trade.side is Side.BUY:
        return (PositionSide.LONG, trade.qty) if opening else (PositionSide.SHORT, -trade.qty)
    return (PositionSide.SHORT, trade.qty) if opening else (PositionSide.LONG, -trade.qty)


def positions_from_trades(trades: Iterable[TradeView], ts_event: int = 0) -> list[PositionSnapshot]:
    """Net position change per (venue, account, exchange, symbol, side) from our fills."""
    net: dict[tuple[str, str, str, str, PositionSide], int] = {}
    for trade in trades:
        side, delta = _position_effect(trade)
        key = (trade.venue, trade.account, trade.exchange, trade.symbol, side)
        net[key] = net.get(key, 0) + delta
    return [PositionSnapshot(venue=v, account=a, exchange=e, symbol=s, side=side, qty=q, today_qty=q,
                             ts_event=ts_event)
            for (v, a, e, s, side), q in sorted(net.items()) if q]
