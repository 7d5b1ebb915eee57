"""Snapshots of the edge's account books (``ws_edge.accounts``), so a restart replays only the tail.

One object per (instance, venue, account) in the object store bucket ``ws_edge_books``, named
``<instance_id>/<venue>/<account>``: the orders of the account's :class:`AccountFeed` and the SequenceNo
counter, as they stood once every TD_EVT message of the account up to ``stream_seq`` was folded. The
capture is synchronous (one account's orders, a bounded number: closed ones leave after
``[ws] book_keep_closed_s``), so it is exact at ``stream_seq`` and the tail never applies an event twice.

Only an instance with an ``instance_id`` takes snapshots: an unnamed one gets a new random name per
process and could never find its own again. A missing, unreadable, other-schema or other-account
snapshot, or one ahead of the stream, means a full replay of the account, as before snapshots.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Protocol

import msgspec
from nats.js.errors import NotFoundError

from tradebus.bus import Bus, snapshots
from tradebus.config_sections.ws import WsConfig
from tradebus.logs import get_logger
from ws_edge.orders import OrderState

log = get_logger("ws_edge.book_snapshots")

SCHEMA = 1  # bump whenever OrderState or this layout changes: older snapshots are then ignored
BUCKET = "ws_edge_books"
EVENT_STREAM = "TD_EVT"


class AccountFeed(Protocol):
    """What a snapshot reads of a feed (``ws_edge.accounts.AccountFeed``; that module imports this one)."""

    venue: str
    account: str
    orders: dict[str, OrderState]
    sequence: int
    last_seq: int
    since_snapshot: int
    ready: asyncio.Event

    def sweep(self, cutoff_ns: int) -> int: ...


class Header(msgspec.Struct):
    """Read first: a snapshot of another schema is not decoded any further."""

    schema: int


class FeedSnapshot(msgspec.Struct):
    schema: int
    stream_seq: int  # the TD_EVT sequence of the last message folded
    sequence: int  # the feed's SequenceNo counter at that point
    venue: str
    account: str
    orders: list[OrderState]


_header = msgspec.msgpack.Decoder(Header)
_snapshot = msgspec.msgpack.Decoder(FeedSnapshot)


def object_name(instance_id: str, venue: str, account: str) -> str:
    return f"{instance_id}/{venue}/{account}"


def capture(feed: AccountFeed) -> bytes:
    return msgspec.msgpack.encode(
        FeedSnapshot(SCHEMA, feed.last_seq, feed.sequence, feed.venue, feed.account, list(feed.orders.values()))
    )


def decode(data: bytes, venue: str, account: str) -> FeedSnapshot:
    """The snapshot in ``data``; ``ValueError`` for another schema, another account or damage."""
    try:
        schema = _header.decode(data).schema
        if schema != SCHEMA:
            raise ValueError(f"snapshot schema {schema}, this ws_edge reads {SCHEMA}")
        snap = _snapshot.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ValueError(f"unreadable snapshot: {exc}") from exc
    if (snap.venue, snap.account) != (venue, account):
        raise ValueError(f"snapshot of {snap.venue}:{snap.account}, wanted {venue}:{account}")
    return snap


class BookSnapshots:
    """This instance's snapshots: loaded when a feed starts, taken every ``book_snapshot_every_events``."""

    def __init__(self, bus: Bus, cfg: WsConfig, instance_id: str) -> None:
        self.bus = bus
        self.cfg = cfg
        self.instance_id = instance_id

    async def load(self, venue: str, account: str) -> FeedSnapshot | None:
        name = object_name(self.instance_id, venue, account)
        try:
            snap = decode(await snapshots.download(self.bus, BUCKET, name, self.cfg.request_timeout_s), venue, account)
            last_seq = (await self.bus.js.stream_info(EVENT_STREAM)).state.last_seq
        except NotFoundError:  # no bucket or no snapshot yet
            return None
        except Exception as exc:  # damaged chunks (digest mismatch), another schema, a bucket we cannot read
            log.warning(
                "book snapshot not usable; replaying the account", snapshot=name, error=f"{type(exc).__name__}: {exc}"
            )
            return None
        if snap.stream_seq > last_seq:  # a stream recreated since: the snapshot describes another one
            log.warning(
                "book snapshot is ahead of TD_EVT; replaying the account",
                snapshot=name,
                snapshot_seq=snap.stream_seq,
                stream_last_seq=last_seq,
            )
            return None
        log.info("book snapshot loaded", snapshot=name, stream_seq=snap.stream_seq, orders=len(snap.orders))
        return snap

    async def save(self, feed: AccountFeed) -> int:
        """Capture ``feed`` now and upload it; returns the snapshot's sequence."""
        seq, taken, data = feed.last_seq, feed.since_snapshot, capture(feed)
        await snapshots.save(self.bus, BUCKET, object_name(self.instance_id, feed.venue, feed.account), data)
        feed.since_snapshot -= taken
        return seq


async def maintain(feeds: Callable[[], Iterable[AccountFeed]], cfg: WsConfig, store: BookSnapshots | None) -> None:
    """Every ``book_snapshot_check_s``: closed orders leave the feeds, and feeds that folded
    ``book_snapshot_every_events`` since their last snapshot take one."""
    every = cfg.book_snapshot_every_events
    while True:
        await asyncio.sleep(cfg.book_snapshot_check_s)
        cutoff = time.time_ns() - int(cfg.book_keep_closed_s * 1e9)
        for feed in feeds():
            feed.sweep(cutoff)
            if store is not None and every > 0 and feed.ready.is_set() and feed.since_snapshot >= every:
                try:
                    await store.save(feed)
                except Exception as exc:
                    log.warning(
                        "book snapshot not written; retrying later",
                        venue=feed.venue,
                        account=feed.account,
                        error=f"{type(exc).__name__}: {exc}",
                    )
