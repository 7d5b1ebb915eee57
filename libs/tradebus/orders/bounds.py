"""The numeric bounds every order field must meet before it is put on the bus.

The edges check them while parsing (so a client gets its own protocol's "bad field" answer) and
td_exec checks them again before anything is stored (a bus client may skip the edges). One place
for the figures, so the two can never disagree.
"""

from __future__ import annotations

import math

# The narrowest quantity field of any venue: CTP's volume fields are C ints (int32). A larger number
# overflows inside the adapter after the order was stored; it is refused before instead.
VENUE_QTY_MAX = 2**31 - 1


def qty_problem(qty: int) -> str | None:
    """Why ``qty`` cannot be an order quantity, or None."""
    if qty <= 0:
        return f"quantity must be positive, got {qty}"
    if qty > VENUE_QTY_MAX:
        return f"quantity {qty} is beyond the venues' integer range (at most {VENUE_QTY_MAX})"
    return None


def price_problem(price: float) -> str | None:
    """Why ``price`` cannot be a limit price, or None (the tick is td_exec's business)."""
    if not math.isfinite(price):
        return f"price {price} is not a finite number"
    if price <= 0:
        return f"price must be positive, got {price}"
    return None
