"""Snapshots of td_exec's fold, so a restart replays only the tail of TD_EVT.

A snapshot is the orders of the venues this td_exec holds in memory (open ones, and closed ones not
retired yet: see ``td_exec.closed``) and the filter of retired orders, as they stood once every event of theirs up
to TD_EVT sequence ``stream_seq`` was applied, in the object store bucket ``td_snapshots`` under
``ledger.<venues>``. On start, :func:`restore` loads it and the engine folds only the messages after
``stream_seq``; a missing, unreadable or other-schema snapshot means a full replay instead.

Why replaying the tail over a snapshot is exact: a snapshot is written while the engine runs, so an
order may already hold events stored after ``stream_seq``. The fold absorbs a second application of
any event (fills and repeatable kinds are skipped by id, status events either repeat a state the table
keeps or are impossible transitions that keep the state), so the tail brings every order to the state a
full replay gives. Two rules keep the snapshot itself honest:

* ``stream_seq`` is the highest sequence the store has confirmed, and every event of this td_exec is
  applied to memory before it is published, so all of ours up to it are in memory;
* an order whose ``OrderSubmitted`` is not acknowledged yet is left out (its sequence, if it is stored,
  is above ``stream_seq``: acks are confirmed in publish order), and the snapshot is uploaded only after
  every event handed to the store before it was captured is stored or spooled, so a snapshot never
  holds an event that a crash could lose.

Retired orders are not in the snapshot, so its size and the time to load it are bounded by the orders
held, not by history. The filter is copied after the last slice, so an order retired while the capture
ran is in the filter if it is not in the books. An event of a retired order in the tail is an "orphan"
to the fold: its order is read back from TD_EVT (``ClosedOrders.recall``) once the tail is folded.

The capture walks the orders in slices (``SLICE`` orders, then it yields), so the account writers keep
running while a snapshot is taken. Bump :data:`SCHEMA` whenever :class:`tradebus.orders.order.Order`, the
fold or the row layout below changes: older snapshots are then ignored and the next start replays fully.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec
from nats.js.errors import NotFoundError

from td_exec.accounts import Account
from td_exec.closed import ClosedOrders, filter_bytes
from td_exec.rebuild import EVENT_STREAM, rebuild
from td_exec.store import EventStore
from tradebus.bloom import BloomFilter
from tradebus.bus import Bus, snapshots
from tradebus.config_sections.td import TdConfig
from tradebus.logs import get_logger
from tradebus.orders.order import Ledger, Order
from tradebus.runtime.metrics import Counter
from tradebus.schemas.base import now_ns
from tradebus.schemas.orders import Offset, OrderEvent, OrderStatus, OrderType, Side, TimeInForce, TradeView

log = get_logger("td_exec.snapshot")


class Folder(Protocol):
    """What snapshots read of the engine that owns the fold (``td_exec.engine.Engine``): its bus, settings,
    venues, event store, accounts and fold; the engine hands itself in, and this module never imports it."""

    bus: Bus
    cfg: TdConfig
    links: Mapping[str, Any]
    store: EventStore
    accounts: Mapping[tuple[str, str], Account]
    ledger: Ledger
    closed: ClosedOrders
    rebuild_skipped: Counter

    def store_events_total(self) -> float: ...

    def holds_all(self) -> bool: ...


SCHEMA = 2  # 2: closed orders retired into a Bloom filter (td_exec.closed)
BUCKET = "td_snapshots"
SLICE = 1000  # orders captured between two yields to the event loop
REPLAY_SWEEP_EVERY = 200_000  # replayed messages between two retirements of closed orders


class TradeRow(msgspec.Struct, array_like=True):
    trade_id: str
    venue_order_id: str | None
    offset: Offset
    qty: int
    price: float
    fee: float
    fee_currency: str
    ts_event: int


class OrderRow(msgspec.Struct, array_like=True):
    client_order_id: str
    exchange: str
    symbol: str
    side: Side
    order_type: OrderType
    offset: Offset
    time_in_force: TimeInForce
    qty: int
    price: float | None
    status: OrderStatus
    venue_order_id: str | None
    filled_qty: int
    fill_value: float
    reason: str
    remark: str
    user: str
    ts_created: int
    ts_last: int
    external: bool
    repeats: dict[str, int]
    trades: list[TradeRow]
    overfills: list[str]
    seen_ids: list[str]


class BookRow(msgspec.Struct, array_like=True):
    venue: str
    account: str
    orders: list[OrderRow]


class Header(msgspec.Struct):
    """Read first: a snapshot of another schema is not decoded any further."""

    schema: int
    stream_seq: int


class Retired(msgspec.Struct, array_like=True):
    """The Bloom filter of retired orders' TD_EVT subjects (``td_exec.closed``)."""

    hashes: int
    count: int
    bits: bytes


