"""ws_edge's account books start from this instance's snapshot and fold only the tail: the same books as a
full replay; a damaged, other-schema or foreign snapshot means a full replay; closed orders leave."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import msgspec
import pytest

from tradebus.bus import Bus, connect, ensure_topology, snapshots
from tradebus.config import NatsConfig, StreamsConfig
from tradebus.config_sections.ws import WsConfig
from tradebus.ids import order_event_id
from tradebus.schemas.base import encode
from tradebus.schemas.orders import (
    OrderAccepted,
    OrderCancelled,
    OrderEvent,
    OrderFilled,
    OrderSubmitted,
    OrderType,
    Side,
)
from tradebus.subjects import td_evt
from ws_edge.accounts import AccountBook, AccountFeed
from ws_edge.book_snapshots import BUCKET, SCHEMA, BookSnapshots, FeedSnapshot, object_name
from ws_edge.orders import Labels, OrderState

CFG = WsConfig(instance_id="edge-a")
VENUE, ACCOUNT = "ctp", "000001"


def labels(order: OrderState) -> Labels:
    return Labels(broker_id="9999", instrument_id=order.symbol, trading_day="20261205")


def story(n: int, ts: int, *, close: bool) -> list[OrderEvent]:
    """An order: submitted, accepted, one fill, and (``close``) cancelled."""
    coid = f"W{n}"
    ids = {"venue": VENUE, "account": ACCOUNT, "client_order_id": coid, "ts_event": ts, "ts_init": ts}
    out: list[OrderEvent] = [
        OrderSubmitted(
            event_id=order_event_id(VENUE, ACCOUNT, coid, "OrderSubmitted"),
            **ids,
            exchange="SHFE",
            symbol="rb2601",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            qty=2,
            price=3500.0,
        ),
        OrderAccepted(event_id=order_event_id(VENUE, ACCOUNT, coid, "OrderAccepted"), **ids, venue_order_id=f"V{n}"),
        OrderFilled(
            event_id=order_event_id(VENUE, ACCOUNT, coid, "OrderFilled", f"T{n}"),
            **ids,
            venue_order_id=f"V{n}",
            trade_id=f"T{n}",
            fill_qty=1,
            fill_price=3500.0,
        ),
    ]
    if close:
        out.append(OrderCancelled(event_id=order_event_id(VENUE, ACCOUNT, coid, "OrderCancelled"), **ids))
    return out


@pytest.fixture
async def bus(nats_server) -> AsyncIterator[Bus]:  # type: ignore[no-untyped-def]
    b = await connect(NatsConfig(url=nats_server.url, connect_timeout_s=2, request_timeout_s=5), "test-books")
    await ensure_topology(b.js, StreamsConfig())
    try:
        yield b
    finally:
        await b.close()


async def publish(bus: Bus, events: list[OrderEvent]) -> None:
    for event in events:
        await bus.js.publish(
            td_evt(event.venue, event.account, event.client_order_id),
            encode(event),
            headers={"Nats-Msg-Id": event.event_id},
        )


async def feed_of(bus: Bus, store: BookSnapshots | None) -> tuple[AccountBook, AccountFeed]:
    book = AccountBook(bus, labels, ready_timeout=5.0, snapshots=store)
    feed = await book.feed(VENUE, ACCOUNT)
    assert feed.ready.is_set()
    return book, feed


async def same_as_full_replay(bus: Bus, feed: AccountFeed) -> None:
    book, full = await feed_of(bus, None)
    try:
        assert feed.orders == full.orders and feed.sequence == full.sequence and feed.last_seq == full.last_seq
    finally:
        await book.stop()


async def test_restart_from_a_snapshot_folds_the_tail_and_ends_like_a_full_replay(bus: Bus) -> None:
    now = time.time_ns()
    await publish(bus, [e for n in range(5) for e in story(n, now, close=n % 2 == 0)])
    store = BookSnapshots(bus, CFG, CFG.instance_id)
    book, feed = await feed_of(bus, store)
    seq = await store.save(feed)
    await book.stop()
    assert seq == 18 and feed.since_snapshot == 0  # 3 cancelled orders of 4 events, 2 open ones of 3
    tail = [
        OrderCancelled(
            event_id=order_event_id(VENUE, ACCOUNT, "W1", "OrderCancelled"),
            venue=VENUE,
            account=ACCOUNT,
            client_order_id="W1",
            ts_event=now,
            ts_init=now,
        ),
        *story(7, now, close=False),
    ]  # an order of the snapshot moves, a new one comes
    await publish(bus, tail)
    book, feed = await feed_of(bus, store)
    try:
        assert feed.since_snapshot == len(tail)  # only the tail was folded
        await same_as_full_replay(bus, feed)
        assert feed.find(order_sys_id_="V7") is not None
    finally:
        await book.stop()


@pytest.mark.parametrize("damage", ["garbage", "old_schema", "other_account", "chunk"])
async def test_an_unusable_snapshot_means_a_full_replay(bus: Bus, damage: str) -> None:
    now = time.time_ns()
    await publish(bus, [e for n in range(3) for e in story(n, now, close=False)])
    store = BookSnapshots(bus, CFG, CFG.instance_id)
    name = object_name(CFG.instance_id, VENUE, ACCOUNT)
    book, feed = await feed_of(bus, store)
    await store.save(feed)
    await book.stop()
    if damage == "garbage":
        await snapshots.save(bus, BUCKET, name, b"\x93not a snapshot")
    elif damage == "old_schema":  # claims the whole stream and holds nothing: used, it would lose every order
        await snapshots.save(
            bus,
            BUCKET,
            name,
            msgspec.msgpack.encode(FeedSnapshot(SCHEMA - 1, feed.last_seq, feed.sequence, VENUE, ACCOUNT, [])),
        )
    elif damage == "other_account":
        await snapshots.save(
            bus,
            BUCKET,
            name,
            msgspec.msgpack.encode(FeedSnapshot(SCHEMA, feed.last_seq, feed.sequence, VENUE, "000002", [])),
        )
    else:  # one more chunk on the object's chunk subject: the digest no longer matches
        info = await (await bus.js.object_store(BUCKET)).get_info(name)
        await bus.js.publish(f"$O.{BUCKET}.C.{info.nuid}", b"garbage")
    book, feed = await feed_of(bus, store)
    try:
        assert feed.since_snapshot == 9 and len(feed.orders) == 3  # every message of the account folded again
        await same_as_full_replay(bus, feed)
    finally:
        await book.stop()


async def test_instances_keep_their_own_snapshots(bus: Bus) -> None:
    now = time.time_ns()
    await publish(bus, story(1, now, close=False))
    a = BookSnapshots(bus, CFG, "edge-a")
    book, feed = await feed_of(bus, a)
    await a.save(feed)
    await book.stop()
    book, feed = await feed_of(bus, BookSnapshots(bus, CFG, "edge-b"))  # no snapshot of its own: full replay
    try:
        assert feed.since_snapshot == 3
    finally:
        await book.stop()


async def test_closed_orders_leave_the_book_after_a_while(bus: Bus) -> None:
    old, now = time.time_ns() - 2 * 86_400 * 10**9, time.time_ns()
    await publish(bus, [*story(1, old, close=True), *story(2, old, close=False), *story(3, now, close=True)])
    book, feed = await feed_of(bus, None)
    try:
        assert feed.sweep(now - int(CFG.book_keep_closed_s * 1e9)) == 1
        assert set(feed.orders) == {"W2", "W3"}  # the old closed one left; the open one and the recent one stay
    finally:
        await book.stop()


async def test_a_named_instance_takes_snapshots_by_itself(bus: Bus) -> None:
    await publish(bus, story(1, time.time_ns(), close=False))
    cfg = msgspec.structs.replace(CFG, book_snapshot_every_events=1, book_snapshot_check_s=0.05)
    store = BookSnapshots(bus, cfg, cfg.instance_id)
    book, feed = await feed_of(bus, store)
    book.start(cfg)
    try:
        deadline = time.monotonic() + 5.0
        while (snap := await store.load(VENUE, ACCOUNT)) is None:  # the background task's output, polled
            assert time.monotonic() < deadline, "no snapshot written"
            await asyncio.sleep(0.05)
        assert snap.stream_seq == feed.last_seq == 3 and [o.client_order_id for o in snap.orders] == ["W1"]
    finally:
        await book.stop()
