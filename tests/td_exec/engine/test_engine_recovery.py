"""Idempotency, crashes, NATS outages, venue disconnects, rebuilds: the order always ends where the venue is."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from td_engine_helpers import TEST_TD, Harness, fut_order, until

from td_exec.rebuild import rebuild
from td_exec.sim_venue import STATUS_SIM2TD
from tradebus.schemas.orders import CommandAccepted, CommandDenied, OrderFilled, OrderStatus, Side


async def test_same_client_order_id_three_times_concurrently_returns_one_venue_order(harness: Harness) -> None:
    harness.venue.answer_delay_s = 0.2  # all three arrive while the first is still at the venue
    bid = harness.venue.market.quote("SHFE", "rb2601").bids[-1][0]
    replies = await asyncio.gather(*(harness.request(fut_order("dup-1", qty=2, price=bid)) for _ in range(3)))
    assert all(isinstance(r, CommandAccepted) for r in replies), replies
    assert sorted(r.duplicate for r in replies) == [False, True, True]  # type: ignore[union-attr]
    assert harness.venue.inserts == 1
    assert len([o for o in harness.venue.market.orders("SIM-FUT") if o.remark == "dup-1"]) == 1
    kinds = await harness.kinds("dup-1")
    assert kinds == ["OrderSubmitted", "OrderAccepted"]
    # A later retry (a restarted client) gets the same order back, and nothing is sent.
    again = await harness.request(fut_order("dup-1", qty=2, price=bid))
    assert isinstance(again, CommandAccepted) and again.duplicate and harness.venue.inserts == 1


async def test_engine_killed_between_submitted_and_venue_answer_ends_in_venue_state(harness: Harness) -> None:
    venue = harness.venue
    venue.answer_delay_s = 0.5
    ask_price, ask_qty = venue.market.quote("SHFE", "rb2601").asks[0]
    request = asyncio.create_task(harness.request(fut_order("crash-1", qty=ask_qty + 2, price=ask_price)))
    engine = harness.engine
    assert engine is not None
    await until(lambda: engine.ledger.get("sim", "SIM-FUT", "crash-1") is not None, what="OrderSubmitted")
    await harness.crash_engine()  # the order is on the wire; td_exec is gone
    request.cancel()
    await asyncio.gather(request, return_exceptions=True)
    await harness.start_engine()  # same stream, same venue session, new process
    order = harness.order("crash-1")
    await until(lambda: order.status is OrderStatus.PARTIALLY_FILLED, what="venue's state after restart")
    truth = venue.venue_order("SIM-FUT", "crash-1")
    assert truth is not None and venue.inserts == 1
    assert (order.status, order.filled_qty, order.venue_order_id) == (STATUS_SIM2TD[truth.status],
                                                                      truth.filled_qty, truth.order_id)
    kinds = await harness.kinds("crash-1")
    assert kinds[0] == "OrderSubmitted" and kinds.count("OrderSubmitted") == 1 and "OrderRejected" not in kinds
    venue_trades = [t for t in venue.market.trades("SIM-FUT") if t.order_id == truth.order_id]
    assert kinds.count("OrderFilled") == len(venue_trades)
    # And it keeps working: the rest fills through a live push to the new engine.
    venue.counterparty("SHFE", "rb2601", Side.SELL, 2, ask_price)
    await until(lambda: order.status is OrderStatus.FILLED, what="filled after restart")


async def test_engine_killed_before_order_lands_settles_from_live_push(harness: Harness) -> None:
    venue = harness.venue
    venue.answer_delay_s = 1.0
    bid = venue.market.quote("SHFE", "rb2601").bids[-1][0]
    request = asyncio.create_task(harness.request(fut_order("crash-2", qty=1, price=bid)))
    engine = harness.engine
    assert engine is not None
    await until(lambda: engine.ledger.get("sim", "SIM-FUT", "crash-2") is not None, what="OrderSubmitted")
    await harness.crash_engine()
    request.cancel()
    await asyncio.gather(request, return_exceptions=True)
    await harness.start_engine()  # reconciles before the order lands: it stays in flight, not rejected
    order = harness.order("crash-2")
    assert order.status is OrderStatus.SUBMITTED
    await until(lambda: order.status is OrderStatus.ACCEPTED, what="accepted by the late push")
    assert venue.inserts == 1


async def test_nats_stopped_while_fills_arrive_stores_each_fill_once(nats_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    h = await Harness(nats_server.url, tmp_path).start()
    try:
        venue = h.venue
        bid, ask_qty = venue.market.quote("SHFE", "rb2601").asks[0]
        await h.request(fut_order("nats-sweep", qty=ask_qty, price=bid))  # our bid becomes the best one
        reply = await h.request(fut_order("nats-1", qty=6, price=bid))
        assert isinstance(reply, CommandAccepted) and reply.order.status is OrderStatus.ACCEPTED
        engine = h.engine
        assert engine is not None
        order = h.order("nats-1")
        venue.counterparty("SHFE", "rb2601", Side.SELL, 1, bid)  # one fill while NATS is up
        await until(lambda: order.filled_qty == 1, what="first fill")
        nats_server.server.stop()
        await until(lambda: not engine.bus.nc.is_connected, what="engine sees NATS down")
        for _ in range(5):  # five fills while NATS is down: spooled to disk
            venue.counterparty("SHFE", "rb2601", Side.SELL, 1, bid)
        await until(lambda: order.status is OrderStatus.FILLED, what="fills applied")
        assert engine.store.spool.size > 0
        nats_server.server.start()
        await until(lambda: engine.store.spool.empty, timeout=15, what="spool flushed")
        events = await h.events("nats-1")
        fills = [e for e in events if isinstance(e, OrderFilled)]
        trade_ids = {f"sim:{t.trade_id}" for t in venue.market.trades("SIM-FUT")
                     if t.order_id == venue.venue_order("SIM-FUT", "nats-1").order_id}  # type: ignore[union-attr]
        assert sorted(Counter(f.trade_id for f in fills).values()) == [1] * 6
        assert {f.trade_id for f in fills} == trade_ids
        # A replay of the same reports (a venue re-push) adds nothing.
        for t in venue.market.trades("SIM-FUT"):
            h.engine.enqueue(h.engine.links["sim"], venue._fill(t))
        await h.engine.barrier(h.engine.accounts[("sim", "SIM-FUT")])
        assert len([e for e in await h.events("nats-1") if isinstance(e, OrderFilled)]) == 6
        await engine.projection.settled()
        view = await h.kv_view("nats-1")
        assert view is not None and view.status is OrderStatus.FILLED
    finally:
        await h.close()


async def test_venue_disconnected_during_open_orders_then_back_reconciles_to_venue(harness: Harness) -> None:
    venue = harness.venue
    quote = venue.market.quote("SHFE", "rb2601")
    bid, ask_qty = quote.asks[0]
    low = quote.bids[-1][0] - 3.0
    await harness.request(fut_order("rc-sweep", qty=ask_qty, price=bid))  # our bids become the best ones
    for coid, price in (("rc-fill", bid), ("rc-cancel", low), ("rc-rest", low - 1.0), ("rc-part", bid)):
        reply = await harness.request(fut_order(coid, qty=4, price=price))
        assert isinstance(reply, CommandAccepted) and reply.order.status is OrderStatus.ACCEPTED
    venue.set_connected(False)
    denied = await harness.request(fut_order("rc-new", qty=1, price=bid))
    assert isinstance(denied, CommandDenied) and denied.code == "venue_disconnected"
    # While we are away: the market fills one order fully and another in part; someone cancels one.
    venue.counterparty("SHFE", "rb2601", Side.SELL, 6, bid)
    cancelled = venue.venue_order("SIM-FUT", "rc-cancel")
    assert cancelled is not None
    venue.market.cancel("SIM-FUT", cancelled.order_id)
    assert harness.order("rc-fill").filled_qty == 0  # nothing of it reached us
    venue.set_connected(True)
    await harness.ready()
    for o in venue.market.orders("SIM-FUT"):
        mine = harness.order(o.remark)
        assert (mine.status, mine.filled_qty, mine.qty) == (STATUS_SIM2TD[o.status], o.filled_qty, o.qty), o.remark
    kinds = await harness.kinds("rc-fill")
    assert kinds == ["OrderSubmitted", "OrderAccepted", "OrderFilled"]
    events = await harness.events("rc-cancel")
    assert events[-1].reconciliation and type(events[-1]).__name__ == "OrderCancelled"


async def test_rebuild_from_stream_returns_same_orders_as_memory(harness: Harness) -> None:
    venue = harness.venue
    ask_price, ask_qty = venue.market.quote("SHFE", "rb2601").asks[0]
    await harness.request(fut_order("rb-1", qty=ask_qty + 1, price=ask_price))
    await harness.request(fut_order("rb-2", qty=1, price=ask_price - 20.0))
    await harness.request(fut_order("rb-3", qty=1, price=ask_price + 0.5))  # denied: off tick
    engine = harness.engine
    assert engine is not None
    rebuilt = await rebuild(harness.client)  # type: ignore[arg-type]
    live = {k: {c: o.view() for c, o in book.items()} for k, book in engine.ledger.accounts.items() if book}
    again = {k: {c: o.view() for c, o in book.items()} for k, book in rebuilt.accounts.items() if book}
    assert again == live and set(live[("sim", "SIM-FUT")]) == {"rb-1", "rb-2"}
    assert rebuilt.orphans == 1  # the denial: an event without an order
    # A restarted engine folds to the same state and rewrites the projection.
    await harness.stop_engine()
    await harness.start_engine()
    assert {c: o.view() for c, o in harness.engine.ledger.book("sim", "SIM-FUT").items()} == live[("sim", "SIM-FUT")]


async def test_submit_timeout_leaves_unknown_until_the_venue_settles_it(nats_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import msgspec

    cfg = msgspec.structs.replace(TEST_TD, submit_timeout_s=0.2)
    h = await Harness(nats_server.url, tmp_path, cfg=cfg).start()
    try:
        h.venue.answer_delay_s = 0.6
        bid = h.venue.market.quote("SHFE", "rb2601").bids[-1][0]
        reply = await h.request(fut_order("slow-1", qty=1, price=bid))
        assert isinstance(reply, CommandAccepted) and reply.order.status is OrderStatus.UNKNOWN
        order = h.order("slow-1")
        await until(lambda: order.status is OrderStatus.ACCEPTED, what="settled by the venue's push")
        assert await h.kinds("slow-1") == ["OrderSubmitted", "OrderStatusUnknown", "OrderAccepted"]
    finally:
        await h.close()
