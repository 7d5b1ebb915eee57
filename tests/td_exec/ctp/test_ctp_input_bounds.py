"""Input bounds end to end: ``python -m td_exec`` (CTP) and ``python -m ctp_sim`` as processes, real NATS.

* a quantity of 2**31 (CTP's volume is an int32) is denied ``qty_too_large`` and never reaches the front;
* a price 1e-7 off the tick is snapped onto it (the front receives the tick price, not the raw one),
  one 0.3 tick off is denied ``price_off_tick``;
* a denied duplicate submit (the same client_order_id from another user, or with other terms) leaves
  the accepted order's ``td.evt`` subject untouched: the denial is reply-only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from ctp_front import CtpFront
from ctp_venue_helpers import INVESTOR, RecordingSink
from test_ctp_venue_e2e import TdExec, events, observer, order, request, submit_when_ready, until_status

from td_exec.ctp_venue import CtpVenue
from tradebus.bus import Bus
from tradebus.schemas.orders import CommandAccepted, CommandDenied, OrderDenied, OrderStatus
from tradebus.users import UserStore

__all__ = ["observer"]  # the fixture, shared with the end-to-end module


async def test_quantity_beyond_int32_is_denied_and_nothing_is_sent(nats_server: Any, bus: Bus, front: CtpFront,
                                                                   observer: tuple[CtpVenue, RecordingSink],
                                                                   tmp_path: Path) -> None:
    venue, _ = observer
    rb = await venue.instrument("SHFE", "rb2601")
    assert rb is not None and rb.lower_limit is not None
    svc = TdExec(nats_server.url, front, tmp_path / "td")
    svc.env["TRADEBUS_TD_MAX_ORDER_QTY"] = "1000"
    await svc.start()
    try:
        denied = await submit_when_ready(bus, order("huge-1", rb.lower_limit, qty=2**31), svc)
        assert isinstance(denied, CommandDenied) and denied.code == "qty_too_large", denied
        assert "2147483647" in denied.reason
        limit = await request(bus, order("huge-2", rb.lower_limit, qty=1001))  # [td] max_order_qty
        assert isinstance(limit, CommandDenied) and limit.code == "qty_too_large" and "max_order_qty" in limit.reason
        assert [type(e) for e in await events(bus, "huge-1")] == [OrderDenied]
        # An ordinary order after them goes through: nothing is stuck, and it is the front's only order.
        assert isinstance(await request(bus, order("small-1", rb.lower_limit)), CommandAccepted)
        await until_status(bus, "small-1", OrderStatus.ACCEPTED)
        at_front = await venue.query_orders(INVESTOR)
        assert [o.qty for o in at_front] == [1], at_front
    finally:
        await svc.stop()
    assert "OverflowError" not in svc.output.decode(errors="replace")


async def test_near_tick_price_is_snapped_and_off_tick_is_denied(nats_server: Any, bus: Bus, front: CtpFront,
                                                                 observer: tuple[CtpVenue, RecordingSink],
                                                                 tmp_path: Path) -> None:
    venue, _ = observer
    rb = await venue.instrument("SHFE", "rb2601")
    assert rb is not None and rb.lower_limit is not None and rb.price_tick == 1.0
    svc = await TdExec(nats_server.url, front, tmp_path / "td").start()
    try:
        raw = rb.lower_limit + 1e-7
        assert raw != rb.lower_limit
        reply = await submit_when_ready(bus, order("near-1", raw), svc)
        assert isinstance(reply, CommandAccepted) and reply.order.price == rb.lower_limit, reply
        await until_status(bus, "near-1", OrderStatus.ACCEPTED)
        [at_front] = await venue.query_orders(INVESTOR)
        assert at_front.price == rb.lower_limit  # the front got the tick price, not the raw one
        stored = [e for e in await events(bus, "near-1") if type(e).__name__ == "OrderSubmitted"]
        assert [e.price for e in stored] == [rb.lower_limit]  # type: ignore[attr-defined]
        off = await request(bus, order("off-1", rb.lower_limit + 0.3))
        assert isinstance(off, CommandDenied) and off.code == "price_off_tick"
        assert len(await venue.query_orders(INVESTOR)) == 1
    finally:
        await svc.stop()


async def test_denied_duplicate_leaves_the_accepted_orders_subject_untouched(
        nats_server: Any, bus: Bus, front: CtpFront, observer: tuple[CtpVenue, RecordingSink], tmp_path: Path) -> None:
    rb = await observer[0].instrument("SHFE", "rb2601")
    assert rb is not None and rb.lower_limit is not None
    users = UserStore(tmp_path / "td" / "users.json")
    users.add("alice", "alice-password-1", [f"ctp:{INVESTOR}"])
    users.add("bob", "bob-password-22", [f"ctp:{INVESTOR}"])
    users.add("mallory", "mallory-password", ["ctp:999999"])
    svc = await TdExec(nats_server.url, front, tmp_path / "td").start()
    try:
        mine = msgspec.structs.replace(order("dup-1", rb.lower_limit), user="alice")
        accepted = await submit_when_ready(bus, mine, svc)
        assert isinstance(accepted, CommandAccepted), accepted
        await until_status(bus, "dup-1", OrderStatus.ACCEPTED)
        before = await events(bus, "dup-1")
        same_again = await request(bus, mine)  # a retry of the same order: its view, nothing new
        assert isinstance(same_again, CommandAccepted) and same_again.duplicate
        for other in (msgspec.structs.replace(mine, user="bob"), msgspec.structs.replace(mine, qty=5),
                      msgspec.structs.replace(mine, user="mallory")):
            denied = await request(bus, other)
            assert isinstance(denied, CommandDenied), (other, denied)
            assert denied.code in ("duplicate_mismatch", "not_allowed"), denied
        after = await events(bus, "dup-1")
        assert after == before, after
        assert not any(isinstance(e, OrderDenied) for e in after)
    finally:
        await svc.stop()