class Snapshot(msgspec.Struct):
    schema: int
    stream_seq: int
    created_ns: int
    venues: list[str]
    books: list[BookRow]  # one account may span several rows (one per capture slice)
    retired: Retired


class _SnapshotOut(msgspec.Struct):
    """:class:`Snapshot` as written: each book row already encoded, slice by slice."""

    schema: int
    stream_seq: int
    created_ns: int
    venues: list[str]
    books: list[msgspec.Raw]
    retired: Retired


_encoder = msgspec.msgpack.Encoder()
_header = msgspec.msgpack.Decoder(Header)
_snapshot = msgspec.msgpack.Decoder(Snapshot)


@dataclass(frozen=True)
class Restored:
    ledger: Ledger
    stream_seq: int
    orders: int
    retired: BloomFilter


def object_name(venues: list[str]) -> str:
    return "ledger." + "+".join(sorted(venues))


# --- rows <-> orders ------------------------------------------------------------------------------


def order_row(o: Order) -> OrderRow:
    return OrderRow(
        o.client_order_id, o.exchange, o.symbol, o.side, o.order_type, o.offset, o.time_in_force, o.qty, o.price,
        o.status, o.venue_order_id, o.filled_qty, o.fill_value, o.reason, o.remark, o.user, o.ts_created, o.ts_last,
        o.external, dict(o.repeats),
        [TradeRow(t.trade_id, t.venue_order_id, t.offset, t.qty, t.price, t.fee, t.fee_currency, t.ts_event)
         for t in o.trades],
        list(o.overfills), list(o.seen_ids))


def order_from_row(venue: str, account: str, r: OrderRow) -> Order:
    trades = [TradeView(venue=venue, account=account, client_order_id=r.client_order_id,
                        venue_order_id=t.venue_order_id, trade_id=t.trade_id, exchange=r.exchange, symbol=r.symbol,
                        side=r.side, offset=t.offset, qty=t.qty, price=t.price, fee=t.fee,
                        fee_currency=t.fee_currency, ts_event=t.ts_event) for t in r.trades]
    return Order(
        venue=venue, account=account, client_order_id=r.client_order_id, exchange=r.exchange, symbol=r.symbol,
        side=r.side, order_type=r.order_type, offset=r.offset, time_in_force=r.time_in_force, qty=r.qty,
        price=r.price, status=r.status, venue_order_id=r.venue_order_id, filled_qty=r.filled_qty,
        fill_value=r.fill_value, reason=r.reason, remark=r.remark, user=r.user, ts_created=r.ts_created,
        ts_last=r.ts_last, external=r.external, repeats=r.repeats, trades=trades,
        trade_ids={t.trade_id for t in r.trades}, overfills=set(r.overfills), seen_ids=set(r.seen_ids))


