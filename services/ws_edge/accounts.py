"""Orders and trades of one venue account, folded from the event store, pushed as RtnOrder/RtnTrade.

One :class:`AccountFeed` per (venue, account) that a logged-in client uses: an ordered JetStream
consumer on ``td.evt.<venue>.<account>.*`` from the start of the stream, or from just after this
instance's snapshot of the account (``ws_edge.book_snapshots``). Closed orders leave the feed
``[ws] book_keep_closed_s`` after their last event. Events up to the moment it
catches up rebuild the orders (what ``ReqQryOrder`` / ``ReqQryTrade`` answer from); later ones are
also pushed, once rendered, to every trading session of a user who may use the account.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Protocol

import msgspec
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from tradebus.bus import Bus
from tradebus.config_sections.ws import WsConfig
from tradebus.ctp.errors import ErrorId
from tradebus.logs import get_logger
from tradebus.orders.state import OPEN_STATUSES
from tradebus.schemas import ORDER_EVENT_DECODER
from tradebus.schemas.orders import (
    OrderCancelRejected,
    OrderDenied,
    OrderEvent,
    OrderRejected,
    OrderSubmitted,
)
from tradebus.subjects import td_evt_account
from ws_edge.book_snapshots import BookSnapshots, FeedSnapshot, maintain
from ws_edge.envelope import encode, push, rsp_info
from ws_edge.orders import (
    Labels,
    OrderState,
    apply,
    input_order_body,
    new_order,
    order_action_body,
    order_body,
    trade_body,
)

log = get_logger("ws_edge.accounts")


class PushTarget(Protocol):
    user_name: str

    def push_frames(self, frames: list[bytes]) -> None: ...


def error_code(code: str) -> int:
    """A venue error code as CTP's integer ErrorID (td_exec passes CTP's own ids through as text)."""
    try:
        return int(code)
    except ValueError:
        return ErrorId.BAD_ORDER_FIELD


class AccountFeed:
    def __init__(self, bus: Bus, venue: str, account: str, labels: Callable[[OrderState], Labels]) -> None:
        self.bus = bus
        self.venue = venue
        self.account = account
        self.labels = labels
        self.orders: dict[str, OrderState] = {}
        self.targets: set[PushTarget] = set()
        self.ready = asyncio.Event()
        self._sub: Any = None
        self.sequence = 0  # events folded: the SequenceNo of the next one
        self.last_seq = 0  # TD_EVT sequence of the last message folded
        self.since_snapshot = 0  # messages folded since the last snapshot (or since start)

    async def start(self, restored: FeedSnapshot | None = None) -> None:
        start = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        if restored is not None:
            self.orders = {o.client_order_id: o for o in restored.orders}
            self.sequence, self.last_seq = restored.sequence, restored.stream_seq
            start = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                   opt_start_seq=restored.stream_seq + 1)
        self._sub = await self.bus.js.subscribe(td_evt_account(self.venue, self.account), ordered_consumer=True,
                                                config=start, cb=self._on_msg)
        info = await self._sub.consumer_info()
        delivered = info.delivered.consumer_seq if info.delivered else 0
        if not info.num_pending and not delivered:
            self.ready.set()

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    async def _on_msg(self, msg: Msg) -> None:
        self.last_seq = msg.metadata.sequence.stream
        self.since_snapshot += 1
        try:
            event = ORDER_EVENT_DECODER.decode(msg.data)
        except msgspec.DecodeError as exc:
            log.warning("undecodable order event", subject=msg.subject, error=str(exc))
            event = None
        if event is not None:
            frames = self.apply(event)
            if self.ready.is_set() and frames:
                for target in list(self.targets):
                    target.push_frames(frames)
        if not self.ready.is_set() and msg.metadata.num_pending == 0:
            self.ready.set()

    def apply(self, event: OrderEvent) -> list[bytes]:
        """Fold one event; the frames a live client should get for it."""
        self.sequence += 1
        if isinstance(event, OrderSubmitted):
            if event.client_order_id in self.orders:
                return []
            order = self.orders[event.client_order_id] = new_order(event, self.sequence)
            return [encode(push("RtnOrder", "Order", order_body(order, self.labels(order))))]
        order = self.orders.get(event.client_order_id)
        if order is None:
            return []  # an order whose submission we never saw (trimmed stream), or one closed long ago
        was_accepted = order.accepted
        fill_ = apply(order, event, self.sequence)
        labels = self.labels(order)
        frames: list[bytes] = []
        if isinstance(event, OrderCancelRejected):
            return [encode(push("ErrRtnOrderAction", "OrderAction", order_action_body(order, labels, event.reason),
                                rsp_info(error_code(event.code), event.reason)))]
        if isinstance(event, OrderRejected | OrderDenied) and not was_accepted:
            frames.append(encode(push("ErrRtnOrderInsert", "InputOrder", input_order_body(order, labels),
                                      rsp_info(error_code(event.code), event.reason))))
        if fill_ is not None:
            frames.append(encode(push("RtnTrade", "Trade", trade_body(order, fill_, labels))))
        frames.append(encode(push("RtnOrder", "Order", order_body(order, labels))))
        return frames

    def sweep(self, cutoff_ns: int) -> int:
        """Drop the closed orders whose last event is older than ``cutoff_ns``; returns how many."""
        old = [coid for coid, o in self.orders.items() if o.status not in OPEN_STATUSES and o.ts_last < cutoff_ns]
        for coid in old:
            del self.orders[coid]
        return len(old)

    def find(self, *, client_order_id: str = "", order_sys_id_: str = "", exchange: str = "") -> OrderState | None:
        if client_order_id:
            return self.orders.get(client_order_id)
        wanted = order_sys_id_.strip()
        for order in self.orders.values():
            if (order.venue_order_id or "").strip() == wanted and (not exchange or order.exchange == exchange):
                return order
        return None


class AccountBook:
    """Every AccountFeed of the edge, created on first use and kept for the life of the process."""

    def __init__(self, bus: Bus, labels: Callable[[OrderState], Labels], *, ready_timeout: float,
                 snapshots: BookSnapshots | None = None) -> None:
        self.bus = bus
        self.labels = labels
        self.ready_timeout = ready_timeout
        self.snapshots = snapshots  # this instance's snapshots of the feeds (None: every start replays)
        self.feeds: dict[tuple[str, str], AccountFeed] = {}
        self._lock = asyncio.Lock()
        self._maintenance: asyncio.Task[None] | None = None

    def start(self, cfg: WsConfig) -> None:
        """Closed orders leave the feeds, and snapshots are taken, in the background."""
        books = maintain(lambda: list(self.feeds.values()), cfg, self.snapshots)
        self._maintenance = asyncio.create_task(books, name="ws_edge.books")

    async def feed(self, venue: str, account: str) -> AccountFeed:
        key = (venue, account)
        async with self._lock:
            feed = self.feeds.get(key)
            if feed is None:
                feed = AccountFeed(self.bus, venue, account, self.labels)
                await feed.start(await self.snapshots.load(venue, account) if self.snapshots is not None else None)
                self.feeds[key] = feed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(feed.ready.wait(), self.ready_timeout)
        return feed

    def detach(self, target: PushTarget) -> None:
        for feed in self.feeds.values():
            feed.targets.discard(target)

    async def stop(self) -> None:
        if self._maintenance is not None:
            self._maintenance.cancel()
            await asyncio.gather(self._maintenance, return_exceptions=True)
        for feed in self.feeds.values():
            await feed.stop()
