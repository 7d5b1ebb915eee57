"""Orders and trades of one venue account, folded from the event store, pushed as RtnOrder/RtnTrade.

One :class:`AccountFeed` per (venue, account) that a logged-in client uses: an ordered JetStream
consumer on ``td.evt.<venue>.<account>.*`` from the start of the stream. Events up to the moment it
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
from nats.js.api import DeliverPolicy

from tradebus.bus import Bus
from tradebus.ctp.errors import ErrorId
from tradebus.logs import get_logger
from tradebus.schemas import ORDER_EVENT_DECODER
from tradebus.schemas.orders import (
    OrderCancelRejected,
    OrderDenied,
    OrderEvent,
    OrderRejected,
    OrderSubmitted,
)
from tradebus.subjects import td_evt_account
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
        self._sequence = 0

    async def start(self) -> None:
        self._sub = await self.bus.js.subscribe(td_evt_account(self.venue, self.account), ordered_consumer=True,
                                                deliver_policy=DeliverPolicy.ALL, cb=self._on_msg)
        info = await self._sub.consumer_info()
        delivered = info.delivered.consumer_seq if info.delivered else 0
        if not info.num_pending and not delivered:
            self.ready.set()

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    async def _on_msg(self, msg: Msg) -> None:
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
        self._sequence += 1
        if isinstance(event, OrderSubmitted):
            if event.client_order_id in self.orders:
                return []
            order = self.orders[event.client_order_id] = new_order(event, self._sequence)
            return [encode(push("RtnOrder", "Order", order_body(order, self.labels(order))))]
        order = self.orders.get(event.client_order_id)
        if order is None:
            return []  # an event of an order whose submission we never saw (trimmed stream)
        was_accepted = order.accepted
        fill_ = apply(order, event, self._sequence)
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

    def __init__(self, bus: Bus, labels: Callable[[OrderState], Labels], *, ready_timeout: float) -> None:
        self.bus = bus
        self.labels = labels
        self.ready_timeout = ready_timeout
        self.feeds: dict[tuple[str, str], AccountFeed] = {}
        self._lock = asyncio.Lock()

    async def feed(self, venue: str, account: str) -> AccountFeed:
        key = (venue, account)
        async with self._lock:
            feed = self.feeds.get(key)
            if feed is None:
                feed = AccountFeed(self.bus, venue, account, self.labels)
                await feed.start()
                self.feeds[key] = feed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(feed.ready.wait(), self.ready_timeout)
        return feed

    def detach(self, target: PushTarget) -> None:
        for feed in self.feeds.values():
            feed.targets.discard(target)

    async def stop(self) -> None:
        for feed in self.feeds.values():
            await feed.stop()