def decode(data: bytes, venues: list[str], filter_size: int) -> Restored:
    """The ledger in ``data``; raises ``ValueError`` for another schema, other venues, a retired-order
    filter of another size than ``filter_size`` bytes (``td.retired_filter_mib`` changed) or damage.

    The cyclic garbage collector is paused meanwhile: the millions of objects a snapshot creates
    would otherwise trigger full collections over a growing heap, which cost more than the decode.
    Then they are frozen out of the collector's reach, so the tail replay and every later collection
    do not walk them again.
    """
    gc.disable()
    try:
        restored = _decode(data, venues, filter_size)
        gc.freeze()  # the fold lives as long as the process: later collections need not walk it again
        return restored
    finally:
        gc.enable()


def _decode(data: bytes, venues: list[str], filter_size: int) -> Restored:
    try:
        header = _header.decode(data)
    except msgspec.DecodeError as exc:
        raise ValueError(f"unreadable snapshot: {exc}") from exc
    if header.schema != SCHEMA:
        raise ValueError(f"snapshot schema {header.schema}, this td_exec reads {SCHEMA}")
    try:
        snap = _snapshot.decode(data)
    except msgspec.DecodeError as exc:
        raise ValueError(f"damaged snapshot: {exc}") from exc
    if sorted(snap.venues) != sorted(venues):
        raise ValueError(f"snapshot of venues {snap.venues}, this td_exec runs {sorted(venues)}")
    if len(snap.retired.bits) != filter_size:
        raise ValueError(f"retired-order filter of {len(snap.retired.bits)} bytes, configured {filter_size}")
    retired = BloomFilter(filter_size, snap.retired.hashes, snap.retired.bits, snap.retired.count)
    ledger = Ledger()
    orders = 0
    for book in snap.books:
        target = ledger.book(book.venue, book.account)
        for row in book.orders:
            target[row.client_order_id] = order_from_row(book.venue, book.account, row)
        orders += len(book.orders)
    return Restored(ledger, snap.stream_seq, orders, retired)


async def capture(ledger: Ledger, venues: list[str], stream_seq: int,
                  pending: dict[tuple[str, str], set[str]], retired: BloomFilter) -> bytes:
    """Encode the served venues' books, ``SLICE`` orders at a time; ``pending`` orders are left out.
    ``retired`` is copied after the last slice (see the module doc).

    Each slice is turned into rows and encoded at once, and the writers run between slices; the
    collector is paused inside a slice only (see :func:`decode`).
    """
    books = [(key, list(book.values())) for key, book in ledger.accounts.items() if key[0] in venues]
    encoded: list[msgspec.Raw] = []
    for (venue, account), orders in books:
        skip = pending.get((venue, account), set())
        for start in range(0, max(len(orders), 1), SLICE):
            gc.disable()
            try:
                rows = [order_row(o) for o in orders[start:start + SLICE] if o.client_order_id not in skip]
                encoded.append(msgspec.Raw(_encoder.encode(BookRow(venue, account, rows))))
            finally:
                gc.enable()
            await asyncio.sleep(0)  # let the writers run between slices
    kept = Retired(retired.hashes, retired.count, bytes(retired.bits))
    return _encoder.encode(_SnapshotOut(SCHEMA, stream_seq, time.time_ns(), sorted(venues), encoded, kept))


# --- the bucket -----------------------------------------------------------------------------------


async def load(bus: Bus, venues: list[str], filter_size: int) -> Restored | None:
    """The newest usable snapshot, or None (none yet, unreadable, another schema): replay everything."""
    try:
        restored = decode(await download(bus, object_name(venues)), venues, filter_size)
        info = await bus.js.stream_info(EVENT_STREAM)
    except NotFoundError:  # no bucket or no snapshot yet
        return None
    except Exception as exc:  # damaged chunks (digest mismatch), another schema, a bucket we cannot read
        log.warning("snapshot not usable; replaying all of TD_EVT", error=f"{type(exc).__name__}: {exc}")
        return None
    if restored.stream_seq > info.state.last_seq:  # a stream recreated since: the snapshot describes another one
        log.warning("snapshot is ahead of TD_EVT; replaying all of it", snapshot_seq=restored.stream_seq,
                    stream_last_seq=info.state.last_seq)
        return None
    return restored


