"""Pure parts: the state table, the fold (hypothesis), pre-trade checks, the spool."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from td_exec.checks import (
    check_modify,
    check_submit,
    check_submit_without_facts,
    exchange_grid,
    on_tick,
    snap_price,
)
from td_exec.spool import Spool, SpoolFull
from td_exec.venue import Capabilities
from tradebus.ids import order_event_id
from tradebus.orders.order import Ledger, Outcome, apply, fold, new_order
from tradebus.orders.state import TRANSITIONS, next_status
from tradebus.schemas import TERMINAL_STATUSES
from tradebus.schemas.account import InstrumentInfo
from tradebus.schemas.orders import (
    Offset,
    OrderAccepted,
    OrderCancelled,
    OrderCancelRejected,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderStatusUnknown,
    OrderSubmitted,
    OrderType,
    OrderUpdated,
    Side,
    SubmitOrder,
    TimeInForce,
)

IDS = {"venue": "sim", "account": "A", "client_order_id": "c1", "ts_event": 1, "ts_init": 1}
SUBMITTED = OrderSubmitted(event_id="s", **IDS, exchange="SHFE", symbol="rb2601", side=Side.BUY,
                           order_type=OrderType.LIMIT, qty=10, price=3000.0, offset=Offset.OPEN)


def _eid(kind: str, key: str = "") -> str:
    return order_event_id("sim", "A", "c1", kind, key)


def _event(kind: str, n: int, qty: int) -> OrderEvent:
    if kind == "fill":
        return OrderFilled(event_id=_eid("OrderFilled", f"t{n}"), **IDS, trade_id=f"t{n}", fill_qty=qty,
                           fill_price=3000.0)
    if kind == "update":
        return OrderUpdated(event_id=_eid("OrderUpdated", str(n)), **IDS, qty=qty, price=3001.0)
    if kind == "unknown":
        return OrderStatusUnknown(event_id=_eid("OrderStatusUnknown", str(n)), **IDS, reason="timeout")
    if kind == "cancel_rejected":
        return OrderCancelRejected(event_id=_eid("OrderCancelRejected", str(n)), **IDS, code="26", reason="x")
    simple = {"accepted": OrderAccepted, "cancelled": OrderCancelled, "expired": OrderExpired}
    if kind in simple:
        return simple[kind](event_id=_eid(simple[kind].__name__), **IDS)
    return OrderRejected(event_id=_eid("OrderRejected"), **IDS, code="31", reason="no money")


EVENTS = st.lists(st.tuples(st.sampled_from(["fill", "update", "unknown", "cancel_rejected", "accepted",
                                              "cancelled", "expired", "rejected"]),
                            st.integers(0, 6), st.integers(-2, 14)), max_size=30)


@settings(max_examples=300, deadline=None)
@given(EVENTS)
def test_fold_of_any_event_sequence_never_raises_or_overfills(steps: list[tuple[str, int, int]]) -> None:
    order = new_order(SUBMITTED)
    closed_at: OrderStatus | None = None
    for kind, n, qty in steps:
        before = order.status
        apply(order, _event(kind, n, qty))
        assert 0 <= order.filled_qty <= order.qty
        assert order.filled_qty == sum(t.qty for t in order.trades)
        assert len(order.trade_ids) == len(order.trades)
        if closed_at is not None:
            # Terminal stays terminal; the only way out is a late fill completing the order.
            assert order.status in TERMINAL_STATUSES
            assert order.status is before or (order.status is OrderStatus.FILLED and kind in {"fill", "update"})
        if order.status in TERMINAL_STATUSES:
            closed_at = order.status


@settings(max_examples=200, deadline=None)
@given(EVENTS)
def test_fold_of_a_replayed_sequence_returns_the_same_order(steps: list[tuple[str, int, int]]) -> None:
    events = [_event(kind, n, qty) for kind, n, qty in steps]
    once, twice = Ledger(), Ledger()
    for ev in [SUBMITTED, *events]:
        fold(once, ev)
    for ev in [SUBMITTED, *events, SUBMITTED, *events]:
        fold(twice, ev)
    a, b = once.get("sim", "A", "c1"), twice.get("sim", "A", "c1")
    assert a is not None and b is not None
    assert (a.status, a.filled_qty, a.qty, a.price, a.trade_ids) == (b.status, b.filled_qty, b.qty, b.price,
                                                                     b.trade_ids)


def test_state_table_has_no_exit_from_terminal_states_except_fills() -> None:
    for (frm, trig), to in TRANSITIONS.items():
        if frm in TERMINAL_STATUSES and to is not frm:
            assert trig == "fill_full" and to is OrderStatus.FILLED, (frm, trig, to)
    assert next_status(OrderStatus.UNKNOWN, "accepted") is OrderStatus.ACCEPTED
    assert next_status(OrderStatus.FILLED, "cancelled") is None  # impossible: kept, counted


def test_impossible_transition_keeps_state_and_reports_it() -> None:
    order = new_order(SUBMITTED)
    apply(order, _event("fill", 1, 10))
    assert order.status is OrderStatus.FILLED
    assert apply(order, _event("cancelled", 0, 0)) is Outcome.IMPOSSIBLE
    assert order.status is OrderStatus.FILLED
    assert apply(order, _event("fill", 1, 10)) is Outcome.DUPLICATE
    assert apply(order, _event("fill", 2, 1)) is Outcome.OVERFILL


def test_late_fill_on_cancelled_order_counts_and_completes() -> None:
    order = new_order(SUBMITTED)
    for ev in (_event("accepted", 0, 0), _event("fill", 1, 4), _event("cancelled", 0, 0), _event("fill", 2, 6)):
        apply(order, ev)
    assert (order.status, order.filled_qty) == (OrderStatus.FILLED, 10)


FUT = InstrumentInfo(venue="sim", exchange="SHFE", symbol="rb2601", kind="future", price_tick=1.0,
                     upper_limit=3300.0, lower_limit=2900.0)
HK = InstrumentInfo(venue="sim", exchange="HK", symbol="00700", lot_size=100, price_tick=0.5)
LIMIT_ONLY = Capabilities(order_types=frozenset({OrderType.LIMIT}), time_in_force=frozenset({TimeInForce.DAY}),
                          offsets=frozenset({Offset.OPEN, Offset.CLOSE}), modify=False)


def _cmd(**kw: object) -> SubmitOrder:
    base: dict[str, object] = {"venue": "ctp", "account": "1", "exchange": "SHFE", "symbol": "rb2601",
                               "side": Side.BUY, "qty": 1, "price": 3000.0, "offset": Offset.OPEN}
    base.update(kw)
    return SubmitOrder(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kw", "code"), [
    ({"order_type": OrderType.MARKET, "price": None}, "unsupported_order_type"),
    ({"time_in_force": TimeInForce.FOK}, "unsupported_tif"),
    ({"offset": Offset.CLOSE_TODAY}, "unsupported_offset"),
    ({"qty": -1}, "bad_qty"),
    ({"price": float("nan")}, "not_finite"),
    ({"price": 3000.5}, "price_off_tick"),
    ({"price": 2899.0}, "price_out_of_limits"),
    ({"price": 3301.0}, "price_out_of_limits"),
    ({"qty": 2**31}, "qty_too_large"),
    ({"qty": 1001}, "qty_too_large"),
    ({"price": 3000.00001}, "price_off_tick"),
])
def test_check_submit_with_bad_field_returns_its_code(kw: dict[str, object], code: str) -> None:
    denial = check_submit(_cmd(**kw), FUT, LIMIT_ONLY, max_qty=1000)
    assert denial is not None and denial.code == code


def test_check_submit_with_good_order_returns_none_and_hk_uses_the_spread_table() -> None:
    assert check_submit(_cmd(), FUT, LIMIT_ONLY, max_qty=1000) is None
    assert check_submit(_cmd(qty=1000, price=3000.0000001), FUT, LIMIT_ONLY, max_qty=1000) is None  # snapped later
    assert on_tick(HK, 602.5) and on_tick(HK, 19.98) and not on_tick(HK, 602.3)
    assert check_modify(FUT, 5, 3001.0, filled_qty=5, max_qty=1000).code == "bad_qty"  # type: ignore[union-attr]
    assert check_modify(FUT, None, None, filled_qty=0, max_qty=1000).code == "nothing_to_modify"  # type: ignore[union-attr]
    assert check_modify(FUT, 2**31, None, filled_qty=0, max_qty=2**40).code == "qty_too_large"  # type: ignore[union-attr]


def test_snap_price_puts_near_tick_prices_on_the_grid_with_the_tick_decimals() -> None:
    assert snap_price(FUT, 3000.0000001) == 3000.0 and snap_price(FUT, 2999.9999999) == 3000.0
    assert snap_price(HK, 19.980000001) == 19.98 and repr(snap_price(HK, 602.49999999)) == "602.5"
    assert snap_price(HK, 0.1 + 0.2 + 0.01 * 3) == 0.33  # float noise leaves with the tick's decimals


def test_spool_keeps_order_drops_flushed_head_and_refuses_when_full(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=200)
    spool.append("td.evt.a", "id1", b"x" * 40)
    spool.append("td.evt.b", "id2", b"y" * 40)
    with pytest.raises(SpoolFull):
        spool.append("td.evt.c", "id3", b"z" * 200)
    assert [r.msg_id for r in spool.records()] == ["id1", "id2"]
    spool.drop_first(1)
    assert [r.msg_id for r in spool.records()] == ["id2"]
    spool.close()
    with open(tmp_path / "spool" / "events.spool", "ab") as raw:  # a crash inside append: torn tail
        raw.write(b"\x00\x00\x00\x50partial")
    reopened = Spool(tmp_path / "spool", max_bytes=200)
    assert [r.msg_id for r in reopened.records()] == ["id2"]
    reopened.append("td.evt.d", "id4", b"w")
    assert [r.msg_id for r in reopened.records()] == ["id2", "id4"]
    reopened.close()


STOCKS = Capabilities(order_types=frozenset({OrderType.LIMIT}), time_in_force=frozenset({TimeInForce.DAY}),
                      offsets=frozenset({Offset.NONE}), modify=True)


def test_orders_without_venue_facts_keep_the_exchange_grid_where_the_exchange_publishes_one() -> None:
    hk = {"venue": "futu", "exchange": "HK", "symbol": "00700", "offset": Offset.NONE}
    off_tick = check_submit_without_facts(_cmd(**hk, price=602.3), STOCKS, max_qty=1000)
    assert off_tick is not None and off_tick.code == "price_off_tick"  # HKEX's spread table: 0.5 above 500
    assert check_submit_without_facts(_cmd(**hk, price=602.5000000001), STOCKS, max_qty=1000) is None
    grid = exchange_grid("futu", "HK", "00700")
    assert grid is not None and snap_price(grid, 602.5000000001) == 602.5
    # elsewhere the grid is the venue's fact: without it the price goes as given and the venue decides
    assert exchange_grid("futu", "US", "AAPL") is None
    assert check_submit_without_facts(_cmd(venue="futu", exchange="US", symbol="AAPL", offset=Offset.NONE,
                                           price=187.123), STOCKS, max_qty=1000) is None
    too_big = check_submit_without_facts(_cmd(**hk, qty=2**31, price=602.5), STOCKS, max_qty=2**40)
    assert too_big is not None and too_big.code == "qty_too_large"
