"""Snapshots of the fold: a restart folds only the tail, ends exactly where a full replay ends, and a
damaged or other-schema snapshot means a full replay."""

from __future__ import annotations

import asyncio
import time

import msgspec
from nats.js.api import ConsumerConfig, DeliverPolicy
from td_engine_helpers import TEST_TD, Harness, fut_order, until

from td_exec import snapshot
from td_exec.closed import filter_bytes
from td_exec.rebuild import rebuild
from tradebus.orders.order import Ledger
from tradebus.schemas.orders import CancelOrder, CommandAccepted, OrderStatus, Side

VENUES = ["sim"]


async def trade_a_little(h: Harness, prefix: str) -> None:
    """Fills, a partial fill, a cancel and a resting order on SIM-FUT."""
    venue = h.venue
    ask_price, ask_qty = venue.market.quote("SHFE", "rb2601").asks[0]
    bid = venue.market.quote("SHFE", "rb2601").bids[-1][0] - 5.0
    for reply in [await h.request(fut_order(f"{prefix}-fill", qty=ask_qty + 2, price=ask_price)),
                  await h.request(fut_order(f"{prefix}-rest", qty=3, price=bid)),
                  await h.request(fut_order(f"{prefix}-cx", qty=1, price=bid))]:
        assert isinstance(reply, CommandAccepted), reply
    venue.counterparty("SHFE", "rb2601", Side.SELL, 1, ask_price)  # one more fill on the remainder
    await until(lambda: h.order(f"{prefix}-fill").filled_qty == ask_qty + 1, what="fill on the remainder")
    cancelled = await h.request(CancelOrder(venue="sim", account="SIM-FUT", client_order_id=f"{prefix}-cx"))
    assert isinstance(cancelled, CommandAccepted) and cancelled.order.status is OrderStatus.CANCELLED


async def stream_events(h: Harness, after_seq: int = 0) -> int:
    """Order events in TD_EVT after ``after_seq`` (the fences each start appends are not events)."""
    assert h.client is not None
    config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after_seq + 1,
                            filter_subject="td.evt.>")
    sub = await h.client.js.pull_subscribe("td.evt.>", config=config)
    try:
        return (await sub.consumer_info()).num_pending
    finally:
        await sub.unsubscribe()


async def assert_same_as_full_replay(h: Harness) -> Ledger:
    assert h.client is not None and h.engine is not None
    full = await rebuild(h.client)
    served = {k for k in full.accounts if k[0] in VENUES} | {k for k in h.engine.ledger.accounts if k[0] in VENUES}
    for key in served:
        assert h.engine.ledger.accounts.get(key, {}) == full.accounts.get(key, {}), key
    return full


async def snapshot_bytes(h: Harness) -> bytes:
    assert h.client is not None
    return (await (await h.client.js.object_store(snapshot.BUCKET)).get(snapshot.object_name(VENUES))).data


async def put_snapshot(h: Harness, data: bytes) -> None:
    assert h.client is not None
    await (await h.client.js.object_store(snapshot.BUCKET)).put(snapshot.object_name(VENUES), data)


async def restart(h: Harness) -> None:
    await h.stop_engine()
    await h.start_engine()


async def test_restart_from_snapshot_folds_only_the_tail_and_ends_like_a_full_replay(harness: Harness) -> None:
    await trade_a_little(harness, "s1")
    assert harness.engine is not None
    seq = await snapshot.take(harness.engine)
    assert seq == harness.engine.store.last_seq > 0
    await trade_a_little(harness, "s2")
    old = await harness.request(CancelOrder(venue="sim", account="SIM-FUT", client_order_id="s1-rest"))
    assert isinstance(old, CommandAccepted)  # an order of the snapshot moves after it
    total = await stream_events(harness)
    after = await stream_events(harness, after_seq=seq)
    await restart(harness)
    tail = harness.engine.ledger.events
    assert 0 < tail < total  # only the events after the snapshot were folded
    assert tail == after
    await assert_same_as_full_replay(harness)
    assert harness.order("s1-rest").status is OrderStatus.CANCELLED and harness.order("s2-cx") is not None
    # and it keeps trading
    await trade_a_little(harness, "s3")


