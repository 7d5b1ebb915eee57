"""Adoption: our order in flight, reported by the venue as an order of another session.

The holder of an account stores ``OrderSubmitted`` and then sends the order from its own venue
session. When it dies after the send and before any report of the order was stored, the next holder
(another session) sees that order as one of *another session of the same investor* and, without this
rule, records it as an external ``ext-…`` order while the stored order is later settled as
``absent_at_venue``: one venue order, two orders in ``TD_EVT``.

Before such a report is recorded as external, the in-flight order it is can be *adopted*: it takes
the report's venue order id (``OrderAccepted(reconciliation=True)``) and fills and states follow it
through the venue-id index. Adoption is a guess from the order's attributes (the dead session's
memory of what it sent is gone), so it is made only when it is unambiguous — see :func:`adoptions`.
Pure functions of (orders, reports): no venue, no bus.
"""

from __future__ import annotations

from collections.abc import Iterable

from td_exec.reports import VENUE_HOLDS
from td_exec.venue import OrderReport
from tradebus.orders.order import Order
from tradebus.orders.state import IN_FLIGHT_STATUSES

# The venue stamps the insert in whole seconds (CTP's InsertTime) on its own clock: an order stored
# up to this long after the stamp is still one that may have been sent before it.
INSERT_SLACK_NS = 2_000_000_000
# Prices come from the same float the order was sent with; this only absorbs rounding, far below a tick.
_PRICE_REL_EPS = 1e-9


def _same_price(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= _PRICE_REL_EPS * max(1.0, abs(a), abs(b))


def is_candidate(order: Order, report: OrderReport, grace_ns: int) -> bool:
    """Whether ``order`` (ours, in flight, never named by the venue) may be the order ``report`` shows."""
    if order.external or order.venue_order_id or order.status not in IN_FLIGHT_STATUSES:
        return False
    if (order.exchange, order.symbol, order.side, order.qty, order.offset) != (
        report.exchange,
        report.symbol,
        report.side,
        report.qty,
        report.offset,
    ):
        return False
    if not _same_price(order.price, report.price):
        return False
    inserted = report.ts_inserted or report.ts_event
    # stored before the venue took it (a send follows the store), and not longer ago than an insert travels
    return inserted - grace_ns <= order.ts_created <= inserted + INSERT_SLACK_NS


def adoptable(report: OrderReport) -> bool:
    """Only a report the venue marks as another session's order, showing the venue holds it."""
    return report.foreign and bool(report.venue_order_id) and report.status in VENUE_HOLDS


def candidates(orders: Iterable[Order], report: OrderReport, grace_ns: int) -> list[Order]:
    return [o for o in orders if is_candidate(o, report, grace_ns)] if adoptable(report) else []


def adoptions(
    orders: Iterable[Order], reports: Iterable[OrderReport], grace_ns: int
) -> tuple[dict[str, Order], dict[str, str]]:
    """``(venue order id → our order to adopt it, venue order id → why it is not adopted)``.

    ``reports`` are the venue's reports that name no order of ours yet. A report is adopted only when
    exactly one order is its candidate AND that order is the candidate of exactly one of the reports:
    two identical orders in flight, or one order and two identical venue orders, stay as they are
    (external orders; ours settled by the absent-order rule), since any pairing would be a coin toss.
    """
    pool = list(orders)
    cands = {r.venue_order_id: candidates(pool, r, grace_ns) for r in reports if adoptable(r)}
    claims: dict[str, int] = {}
    for found in cands.values():
        for order in found:
            claims[order.client_order_id] = claims.get(order.client_order_id, 0) + 1
    adopted: dict[str, Order] = {}
    refused: dict[str, str] = {}
    for venue_order_id, found in cands.items():
        assert venue_order_id is not None  # adoptable() checked it
        if not found:
            continue
        if len(found) > 1:
            refused[venue_order_id] = f"{len(found)} orders in flight match it"
        elif claims[found[0].client_order_id] > 1:
            refused[venue_order_id] = f"{found[0].client_order_id} matches several venue orders"
        else:
            adopted[venue_order_id] = found[0]
    return adopted, refused
