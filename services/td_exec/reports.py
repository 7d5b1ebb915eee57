"""Venue reports → order events, by comparing what the venue says with the current fold.

Each function returns the *next* event the report implies for the order as it stands (or None);
the engine stores and applies it, then asks again, until nothing is left. So a report that shows a
never-acknowledged order already cancelled yields ``OrderAccepted`` then ``OrderCancelled``, and the
same report delivered twice yields nothing the second time. Event ids come from
:func:`tradebus.ids.order_event_id`: the same logical event always gets the same id.
"""

from __future__ import annotations

from typing import Any, Final

from td_exec.venue import CancelRejectReport, FillReport, OrderReport
from tradebus.ids import order_event_id
from tradebus.orders.order import Order
from tradebus.orders.state import IN_FLIGHT_STATUSES, OPEN_STATUSES
from tradebus.schemas.base import now_ns
from tradebus.schemas.orders import (
    OrderAccepted,
    OrderCancelled,
    OrderCancelRejected,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderStatusUnknown,
    OrderUpdated,
)

S = OrderStatus
_PRICE_EPS = 1e-9

# Venue statuses that prove the venue holds (or held) the order.
VENUE_HOLDS: Final[frozenset[OrderStatus]] = frozenset(
    {S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.PENDING_UPDATE, S.CANCELLED, S.EXPIRED}
)
# Venue statuses in which the order still works (a changed qty/price there is a modification).
VENUE_WORKING: Final[frozenset[OrderStatus]] = frozenset({S.ACCEPTED, S.PARTIALLY_FILLED})

REPEATABLE = (OrderUpdated, OrderCancelRejected, OrderStatusUnknown)


def make_event(cls: type[Any], order: Order, *, key: str | None = None, ts_event: int | None = None,
               reconciliation: bool = False, venue_order_id: str | None = None, **fields: Any) -> OrderEvent:
    """An event of ``cls`` for ``order`` with its deterministic id.

    Repeatable kinds are keyed by how many of them the order already folded, so the n-th update has
    the same id in every process that folds the same history.
    """
    if key is None:
        key = str(order.repeats.get(cls.__name__, 0)) if cls in REPEATABLE else ""
    now = now_ns()
    return cls(event_id=order_event_id(order.venue, order.account, order.client_order_id, cls.__name__, key),
               venue=order.venue, account=order.account, client_order_id=order.client_order_id,
               venue_order_id=venue_order_id or order.venue_order_id, ts_event=ts_event or now, ts_init=now,
               reconciliation=reconciliation, **fields)


def _differs(order: Order, report: OrderReport) -> bool:
    if report.qty > 0 and report.qty != order.qty:
        return True
    return (report.price is not None and order.price is not None
            and abs(report.price - order.price) > _PRICE_EPS)


def next_for_order_report(order: Order, report: OrderReport) -> OrderEvent | None:
    st = report.status
    common: dict[str, Any] = {"ts_event": report.ts_event, "reconciliation": report.reconciliation,
                              "venue_order_id": report.venue_order_id}
    if order.status in IN_FLIGHT_STATUSES:
        if st in VENUE_HOLDS:
            return make_event(OrderAccepted, order, **common)
        if st is S.REJECTED:
            return make_event(OrderRejected, order, code=report.code, reason=report.reason, **common)
        if st is S.UNKNOWN and order.status is S.SUBMITTED:
            return make_event(OrderStatusUnknown, order, reason=report.reason or "venue reports the outcome unknown",
                              **common)
        return None
    if order.status not in OPEN_STATUSES:
        return None
    if st in VENUE_WORKING and _differs(order, report) and report.qty > order.filled_qty:
        return make_event(OrderUpdated, order, qty=report.qty, price=report.price, **common)
    if st is S.CANCELLED:
        return make_event(OrderCancelled, order, reason=report.reason, **common)
    if st is S.EXPIRED:
        return make_event(OrderExpired, order, reason=report.reason, **common)
    if st is S.REJECTED:
        return make_event(OrderRejected, order, code=report.code, reason=report.reason, **common)
    return None


def next_for_fill(order: Order, report: FillReport) -> OrderEvent | None:
    if report.trade_id in order.trade_ids or report.trade_id in order.overfills:
        return None
    common: dict[str, Any] = {"ts_event": report.ts_event, "reconciliation": report.reconciliation,
                              "venue_order_id": report.venue_order_id}
    if order.status in IN_FLIGHT_STATUSES:  # a fill proves the venue took the order
        return make_event(OrderAccepted, order, **common)
    return make_event(OrderFilled, order, key=report.trade_id, trade_id=report.trade_id, fill_qty=report.qty,
                      fill_price=report.price, fee=report.fee, fee_currency=report.fee_currency,
                      offset=report.offset, **common)


def cancel_rejected(order: Order, report: CancelRejectReport) -> OrderEvent:
    return make_event(OrderCancelRejected, order, code=report.code, reason=report.reason, ts_event=report.ts_event,
                      venue_order_id=report.venue_order_id)
