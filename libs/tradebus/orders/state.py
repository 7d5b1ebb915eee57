"""The order state machine: one explicit ``(state, trigger) → state`` table.

A trigger is the event's kind, except for fills, which are split by the cumulative quantity into
``fill_partial`` and ``fill_full``. A pair missing from the table is an *impossible* transition: the
caller keeps the current state, logs it and counts it (the event itself is stored all the same —
history is never rewritten, and a wrong guess here must never be fatal).

Rules worth knowing (``nautilus_trader``'s ``_ORDER_STATE_TABLE`` is the model):

* ``UNKNOWN`` (a timeout or disconnect during submit) settles from whatever the venue reports next.
* A late fill on a ``CANCELLED`` / ``EXPIRED`` / ``REJECTED`` order is real money: its quantity always
  counts, and when it completes the order the state becomes ``FILLED``; otherwise the state stays.
* ``ACCEPTED → REJECTED`` happens (an exchange refusing after the broker acknowledged).
* A cancel reject leaves a working order where it was.
"""

from __future__ import annotations

from typing import Final

from tradebus.schemas.orders import (
    OrderAccepted,
    OrderCancelled,
    OrderCancelRejected,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderStatusUnknown,
    OrderSubmitted,
    OrderUpdated,
)

S = OrderStatus

# Event class → trigger name (fills are refined by quantity in :func:`trigger`).
TRIGGER_OF: Final[dict[type, str]] = {
    OrderSubmitted: "submitted",
    OrderDenied: "denied",
    OrderAccepted: "accepted",
    OrderRejected: "rejected",
    OrderFilled: "fill",
    OrderCancelled: "cancelled",
    OrderCancelRejected: "cancel_rejected",
    OrderExpired: "expired",
    OrderUpdated: "updated",
    OrderStatusUnknown: "unknown",
}

_WORKING_OUTCOMES: dict[str, OrderStatus] = {
    "rejected": S.REJECTED,
    "fill_partial": S.PARTIALLY_FILLED,
    "fill_full": S.FILLED,
    "cancelled": S.CANCELLED,
    "expired": S.EXPIRED,
}


def _working(state: OrderStatus, **extra: OrderStatus) -> dict[tuple[OrderStatus, str], OrderStatus]:
    """Transitions shared by every state in which the venue may hold the order."""
    rows = {(state, trig): to for trig, to in _WORKING_OUTCOMES.items()}
    rows[(state, "updated")] = state
    rows[(state, "cancel_rejected")] = state
    rows.update({(state, trig): to for trig, to in extra.items()})
    return rows


TRANSITIONS: Final[dict[tuple[OrderStatus, str], OrderStatus]] = {
    (S.INITIALIZED, "submitted"): S.SUBMITTED,
    (S.INITIALIZED, "denied"): S.DENIED,
    **_working(S.SUBMITTED, accepted=S.ACCEPTED, unknown=S.UNKNOWN),
    **_working(S.UNKNOWN, accepted=S.ACCEPTED, unknown=S.UNKNOWN),
    **_working(S.ACCEPTED, accepted=S.ACCEPTED),
    **_working(S.PARTIALLY_FILLED, accepted=S.PARTIALLY_FILLED),
    **_working(S.PENDING_CANCEL, accepted=S.ACCEPTED),
    **_working(S.PENDING_UPDATE, accepted=S.ACCEPTED),
    # Late fills on closed orders: the quantity counts; only a completing fill moves the state.
    (S.CANCELLED, "fill_partial"): S.CANCELLED,
    (S.CANCELLED, "fill_full"): S.FILLED,
    (S.EXPIRED, "fill_partial"): S.EXPIRED,
    (S.EXPIRED, "fill_full"): S.FILLED,
    (S.REJECTED, "fill_partial"): S.REJECTED,
    (S.REJECTED, "fill_full"): S.FILLED,
    # Re-deliveries that change nothing (a venue re-push after reconnect).
    (S.FILLED, "accepted"): S.FILLED,
    (S.CANCELLED, "cancelled"): S.CANCELLED,
    (S.REJECTED, "rejected"): S.REJECTED,
    (S.EXPIRED, "expired"): S.EXPIRED,
}

# The working states, in which a cancel or modify may be sent.
OPEN_STATUSES: Final[frozenset[OrderStatus]] = frozenset(
    {S.SUBMITTED, S.UNKNOWN, S.ACCEPTED, S.PARTIALLY_FILLED, S.PENDING_CANCEL, S.PENDING_UPDATE}
)
# No venue answer yet: reconciliation and the in-flight check settle these.
IN_FLIGHT_STATUSES: Final[frozenset[OrderStatus]] = frozenset({S.SUBMITTED, S.UNKNOWN})


def trigger(event: OrderEvent, filled_qty: int, qty: int) -> str:
    """The table's trigger for ``event``; ``filled_qty`` is the cumulative fill *after* this event."""
    name = TRIGGER_OF[type(event)]
    if name == "fill":
        return "fill_full" if filled_qty >= qty else "fill_partial"
    return name


def next_status(state: OrderStatus, trig: str) -> OrderStatus | None:
    """The new state, or None when the transition is impossible (keep the state, log, count)."""
    return TRANSITIONS.get((state, trig))
