"""Price-time matching against the synthetic levels and the resting user orders.

Liquidity at one price is queued by priority number: a synthetic level carries the number taken
when the book was rebuilt, a user order the one taken when it arrived (or lost its place). So user
orders resting before a step are ahead of the crowd at their price, later ones behind it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tradebus.sim.state import InstState, Level, OrderRec
from tradebus.sim.types import Side

_EPS = 1e-9


@dataclass(slots=True)
class Source:
    """One queue entry on the passive side: a synthetic level or a resting user order."""

    price: float
    prio: int
    qty: int
    level: Level | None = None
    order: OrderRec | None = None


@dataclass(frozen=True, slots=True)
class PlannedFill:
    source: Source
    qty: int

    @property
    def price(self) -> float:
        return self.source.price


def passive_queue(ist: InstState, orders: Mapping[str, OrderRec], side: Side, account: str) -> list[Source]:
    """Everything an incoming ``side`` order of ``account`` could trade with, best first.

    Orders of the same account are left out: the venue does not let an account trade with itself.
    """
    levels = ist.asks if side is Side.BUY else ist.bids
    queue = [Source(price=lvl.price, prio=ist.book_prio, qty=lvl.qty, level=lvl) for lvl in levels]
    for oid in ist.resting:
        o = orders[oid]
        if o.side is not side and o.account != account and o.working:
            queue.append(Source(price=o.price, prio=o.prio, qty=o.remaining, order=o))
    sign = 1.0 if side is Side.BUY else -1.0
    queue.sort(key=lambda s: (sign * s.price, s.prio))
    return queue


def acceptable(side: Side, price: float, limit: float | None) -> bool:
    if limit is None:  # market order
        return True
    return price <= limit + _EPS if side is Side.BUY else price >= limit - _EPS


def plan_fills(queue: list[Source], side: Side, qty: int, limit: float | None) -> list[PlannedFill]:
    fills: list[PlannedFill] = []
    remaining = qty
    for source in queue:
        if remaining <= 0 or not acceptable(side, source.price, limit):
            break
        take = min(remaining, source.qty)
        if take > 0:
            fills.append(PlannedFill(source=source, qty=take))
            remaining -= take
    return fills


def consume_level(ist: InstState, level: Level, qty: int) -> None:
    """Synthetic liquidity taken by a user is gone until the next rebuild."""
    level.qty -= qty
    if level.qty <= 0:
        for book in (ist.bids, ist.asks):
            if level in book:
                book.remove(level)


def resting_by_priority(ist: InstState, orders: Mapping[str, OrderRec], side: Side) -> list[OrderRec]:
    """Working user orders of one side, best price first, then oldest first."""
    sign = -1.0 if side is Side.BUY else 1.0
    mine = [orders[oid] for oid in ist.resting if orders[oid].side is side and orders[oid].working]
    return sorted(mine, key=lambda o: (sign * o.price, o.prio))


def crossing_levels(ist: InstState, order: OrderRec) -> list[PlannedFill]:
    """Synthetic liquidity a resting order now crosses; it trades at the order's own price."""
    levels = ist.asks if order.side is Side.BUY else ist.bids
    fills: list[PlannedFill] = []
    remaining = order.remaining
    for lvl in levels:
        if remaining <= 0 or not acceptable(order.side, lvl.price, order.price):
            break
        take = min(remaining, lvl.qty)
        fills.append(PlannedFill(Source(price=order.price, prio=ist.book_prio, qty=lvl.qty, level=lvl), take))
        remaining -= take
    return fills


def display_side(ist: InstState, orders: Mapping[str, OrderRec], side: Side,
                 depth: int) -> tuple[tuple[float, int], ...]:
    """The public book of one side: synthetic levels plus resting user orders, aggregated by price."""
    totals: dict[float, int] = {}
    for lvl in ist.bids if side is Side.BUY else ist.asks:
        totals[lvl.price] = totals.get(lvl.price, 0) + lvl.qty
    for oid in ist.resting:
        o = orders[oid]
        if o.side is side and o.working:
            totals[o.price] = totals.get(o.price, 0) + o.remaining
    prices = sorted(totals, reverse=side is Side.BUY)[:depth]
    return tuple((p, totals[p]) for p in prices)
