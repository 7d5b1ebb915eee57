"""The contract every trade venue adapter implements (Futu, CTP, …), and the reports they emit.

The engine (``td_exec.engine``) owns orders, events and projections; an adapter only translates
between the venue and these types. It never decides an order's state on its own: it reports what the
venue said (:class:`OrderReport`, :class:`FillReport`, :class:`CancelRejectReport`) and the engine turns
reports into events through the state table.

Threading: adapters bridge SDK threads into asyncio; every ``VenueSink`` method is called on the
event loop thread, never from an SDK thread.

Required methods (all of :class:`TradeVenue`):

* ``start(sink)`` — begin connecting and return promptly; (re)connections and losses are reported
  through ``sink.on_connection``. After every ``connected=True`` the engine reconciles each account
  (``query_orders`` + ``query_fills``) before it accepts new commands for it.
* ``stop()`` — close venue sessions and SDK threads; idempotent.
* ``accounts()`` — the venue accounts this adapter can trade (known once connected).
* ``instrument(exchange, symbol)`` / ``instruments(exchange)`` — reference data for pre-trade checks
  (tick, lot, limits, kind) and for ``QueryInstruments``.
* ``capabilities`` — which order types / time-in-force / offsets / modify the venue supports.
* ``submit(order)`` — send a new order. Returns the venue order id when the venue gave one
  synchronously (else ``None``; it arrives later in an ``OrderReport``). Raises :class:`VenueRejected`
  only on definite venue evidence; raises :class:`VenueUnknown` when the outcome cannot be known
  (timeout, disconnect) — the order then stays unknown until a report or reconciliation settles it.
* ``cancel(ref)`` / ``modify(ref, qty, price)`` — same error rules; ``modify`` raises
  :class:`VenueUnsupported` where the venue has no modify (CTP).
* ``instrument`` returns ``None`` only when the venue says there is no such instrument; when the
  facts cannot be had (an OpenD without the call, a timeout) it raises, and the engine lets the venue
  decide the order (no optional call ever blocks an order).
* ``query_orders(account)`` / ``query_fills(account)`` — the venue's view for reconciliation; each
  report has ``reconciliation=True``. Reports for orders that are not ours (no client order id can be
  recovered) carry ``client_order_id=None``; the engine records them as *external* orders named
  ``external_client_order_id(venue_order_id)``.
* ``external_client_order_id(venue_order_id)`` — the client order id of an order placed outside
  tradebus: a pure function of the venue's ids (``ext-…``), so every process and every replay names
  it alike.
* ``query_positions(account)`` / ``query_funds(account)`` — snapshots straight from the venue.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

import msgspec

from tradebus.schemas.account import AccountSnapshot, InstrumentInfo, PositionSnapshot
from tradebus.schemas.orders import Offset, OrderStatus, OrderType, Side, TimeInForce
from tradebus.subjects import escape_token

EXTERNAL_PREFIX = "ext-"
_MAX_CLIENT_ORDER_ID = 64  # the client order id limit of td_exec's checks (Futu's remark size)


def external_client_order_id(*venue_ids: str) -> str:
    """``ext-<venue ids escaped, joined by ->``: the name of an order tradebus did not submit.

    Escaped into the subject alphabet, so it is a valid client order id and subject token; an id too
    long for the 64-byte limit is replaced by a hash of itself (still deterministic).
    """
    body = "-".join(escape_token(v.strip()) for v in venue_ids if v.strip())
    name = EXTERNAL_PREFIX + body
    if len(name) > _MAX_CLIENT_ORDER_ID:
        name = EXTERNAL_PREFIX + hashlib.blake2b(body.encode(), digest_size=16).hexdigest()
    return name


VENUE_TEXT_MAX = 500  # characters of a venue's text kept in an event or a reply


def venue_text(text: str) -> str:
    """A venue's own text made safe to store, return and log: bounded, control characters escaped."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in str(text)[:VENUE_TEXT_MAX])