async def download(bus: Bus, name: str, timeout: float = 5.0) -> bytes:
    return await snapshots.download(bus, BUCKET, name, timeout)


async def save(bus: Bus, venues: list[str], data: bytes) -> None:
    await snapshots.save(bus, BUCKET, object_name(venues), data)


async def take(engine: Folder) -> int:
    """Capture, wait until everything captured is durable, upload; returns the snapshot's sequence."""
    venues = sorted(engine.links)
    stream_seq = engine.store.last_seq
    pending = {key: {coid for coid, fut in acct.unconfirmed.items()
                     if not fut.done() or fut.cancelled() or fut.exception() is not None}
               for key, acct in engine.accounts.items() if acct.unconfirmed}
    started = time.perf_counter()
    data = await capture(engine.ledger, venues, stream_seq, pending, engine.closed.filter)
    captured_s = time.perf_counter() - started
    await engine.store.settled()  # every event the capture may hold is now in JetStream or the spool
    await save(engine.bus, venues, data)
    log.info("snapshot written", stream_seq=stream_seq, bytes=len(data), capture_s=round(captured_s, 3),
             total_s=round(time.perf_counter() - started, 3))
    return stream_seq


async def run(engine: Folder, events_at_start: int) -> None:
    """Take a snapshot whenever ``td.snapshot_every_events`` events were appended since the last one."""
    every = engine.cfg.snapshot_every_events
    if every <= 0:
        return
    since_last = events_at_start  # a long tail at start: the next restart should not replay it again
    counted = engine.store_events_total()
    while True:
        now = engine.store_events_total()
        since_last += int(now - counted)
        counted = now
        # Only an instance holding every account of its fold knows all of it is current (a standby's is not).
        if since_last >= every and engine.store.connected and engine.holds_all():
            try:
                await take(engine)
                since_last = 0
            except Exception as exc:
                log.warning("snapshot not written; retrying later", error=f"{type(exc).__name__}: {exc}")
        await asyncio.sleep(engine.cfg.snapshot_check_s)


async def restore(engine: Folder) -> Ledger:
    """The fold at start: the snapshot and the events after it, or (no usable snapshot) all of TD_EVT."""
    engine.store.last_seq = (await engine.bus.js.stream_info(EVENT_STREAM)).state.last_seq
    return await restore_fold(engine.bus, engine.cfg, sorted(engine.links), engine.closed, engine.rebuild_skipped)


async def restore_fold(bus: Bus, cfg: TdConfig, venues: list[str], closed: ClosedOrders,
                       skipped: Counter | None = None) -> Ledger:
    """Snapshot (or nothing) + replay, then the retired orders the tail named are read back and the
    orders closed long enough are retired: what td_exec holds once started. ``closed`` gets the
    snapshot's filter of retired orders (or keeps its empty one after a full replay)."""
    restored = await load(bus, venues, filter_bytes(cfg)) if cfg.snapshot_every_events > 0 else None
    late: dict[tuple[str, str, str], None] = {}

    def on_orphan(event: OrderEvent) -> None:
        if closed.may_hold(event.venue, event.account, event.client_order_id):
            late[(event.venue, event.account, event.client_order_id)] = None

    if restored is None:
        ledger = await rebuild(bus, cfg.query_timeout_s, skipped, on_orphan=on_orphan,
                               every=(REPLAY_SWEEP_EVERY, closed.sweep_replay))
    else:
        log.info("snapshot loaded", stream_seq=restored.stream_seq, orders=restored.orders,
                 retired=restored.retired.count)
        closed.filter = restored.retired
        ledger = await rebuild(bus, cfg.query_timeout_s, skipped, ledger=restored.ledger,
                               after_seq=restored.stream_seq, on_orphan=on_orphan,
                               every=(REPLAY_SWEEP_EVERY, closed.sweep_replay))
    for venue, account, coid in late:  # retired before the snapshot, and moved after it
        await closed.recall(ledger, venue, account, coid)
    await closed.sweep(ledger, {}, now_ns())
    return ledger
