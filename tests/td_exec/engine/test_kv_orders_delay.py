"""KV ``orders``: an idle writer waits ``write_delay_s`` after the first touch, so an order's quick
succession of views (submitted, then accepted) is one put of the newest view."""

from __future__ import annotations

import asyncio

from td_engine_helpers import VIEW, bus_for

from td_exec.projections import ORDERS_BUCKET, OrdersProjection, order_key
from td_exec.reports import make_event
from tradebus.bus import ensure_topology
from tradebus.config import StreamsConfig
from tradebus.orders.order import Outcome, apply, new_order
from tradebus.runtime.metrics import Registry
from tradebus.schemas.base import now_ns
from tradebus.schemas.orders import OrderAccepted, OrderStatus, OrderSubmitted, OrderType, Side

DELAY_S = 0.5  # far above the few loop turns between the two touches below


def _submitted(coid: str) -> OrderSubmitted:
    now = now_ns()
    return OrderSubmitted(
        event_id=f"{coid}-submitted",
        venue="sim",
        account="SIM-FUT",
        client_order_id=coid,
        ts_event=now,
        ts_init=now,
        exchange="SHFE",
        symbol="rb2601",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        qty=1,
        price=3000.0,
    )


async def test_views_touched_within_the_delay_are_one_put_of_the_newest(nats_server) -> None:  # type: ignore[no-untyped-def]
    bus = await bus_for(nats_server.url, "kv-delay-test")
    projection: OrdersProjection | None = None
    try:
        await ensure_topology(bus.js, StreamsConfig())
        metrics = Registry()
        projection = OrdersProjection(bus, metrics, write_delay_s=DELAY_S)
        await projection.start()
        for _ in range(5):  # the writer's first turn: nothing dirty, so it waits for a touch
            await asyncio.sleep(0)

        order = new_order(_submitted("kv-delay-1"))
        projection.touch(order)
        for _ in range(5):  # the writer wakes and starts its delay; without one it would put "submitted" now
            await asyncio.sleep(0)
        assert apply(order, make_event(OrderAccepted, order, venue_order_id="V-1")) is Outcome.APPLIED
        projection.touch(order)
        await asyncio.wait_for(projection.settled(), DELAY_S + 5)

        rendered = metrics.render()
        assert b"\ntradebus_td_kv_orders_puts_total 1\n" in rendered, rendered  # one put, not two
        kv = await bus.js.key_value(ORDERS_BUCKET)
        stored = VIEW.decode((await kv.get(order_key("sim", "SIM-FUT", "kv-delay-1"))).value)
        assert stored.status is OrderStatus.ACCEPTED
    finally:
        if projection is not None:
            await projection.stop()
        await bus.close()