class VenueRejected(Exception):
    """The venue definitely refused (an error id, a reject status); ``reason`` is the venue's text."""

    def __init__(self, code: str, reason: str) -> None:
        code, reason = venue_text(code), venue_text(reason)
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class VenueUnknown(Exception):
    """The outcome is not known (timeout, disconnect during the call)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class VenueUnsupported(Exception):
    """The venue has no such operation (CTP has no modify)."""


class VenueOrder(msgspec.Struct, frozen=True, kw_only=True):
    """A new order as the engine hands it to an adapter (already checked and stored)."""

    account: str
    client_order_id: str
    exchange: str
    symbol: str
    side: Side
    order_type: OrderType
    qty: int
    price: float | None
    offset: Offset = Offset.NONE
    time_in_force: TimeInForce = TimeInForce.DAY


class OrderRef(msgspec.Struct, frozen=True, kw_only=True):
    """Enough to address an existing order at the venue."""

    account: str
    client_order_id: str
    venue_order_id: str | None
    exchange: str
    symbol: str


class OrderReport(msgspec.Struct, frozen=True, kw_only=True):
    """The venue's current view of one order (a push or a query row)."""

    account: str
    client_order_id: str | None  # None: not an order of ours
    venue_order_id: str | None
    exchange: str
    symbol: str
    side: Side
    qty: int
    price: float | None
    status: OrderStatus  # mapped from the venue's status through the adapter's table
    offset: Offset = Offset.NONE  # futures: the order's open/close flag (an external order is created with it)
    filled_qty: int = 0
    avg_fill_price: float | None = None
    code: str = ""  # venue status / error id, for rejections
    reason: str = ""  # venue text
    ts_event: int
    reconciliation: bool = False
    # An order of another session of the same investor (CTP: another FrontID/SessionID, not in our
    # journal); the engine may adopt it as one of ours in flight (td_exec.adopt). Other venues: False.
    foreign: bool = False
    ts_inserted: int = 0  # when the venue took the order (0: unknown; ts_event stands in)


class FillReport(msgspec.Struct, frozen=True, kw_only=True):
    account: str
    client_order_id: str | None
    venue_order_id: str | None
    trade_id: str  # venue-derived and stable across replays: ids.venue_trade_key(...)
    exchange: str
    symbol: str
    side: Side
    qty: int
    price: float
    offset: Offset = Offset.NONE
    fee: float = 0.0
    fee_currency: str = ""
    ts_event: int
    reconciliation: bool = False


class CancelRejectReport(msgspec.Struct, frozen=True, kw_only=True):
    account: str
    client_order_id: str
    venue_order_id: str | None
    code: str
    reason: str
    ts_event: int


class Capabilities(msgspec.Struct, frozen=True, kw_only=True):
    order_types: frozenset[OrderType]
    time_in_force: frozenset[TimeInForce]
    offsets: frozenset[Offset]  # {NONE} for stocks; futures need OPEN/CLOSE/…
    modify: bool


class VenueSink(Protocol):
    """Where an adapter delivers what the venue says; called on the event loop thread only."""

    def on_order(self, report: OrderReport) -> None: ...

    def on_fill(self, report: FillReport) -> None: ...

    def on_cancel_rejected(self, report: CancelRejectReport) -> None: ...

    def on_connection(self, connected: bool, reason: str) -> None: ...


class TradeVenue(Protocol):
    name: str  # "futu" | "ctp" — the <venue> token of td.cmd / td.evt subjects
    capabilities: Capabilities

    async def start(self, sink: VenueSink) -> None: ...

    async def stop(self) -> None: ...

    def accounts(self) -> list[str]: ...

    def external_client_order_id(self, venue_order_id: str) -> str: ...

    async def instrument(self, exchange: str, symbol: str) -> InstrumentInfo | None: ...

    async def instruments(self, exchange: str | None = None) -> list[InstrumentInfo]: ...

    async def submit(self, order: VenueOrder) -> str | None: ...

    async def cancel(self, ref: OrderRef) -> None: ...

    async def modify(self, ref: OrderRef, qty: int | None, price: float | None) -> None: ...

    async def query_orders(self, account: str) -> list[OrderReport]: ...

    async def query_fills(self, account: str) -> list[FillReport]: ...

    async def query_positions(self, account: str) -> list[PositionSnapshot]: ...

    async def query_funds(self, account: str) -> list[AccountSnapshot]: ...
