"""External orders in the engine: named from the venue's ids, recorded once, their fills folded; the
``ext-`` names are reserved."""

from __future__ import annotations

import time

from td_engine_helpers import Harness, fut_order

from td_exec.venue import FillReport, OrderReport, external_client_order_id
from tradebus.schemas.orders import CommandDenied, Offset, OrderStatus, Side


def _report(status: OrderStatus, filled: int = 0) -> OrderReport:
    return OrderReport(account="SIM-FUT", client_order_id=None, venue_order_id="V 7/1", exchange="SHFE",
                       symbol="rb2601", side=Side.SELL, qty=3, price=3100.0, status=status, offset=Offset.OPEN,
                       filled_qty=filled, ts_event=time.time_ns())


def _fill(trade: str) -> FillReport:
    return FillReport(account="SIM-FUT", client_order_id=None, venue_order_id="V 7/1", trade_id=f"sim:{trade}",
                      exchange="SHFE", symbol="rb2601", side=Side.SELL, qty=1, price=3100.0, offset=Offset.OPEN,
                      ts_event=time.time_ns())


async def test_an_order_reported_but_never_submitted_becomes_an_external_order(harness: Harness) -> None:
    engine = harness.engine
    assert engine is not None
    link = engine.links["sim"]
    acct = engine.account("sim", "SIM-FUT")
    engine.enqueue(link, _fill("early"))  # a fill before its order: nothing to hang it on yet
    for _ in range(2):  # a push, then the same order again (a reconciliation): recorded once
        engine.enqueue(link, _report(OrderStatus.ACCEPTED))
    engine.enqueue(link, _fill("t1"))
    engine.enqueue(link, _fill("t1"))
    await engine.barrier(acct)
    cid = external_client_order_id("V 7/1")
    assert cid == "ext-V_207_2F1"
    kinds = await harness.kinds(cid)
    assert kinds == ["OrderSubmitted", "OrderAccepted", "OrderFilled"], kinds
    order = harness.order(cid)
    view = order.view()
    assert view.external and view.offset is Offset.OPEN and view.filled_qty == 1 and view.venue_order_id == "V 7/1"
    assert (await harness.events(cid))[0].external  # type: ignore[attr-defined]
    assert engine.writer.foreign.get() == 1.0  # the early fill


async def test_external_names_are_reserved(harness: Harness) -> None:
    bid = harness.venue.market.quote("SHFE", "rb2601").bids[-1][0]
    reply = await harness.request(fut_order("ext-123", price=bid))
    assert isinstance(reply, CommandDenied) and reply.code == "bad_client_order_id", reply


def test_long_venue_ids_are_hashed_to_a_valid_client_order_id() -> None:
    name = external_client_order_id("20261207", "9" * 80)
    assert name.startswith("ext-") and len(name) <= 64
    assert name == external_client_order_id("20261207", "9" * 80)