async def test_snapshot_holding_events_after_its_sequence_still_ends_like_a_full_replay(harness: Harness) -> None:
    """A snapshot captured while the writers run holds events stored after ``stream_seq``: the tail
    applies them a second time, and the fold must absorb that."""
    await trade_a_little(harness, "o1")
    assert harness.client is not None and harness.engine is not None
    early_seq = 2  # as if the capture had started right after the second event
    await trade_a_little(harness, "o2")
    data = await snapshot.capture(harness.engine.ledger, VENUES, early_seq, {}, harness.engine.closed.filter)
    await put_snapshot(harness, data)
    await restart(harness)
    assert harness.engine.ledger.events == await stream_events(harness, after_seq=early_seq)
    await assert_same_as_full_replay(harness)


async def test_capture_leaves_out_orders_whose_submit_is_not_acknowledged(harness: Harness) -> None:
    await trade_a_little(harness, "p1")
    assert harness.engine is not None
    data = await snapshot.capture(harness.engine.ledger, VENUES, 1, {("sim", "SIM-FUT"): {"p1-rest"}},
                                  harness.engine.closed.filter)
    restored = snapshot.decode(data, VENUES, filter_bytes(harness.cfg))
    book = restored.ledger.accounts[("sim", "SIM-FUT")]
    assert "p1-rest" not in book and {"p1-fill", "p1-cx"} <= set(book)
    assert book["p1-fill"] == harness.order("p1-fill")


async def test_undecodable_snapshot_falls_back_to_a_full_replay(harness: Harness) -> None:
    await trade_a_little(harness, "c1")
    await put_snapshot(harness, b"\x93not a snapshot at all")
    await restart(harness)
    assert harness.engine is not None and harness.engine.ledger.events == await stream_events(harness)
    await assert_same_as_full_replay(harness)


async def test_damaged_snapshot_chunks_fall_back_to_a_full_replay(harness: Harness) -> None:
    await trade_a_little(harness, "d1")
    assert harness.client is not None and harness.engine is not None
    await snapshot.take(harness.engine)
    store = await harness.client.js.object_store(snapshot.BUCKET)
    info = await store.get_info(snapshot.object_name(VENUES))
    # One more chunk on the object's chunk subject: what a disk or a bad writer could leave behind.
    await harness.client.js.publish(f"$O.{snapshot.BUCKET}.C.{info.nuid}", b"garbage")
    await restart(harness)
    assert harness.engine.ledger.events == await stream_events(harness)
    await assert_same_as_full_replay(harness)


async def test_snapshot_of_another_schema_falls_back_to_a_full_replay(harness: Harness) -> None:
    await trade_a_little(harness, "v1")
    assert harness.engine is not None
    # A snapshot that claims the whole stream and holds no order: used, it would lose every order.
    old = snapshot.Snapshot(snapshot.SCHEMA + 1, await stream_events(harness), 0, VENUES, [],
                            snapshot.Retired(7, 0, b""))
    await put_snapshot(harness, msgspec.msgpack.encode(old))
    await restart(harness)
    assert harness.engine.ledger.events == await stream_events(harness)
    assert harness.order("v1-fill") is not None
    await assert_same_as_full_replay(harness)


async def test_snapshots_are_taken_every_n_events(nats_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = msgspec.structs.replace(TEST_TD, snapshot_every_events=5, snapshot_check_s=0.05)
    h = await Harness(nats_server.url, tmp_path, cfg=cfg).start()
    try:
        await trade_a_little(h, "n1")
        assert h.engine is not None
        last = h.engine.store.last_seq
        await until(lambda: h.engine is not None and h.engine.store.in_flight == 0, what="acks confirmed")

        async def snapshot_seq() -> int:
            try:
                return snapshot.decode(await snapshot_bytes(h), VENUES, filter_bytes(cfg)).stream_seq
            except Exception:
                return -1

        deadline = time.monotonic() + 5.0
        seq = await snapshot_seq()
        while seq < last:  # the background task's output, polled with a deadline
            assert time.monotonic() < deadline, f"no snapshot up to sequence {last} (newest: {seq})"
            await asyncio.sleep(0.05)
            seq = await snapshot_seq()
    finally:
        await h.close()
