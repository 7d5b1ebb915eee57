"""CtpVenue across front restarts, its own restarts, and the RESTART replay of the trading day."""

from __future__ import annotations

import signal
from pathlib import Path

from ctp_front import CtpFront
from ctp_venue_helpers import INVESTOR, RecordingSink, start_venue, venue_order

from td_exec.ctp_venue import CtpVenue
from td_exec.venue import OrderRef
from tradebus.ctp.ids import parse_order_key as parse_venue_order_id
from tradebus.schemas.orders import OrderStatus


async def _limits(adapter: CtpVenue) -> tuple[float, float]:
    rb = await adapter.instrument("SHFE", "rb2601")
    assert rb is not None and rb.lower_limit is not None and rb.upper_limit is not None
    return rb.lower_limit, rb.upper_limit


async def _filled(sink: RecordingSink, coid: str, qty: int) -> None:
    await sink.wait(lambda: sum(f.qty for f in sink.fills_of(coid)) == qty, what=f"fills of {coid}")
    await sink.wait(lambda: sink.last(coid) and sink.last(coid).status is OrderStatus.FILLED, what=f"{coid} filled")


async def test_front_killed_and_restarted_reconnects_and_replay_adds_nothing(front: CtpFront, tmp_path: Path) -> None:
    adapter, sink = await start_venue(front, tmp_path / "td")
    try:
        low, high = await _limits(adapter)
        await adapter.submit(venue_order("fill-a", qty=2, price=high))
        await _filled(sink, "fill-a", 2)
        await adapter.submit(venue_order("rest-a", price=low))
        await sink.wait(lambda: sink.last("rest-a") and sink.last("rest-a").status is OrderStatus.ACCEPTED,
                        what="rest-a accepted")
        orders_before, fills_before = list(sink.orders), list(sink.fills)
        front.stop(signal.SIGKILL)
        await sink.wait(lambda: not sink.connections[-1][0], what="disconnect reported")
        front.start()  # same ports and state dir: the front remembers its day
        await sink.connected(2)
        # The replay (the whole day's RtnOrder/RtnTrade) came with the login: none of it is new.
        assert sink.orders == orders_before and sink.fills == fills_before
        # The order from the old session is still ours to cancel in the new one.
        rest = sink.last("rest-a")
        await adapter.cancel(OrderRef(account=INVESTOR, client_order_id="rest-a", venue_order_id=rest.venue_order_id,
                                      exchange="SHFE", symbol="rb2601"))
        await sink.wait(lambda: sink.last("rest-a").status is OrderStatus.CANCELLED, what="rest-a cancelled")
        # Reconciliation after the reconnect sees the same fills under the same ids.
        assert {f.trade_id for f in await adapter.query_fills(INVESTOR)} == {f.trade_id for f in fills_before}
    finally:
        await adapter.stop()
    # td_exec restarted with its data dir: the login's replay is recognised, nothing is reported again.
    again, sink2 = await start_venue(front, tmp_path / "td")
    try:
        await again.query_funds(INVESTOR)  # one query round trip after login: the replay has been read
        assert sink2.fills == [] and sink2.orders == []
    finally:
        await again.stop()
    # Even with its memory lost, the replayed fills carry the same trade ids (the engine dedupes on them).
    fresh, sink3 = await start_venue(front, tmp_path / "td-lost")
    try:
        await fresh.query_funds(INVESTOR)
        replayed = [f.trade_id for f in sink3.fills]
        assert sorted(replayed) == sorted(f.trade_id for f in fills_before)
        assert len(set(replayed)) == len(replayed)
    finally:
        await fresh.stop()


async def test_adapter_dies_before_the_front_answers_then_maps_the_order_back(tmp_path: Path) -> None:
    front = CtpFront(tmp_path / "front", "--order-ack-delay-ms", "1500", seed=5).start()
    try:
        adapter, sink = await start_venue(front, tmp_path / "td")
        low, high = await _limits(adapter)
        await adapter.submit(venue_order("slow-1", qty=1, price=high))
        await adapter.stop()  # gone before the front took the order
        assert sink.order_states("slow-1") == []
        again, sink2 = await start_venue(front, tmp_path / "td")
        try:
            await _filled(sink2, "slow-1", 1)
            first = sink2.last("slow-1")
            # A retry of the same order (the engine re-driving an in-flight submit) is never sent again.
            await again.submit(venue_order("slow-1", qty=1, price=high))
            await again.submit(venue_order("next-1", qty=1, price=low))
            await sink2.wait(lambda: sink2.last("next-1"), what="next-1")
            orders = await again.query_orders(INVESTOR)
            assert sorted(o.client_order_id for o in orders) == ["next-1", "slow-1"]
            # OrderRefs keep growing across the restart: the new order did not reuse the old ref.
            old_ref = parse_venue_order_id(first.venue_order_id)
            new_ref = parse_venue_order_id(sink2.last("next-1").venue_order_id)
            assert old_ref is not None and new_ref is not None and new_ref[2] > old_ref[2]
            assert new_ref[1] != old_ref[1]  # a new session
        finally:
            await again.stop()
    finally:
        front.stop()
