"""An order is the fold of its events: :func:`apply` is the only code that changes one.

The same function serves the live path (an event is computed, stored, then applied) and the rebuild
from ``TD_EVT`` (every stored event applied in stream order), so memory after a restart is exactly
memory before it. ``apply`` never raises on venue-shaped input: a duplicate, an impossible transition
or an overfill is returned as an :class:`Outcome` for the caller to log and count.

``Order`` is mutable on purpose: a rebuild folds up to millions of events, and copying the trade-id set
on every fill would cost more than the whole decode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from tradebus.orders.state import next_status, trigger
from tradebus.schemas.orders import Offset as OrderOffset
from tradebus.schemas.orders import (
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
    OrderType,
    OrderUpdated,
    OrderView,
    Side,
    TimeInForce,
    TradeView,
)

# Kinds that may legitimately occur several times on one order; their ids are remembered so that a
# re-delivered copy is not counted twice. Every other kind is idempotent through the state table.
_REPEATABLE = (OrderUpdated, OrderCancelRejected, OrderStatusUnknown)


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # already folded (same trade id / same event id): nothing changed
    IMPOSSIBLE = "impossible"  # not in the state table: state kept, event stored anyway
    OVERFILL = "overfill"  # a fill beyond the order quantity: not applied, flagged loudly


@dataclass(slots=True)
class Order:
    venue: str
    account: str
    client_order_id: str
    exchange: str
    symbol: str
    side: Side
    order_type: OrderType
    offset: OrderOffset
    time_in_force: TimeInForce
    qty: int
    price: float | None
    status: OrderStatus = OrderStatus.SUBMITTED
    venue_order_id: str | None = None
    filled_qty: int = 0
    fill_value: float = 0.0
    reason: str = ""
    remark: str = ""
    user: str = ""
    ts_created: int = 0
    ts_last: int = 0
    external: bool = False  # placed outside tradebus, recorded from the venue's reports
    # Per repeatable kind, how many distinct ones were folded: the key of the next one's event id.
    repeats: dict[str, int] = field(default_factory=dict)
    trades: list[TradeView] = field(default_factory=list)
    trade_ids: set[str] = field(default_factory=set)
    # Fills refused as overfills: remembered so that a re-delivery is a duplicate, in memory exactly as
    # in a rebuild (JetStream dedupes the re-generated event, so memory must not apply it either).
    overfills: set[str] = field(default_factory=set)
    seen_ids: set[str] = field(default_factory=set)

    @property
    def avg_fill_price(self) -> float | None:
        return self.fill_value / self.filled_qty if self.filled_qty else None

    def view(self) -> OrderView:
        return OrderView(
            venue=self.venue, account=self.account, client_order_id=self.client_order_id,
            venue_order_id=self.venue_order_id, exchange=self.exchange, symbol=self.symbol, side=self.side,
            order_type=self.order_type, offset=self.offset, time_in_force=self.time_in_force, qty=self.qty,
            price=self.price, status=self.status, filled_qty=self.filled_qty, avg_fill_price=self.avg_fill_price,
            reason=self.reason, remark=self.remark, ts_created=self.ts_created, ts_last=self.ts_last,
            external=self.external,
        )


OrderT = TypeVar("OrderT", bound=Order)


def new_order(event: OrderSubmitted, cls: type[OrderT] = Order) -> OrderT:  # type: ignore[assignment]
    """The order an ``OrderSubmitted`` creates; ``cls`` lets a reader keep its own extras on it."""
    return cls(
        venue=event.venue, account=event.account, client_order_id=event.client_order_id, exchange=event.exchange,
        symbol=event.symbol, side=event.side, order_type=event.order_type, offset=event.offset,
        time_in_force=event.time_in_force, qty=event.qty, price=event.price, status=OrderStatus.SUBMITTED,
        venue_order_id=event.venue_order_id, remark=event.remark, user=event.user, ts_created=event.ts_event,
        ts_last=event.ts_event, external=event.external,
    )


def apply(order: Order, event: OrderEvent) -> Outcome:
    """Fold one event into ``order`` (mutated in place); see :class:`Outcome`."""
    if isinstance(event, OrderSubmitted):
        return Outcome.DUPLICATE  # the order exists: it was created by this very event
    if isinstance(event, _REPEATABLE):
        if event.event_id in order.seen_ids:
            return Outcome.DUPLICATE
        order.seen_ids.add(event.event_id)
        kind = type(event).__name__
        order.repeats[kind] = order.repeats.get(kind, 0) + 1
    if isinstance(event, OrderFilled):
        return _apply_fill(order, event)
    if isinstance(event, OrderUpdated):
        return _apply_update(order, event)
    to = next_status(order.status, trigger(event, order.filled_qty, order.qty))
    _touch(order, event)
    if to is None:
        return Outcome.IMPOSSIBLE
    order.status = to
    if isinstance(event, OrderRejected | OrderDenied):
        order.reason = f"{event.code}: {event.reason}" if event.code else event.reason
    elif isinstance(event, OrderCancelled | OrderExpired) and event.reason:
        order.reason = event.reason
    elif isinstance(event, OrderStatusUnknown):
        order.reason = event.reason
    return Outcome.APPLIED


def _touch(order: Order, event: OrderEvent) -> None:
    if event.venue_order_id and not order.venue_order_id:
        order.venue_order_id = event.venue_order_id
    if event.ts_event > order.ts_last:
        order.ts_last = event.ts_event


def _apply_fill(order: Order, event: OrderFilled) -> Outcome:
    if event.trade_id in order.trade_ids or event.trade_id in order.overfills:
        return Outcome.DUPLICATE
    if event.fill_qty <= 0 or order.filled_qty + event.fill_qty > order.qty:
        order.overfills.add(event.trade_id)
        return Outcome.OVERFILL
    order.trade_ids.add(event.trade_id)
    order.filled_qty += event.fill_qty
    order.fill_value += event.fill_qty * event.fill_price
    order.trades.append(TradeView(
        venue=order.venue, account=order.account, client_order_id=order.client_order_id,
        venue_order_id=event.venue_order_id or order.venue_order_id, trade_id=event.trade_id,
        exchange=order.exchange, symbol=order.symbol, side=order.side,
        offset=event.offset if event.offset is not OrderOffset.NONE else order.offset, qty=event.fill_qty,
        price=event.fill_price, fee=event.fee, fee_currency=event.fee_currency, ts_event=event.ts_event,
    ))
    _touch(order, event)
    to = next_status(order.status, trigger(event, order.filled_qty, order.qty))
    if to is None:  # the quantity counts regardless (money moved); the state stays
        return Outcome.IMPOSSIBLE
    order.status = to
    return Outcome.APPLIED


def _apply_update(order: Order, event: OrderUpdated) -> Outcome:
    to = next_status(order.status, "updated")
    _touch(order, event)
    if to is None or event.qty < order.filled_qty or event.qty <= 0:
        return Outcome.IMPOSSIBLE
    order.qty = event.qty
    if event.price is not None:
        order.price = event.price
    order.status = OrderStatus.FILLED if order.filled_qty >= order.qty else to
    return Outcome.APPLIED


# --- many orders --------------------------------------------------------------------------------


@dataclass(slots=True)
class Ledger:
    """Every order the event store knows, by (venue, account) then client order id."""

    accounts: dict[tuple[str, str], dict[str, Order]] = field(default_factory=dict)
    events: int = 0
    outcomes: dict[Outcome, int] = field(default_factory=dict)
    orphans: int = 0  # events of orders never submitted (denials, or damage)

    def book(self, venue: str, account: str) -> dict[str, Order]:
        key = (venue, account)
        book = self.accounts.get(key)
        if book is None:
            book = self.accounts[key] = {}
        return book

    def get(self, venue: str, account: str, client_order_id: str) -> Order | None:
        book = self.accounts.get((venue, account))
        return book.get(client_order_id) if book is not None else None


def fold(ledger: Ledger, event: OrderEvent) -> Outcome | None:
    """Apply one stored event to the ledger; None for an event without an order (e.g. a denial)."""
    ledger.events += 1
    book = ledger.book(event.venue, event.account)
    order = book.get(event.client_order_id)
    if order is None:
        if isinstance(event, OrderSubmitted):
            book[event.client_order_id] = new_order(event)
            outcome = Outcome.APPLIED
        else:
            ledger.orphans += 1
            return None
    else:
        outcome = apply(order, event)
    ledger.outcomes[outcome] = ledger.outcomes.get(outcome, 0) + 1
    return outcome


def fold_message(ledger: Ledger, event: OrderEvent, _subject: str, _seq: int) -> Ledger:
    """Adapter for :func:`tradebus.bus.replay.fold_stream`."""
    fold(ledger, event)
    return ledger
