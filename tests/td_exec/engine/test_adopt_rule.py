"""The adoption rule (td_exec.adopt) on its own: which in-flight order a foreign venue report is."""

from __future__ import annotations

from td_exec.adopt import adoptions
from td_exec.venue import OrderReport
from tradebus.orders.order import Order, new_order
from tradebus.schemas.orders import Offset, OrderStatus, OrderSubmitted, OrderType, Side

S = 1_000_000_000
T0 = 1_800_000_000 * S
GRACE = 60 * S


def ours(coid: str, *, qty: int = 1, price: float = 3000.0, at: int = T0) -> Order:
    return new_order(
        OrderSubmitted(
            event_id=coid,
            venue="ctp",
            account="A",
            client_order_id=coid,
            ts_event=at,
            ts_init=at,
            exchange="SHFE",
            symbol="rb2601",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            qty=qty,
            price=price,
            offset=Offset.OPEN,
        )
    )


def seen(
    key: str,
    *,
    qty: int = 1,
    price: float = 3000.0,
    at: int = T0 + S,
    foreign: bool = True,
    status: OrderStatus = OrderStatus.ACCEPTED,
) -> OrderReport:
    return OrderReport(
        account="A",
        client_order_id=None,
        venue_order_id=key,
        exchange="SHFE",
        symbol="rb2601",
        side=Side.BUY,
        qty=qty,
        price=price,
        status=status,
        offset=Offset.OPEN,
        ts_event=at,
        ts_inserted=at,
        foreign=foreign,
    )


def test_one_candidate_one_report_is_adopted() -> None:
    x = ours("x")
    adopted, refused = adoptions([x, ours("big", qty=2)], [seen("1:2:3", price=3000.0 + 1e-12)], GRACE)
    assert adopted == {"1:2:3": x} and refused == {}


def test_ambiguity_either_way_adopts_nothing() -> None:
    adopted, refused = adoptions([ours("a"), ours("b")], [seen("k1"), seen("k2")], GRACE)
    assert adopted == {} and set(refused) == {"k1", "k2"}
    adopted, refused = adoptions([ours("a")], [seen("k1"), seen("k2")], GRACE)
    assert adopted == {} and set(refused) == {"k1", "k2"}


def test_attributes_time_window_and_origin_must_agree() -> None:
    x = ours("x")
    early = seen("k", at=T0 - 3 * S)  # the venue took it before we stored it: not ours
    late = seen("k", at=T0 + GRACE + S)  # later than any insert travels
    other = (
        seen("k", qty=2),
        seen("k", price=3001.0),
        seen("k", foreign=False),
        seen("k", status=OrderStatus.REJECTED),
    )
    for report in (*other, early, late):
        assert adoptions([x], [report], GRACE) == ({}, {}), report
    x.venue_order_id = "named"  # a report of it was stored: nothing to adopt
    assert adoptions([x], [seen("k")], GRACE) == ({}, {})
