"""Closed orders leave td_exec's memory (``td_exec.closed``): every lookup by id still answers exactly
(read back from TD_EVT), duplicates are still caught, and a restart from a snapshot holds the same orders
as a live engine and reads back exactly what a full replay gives."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from td_engine_helpers import TEST_TD, Harness, fut_order, until
from test_engine_snapshot import VENUES, put_snapshot, stream_events, trade_a_little

from td_exec import snapshot
from td_exec.closed import ClosedOrders, filter_bytes
from td_exec.rebuild import rebuild
from tradebus.ids import order_event_id
from tradebus.orders.order import Ledger, Order
from tradebus.runtime.metrics import Registry
from tradebus.schemas.base import encode, now_ns
from tradebus.schemas.orders import (
    CancelOrder,
    CommandAccepted,
    CommandDenied,
    OrderCancelRejected,
    OrderStatus,
    QueryOrders,
    QueryTrades,
)
from tradebus.subjects import td_evt

# Closed orders retire at the first sweep; the sweeps are called by the tests, not by the timer.
CFG = msgspec.structs.replace(TEST_TD, keep_closed_s=0.0, closed_sweep_s=3600.0)


@pytest.fixture
async def h(nats_server, tmp_path: Path) -> AsyncIterator[Harness]:  # type: ignore[no-untyped-def]
    harness = Harness(nats_server.url, tmp_path, cfg=CFG)
    try:
        await harness.start()
        yield harness
    finally:
        await harness.close()


async def sweep(h: Harness) -> int:
    assert h.engine is not None
    return await h.engine.closed.sweep(h.engine.ledger, h.engine.accounts, time.time_ns())


def held(h: Harness) -> dict[str, Order]:
    assert h.engine is not None
    return dict(h.engine.ledger.accounts.get(("sim", "SIM-FUT"), {}))


async def full_replay(h: Harness) -> Ledger:
    assert h.client is not None
    return await rebuild(h.client)


async def test_closed_orders_leave_memory_and_lookups_by_id_still_answer(h: Harness) -> None:
    await trade_a_little(h, "r1")
    ask_price = h.venue.market.quote("SHFE", "rb2601").asks[0][0]
    done = await h.request(fut_order("r1-done", qty=1, price=ask_price))
    assert isinstance(done, CommandAccepted) and done.order.status is OrderStatus.FILLED
    assert await sweep(h) == 2
    assert set(held(h)) == {"r1-rest", "r1-fill"}  # the filled and the cancelled order left, the open ones stay
    full = await full_replay(h)
    book = full.accounts[("sim", "SIM-FUT")]

    listed = await h.request(QueryOrders(venue="sim", account="SIM-FUT"))
    assert {o.client_order_id for o in listed.orders} == {"r1-rest", "r1-fill"}  # type: ignore[union-attr]
    one = await h.request(QueryOrders(venue="sim", account="SIM-FUT", client_order_id="r1-done"))
    assert one.orders == [book["r1-done"].view()]  # type: ignore[union-attr]
    assert h.order("r1-done") == book["r1-done"]  # read back into memory, exactly as a full replay folds it
    await sweep(h)
    trades = await h.request(QueryTrades(venue="sim", account="SIM-FUT", client_order_id="r1-done"))
    assert trades.trades == book["r1-done"].trades and trades.trades  # type: ignore[union-attr]

    await sweep(h)
    cancel = await h.request(CancelOrder(venue="sim", account="SIM-FUT", client_order_id="r1-cx"))
    assert isinstance(cancel, CommandDenied) and cancel.code == "order_closed"
    assert h.engine is not None and h.engine.closed.recalled.values[()] == 3
    assert h.engine.closed.false_hits.values.get((), 0) == 0


async def test_a_retired_order_id_is_still_a_duplicate(h: Harness) -> None:
    ask_price = h.venue.market.quote("SHFE", "rb2601").asks[0][0]
    first = await h.request(fut_order("d-1", qty=1, price=ask_price))
    assert isinstance(first, CommandAccepted) and first.order.status is OrderStatus.FILLED
    assert await sweep(h) == 1 and "d-1" not in held(h)
    events = await stream_events(h)

    again = await h.request(fut_order("d-1", qty=1, price=ask_price))  # the same order resent
    assert isinstance(again, CommandAccepted) and again.duplicate and again.order == first.order
    await sweep(h)
    other = await h.request(fut_order("d-1", qty=2, price=ask_price))  # another order reusing the id
    assert isinstance(other, CommandDenied) and other.code == "duplicate_mismatch"
    assert await stream_events(h) == events  # nothing sent, nothing written on the retired order's subject

    fresh = await h.request(fut_order("d-2", qty=1, price=ask_price))  # a filter miss: no read-back
    assert isinstance(fresh, CommandAccepted) and not fresh.duplicate
    assert h.engine is not None and h.engine.closed.false_hits.values.get((), 0) == 0


async def test_restart_from_snapshot_holds_what_was_held_and_reads_back_late_events(h: Harness) -> None:
    await trade_a_little(h, "s1")
    await sweep(h)
    assert h.engine is not None and h.client is not None
    seq = await snapshot.take(h.engine)
    assert seq > 0
    # An event of a retired order stored after the snapshot (a late venue answer): the tail names an
    # order the snapshot does not hold, and the restart must read it back.
    late = OrderCancelRejected(
        event_id=order_event_id("sim", "SIM-FUT", "s1-cx", "OrderCancelRejected", "late"),
        venue="sim",
        account="SIM-FUT",
        client_order_id="s1-cx",
        ts_event=now_ns(),
        ts_init=now_ns(),
        code="late",
        reason="too late to cancel",
    )
    await h.client.js.publish(td_evt("sim", "SIM-FUT", "s1-cx"), encode(late), headers={"Nats-Msg-Id": late.event_id})
    await trade_a_little(h, "s2")
    await sweep(h)
    before = held(h)
    await h.stop_engine()
    await h.start_engine()
    assert h.engine is not None
    # only the tail was folded (counted by subject: the fences each start appends are in the stream too)
    assert h.engine.ledger.events == await stream_events(h, after_seq=seq)
    full = (await full_replay(h)).accounts[("sim", "SIM-FUT")]
    await sweep(h)  # reconciliation read back the venue's closed orders of the day; they leave again
    after = held(h)
    assert set(after) == set(before) and all(after[k] == full[k] for k in before)

    # The restart's own fold, with closed orders kept: the snapshot's orders, the tail's, and the
    # retired order the late event named, read back with it.
    keep = msgspec.structs.replace(CFG, keep_closed_s=3600.0)
    fold = await snapshot.restore_fold(h.client, keep, VENUES, ClosedOrders(h.client, keep, Registry()))
    book = fold.accounts[("sim", "SIM-FUT")]
    assert set(book) == {"s1-fill", "s1-rest", "s1-cx", "s2-fill", "s2-rest", "s2-cx"}
    assert all(book[k] == full[k] for k in book)
    assert full["s1-cx"].repeats == {"OrderCancelRejected": 1}
    for coid, order in full.items():  # every retired order reads back as a full replay folds it
        assert await h.engine.closed.recall(h.engine.ledger, "sim", "SIM-FUT", coid) == order, coid
    await trade_a_little(h, "s3")  # and it keeps trading


async def test_snapshot_of_the_previous_schema_falls_back_to_a_full_replay(h: Harness) -> None:
    await trade_a_little(h, "o1")
    old = {
        "schema": snapshot.SCHEMA - 1,
        "stream_seq": await stream_events(h),
        "created_ns": 0,
        "venues": VENUES,
        "books": [],
    }  # schema 1 had no retired-order filter: read as schema 2 it would lose every order
    await put_snapshot(h, msgspec.msgpack.encode(old))
    await h.stop_engine()
    await h.start_engine()
    assert h.engine is not None and h.engine.ledger.events == await stream_events(h)
    await sweep(h)  # reconciliation read back the venue's closed orders of the day; they leave again
    assert set(held(h)) == {"o1-rest", "o1-fill"}


async def test_snapshot_with_a_filter_of_another_size_falls_back_to_a_full_replay(h: Harness) -> None:
    await trade_a_little(h, "f1")
    await sweep(h)
    assert h.engine is not None
    await snapshot.take(h.engine)
    await h.stop_engine()
    h.cfg = msgspec.structs.replace(CFG, retired_filter_mib=1.0)
    assert filter_bytes(h.cfg) != filter_bytes(CFG)
    await h.start_engine()
    assert h.engine is not None and h.engine.ledger.events == await stream_events(h)
    await sweep(h)
    assert set(held(h)) == {"f1-rest", "f1-fill"}
    assert await h.engine.closed.recall(h.engine.ledger, "sim", "SIM-FUT", "f1-cx") is not None


async def test_the_engine_retires_closed_orders_by_itself(nats_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = msgspec.structs.replace(CFG, closed_sweep_s=0.05)
    h = await Harness(nats_server.url, tmp_path, cfg=cfg).start()
    try:
        await trade_a_little(h, "t1")
        await until(lambda: set(held(h)) == {"t1-rest", "t1-fill"}, what="the cancelled order retired")
    finally:
        await h.close()
