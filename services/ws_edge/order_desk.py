"""One session's trading on the bus: the steps the webctp ``/td/`` session and the web console take alike.

A front (``ws_edge.td_trading`` for webctp, ``ws_edge.console.trading`` for the console) decides which
account an order is for and reads its own form; the desk does the rest the same way for both: name the
instrument, number the order (client order id ``ws-<FrontID>-<SessionID>-<OrderRef>``, docs/ws_edge.md,
'Futu ↔ CTP mapping'), build the td_exec command with ``user`` set, find the order a cancel names, refuse a
cancel of a finished order, ask td_exec, and turn its answer into :class:`NotSent` or nothing. What the
client is shown for a :class:`NotSent` — a CTP error id on ``/td/``, a sentence on the console — is the
front's. A timeout or an unreachable bus is raised as is (``tradebus.bus.BusError``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradebus.schemas.account import AccountSnapshot, FundsReply, PositionSnapshot, PositionsReply
from tradebus.schemas.base import BusMessage
from tradebus.schemas.orders import (
    TERMINAL_STATUSES,
    CancelOrder,
    CommandAccepted,
    CommandDenied,
    ModifyOrder,
    Offset,
    QueryFunds,
    QueryPositions,
    SubmitOrder,
)
from ws_edge.accounts import AccountFeed, PushTarget
from ws_edge.instruments import BusInstrument
from ws_edge.investor import Account
from ws_edge.orders import OrderState, coid_for

if TYPE_CHECKING:
    from ws_edge.edge import Edge

# The edge's own reasons for not sending (td_exec's denial codes pass through NotSent unchanged; a venue's
# own error id comes as digits).
UNKNOWN_INSTRUMENT = "unknown_instrument"
UNKNOWN_ACCOUNT = "unknown_account"
ORDER_NOT_FOUND = "order_not_found"
ORDER_NOT_ACTIVE = "order_not_active"
ALREADY_SENT = "already_sent"  # td_exec already holds an order with this client order id: nothing new was sent
INSTRUMENT_HINT = "use e.g. rb2601 (futures), HK.00700 or US.AAPL (stocks)"


class NotSent(Exception):
    """An order, cancel or query that did not go out, or that td_exec refused.

    ``code`` is one of the codes above or td_exec's denial code; ``reason`` is a sentence for a person
    (td_exec's own when ``from_td_exec``)."""

    def __init__(self, code: str, reason: str, *, from_td_exec: bool = False) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.from_td_exec = from_td_exec


class OrderDesk:
    """The trading steps of one session: its user, its SessionID and the OrderRefs it has used.

    ``target`` (the webctp session) is added to the feed of every account the desk touches, so the
    pushes of what it sends reach it; the console subscribes its accounts itself and passes None."""

    def __init__(self, edge: Edge, user: str, session_id: int, target: PushTarget | None = None) -> None:
        self.edge = edge
        self.user = user
        self.session_id = session_id
        self.target = target
        self.max_order_ref = 0  # the highest OrderRef this session has used (CTP's MaxOrderRef)

    def instrument(self, instrument_id: str, exchange_hint: str = "") -> BusInstrument:
        found = self.edge.instruments.resolve(instrument_id, exchange_hint)
        if found is None:
            raise NotSent(UNKNOWN_INSTRUMENT, f"unknown instrument {instrument_id!r}: {INSTRUMENT_HINT}")
        return found

    def is_stock(self, instrument: BusInstrument) -> bool:
        return self.edge.instruments.is_stock(instrument.exchange)

    async def feed(self, venue: str, account: str) -> AccountFeed:
        feed = await self.edge.book.feed(venue, account)
        if self.target is not None:
            feed.targets.add(self.target)
        return feed

    # --- orders --------------------------------------------------------------------------------

    def new_order(self, account: Account, instrument: BusInstrument, terms: dict[str, Any],
                  order_ref: int | None = None) -> SubmitOrder:
        """The SubmitOrder for ``terms`` (side, qty, order_type, price, offset, time_in_force): numbered with
        ``order_ref`` or the next free OrderRef; a stock order carries no offset."""
        if order_ref is None:
            order_ref = self.max_order_ref + 1
        self.max_order_ref = max(self.max_order_ref, order_ref)
        if self.is_stock(instrument):
            terms = {**terms, "offset": Offset.NONE}
        return SubmitOrder(venue=account[0], account=account[1], exchange=instrument.exchange,
                           symbol=instrument.symbol, user=self.user,
                           client_order_id=coid_for(self.edge.front_id, self.session_id, order_ref), **terms)

    async def submit(self, command: SubmitOrder) -> None:
        """Send the order; :class:`NotSent` when td_exec refuses it or already had it."""
        reply = await self.ask(command.venue, command.account, command)
        if isinstance(reply, CommandAccepted) and reply.duplicate:
            raise NotSent(ALREADY_SENT, "td_exec already has an order with this id; nothing new was sent")

    async def find(self, accounts: list[Account], *, client_order_id: str = "", order_sys_id: str = "",
                   exchange: str = "") -> OrderState:
        """The order with that client order id (or else that OrderSysID) in the first of ``accounts`` that
        holds it."""
        for venue, account in accounts:
            feed = await self.feed(venue, account)
            order = feed.find(client_order_id=client_order_id, order_sys_id_=order_sys_id, exchange=exchange)
            if order is not None:
                return order
        where = ", ".join(f"{venue}:{account}" for venue, account in accounts)
        raise NotSent(ORDER_NOT_FOUND, f"no order {client_order_id or order_sys_id.strip()} on {where}")

    @staticmethod
    def check_working(order: OrderState) -> None:
        if order.status in TERMINAL_STATUSES:
            raise NotSent(ORDER_NOT_ACTIVE, f"order {order.client_order_id} is already {order.status.value}")

    async def cancel(self, order: OrderState) -> None:
        self.check_working(order)
        await self.ask(order.venue, order.account, CancelOrder(
            venue=order.venue, account=order.account, client_order_id=order.client_order_id, user=self.user))

    async def modify(self, order: OrderState, *, price: float | None, qty: int | None) -> None:
        self.check_working(order)
        await self.ask(order.venue, order.account, ModifyOrder(
            venue=order.venue, account=order.account, client_order_id=order.client_order_id, price=price, qty=qty,
            user=self.user))

    # --- td_exec ---------------------------------------------------------------------------------

    async def positions(self, venue: str, account: str) -> list[PositionSnapshot]:
        reply = await self.ask(venue, account, QueryPositions(venue=venue, account=account, user=self.user))
        return reply.positions if isinstance(reply, PositionsReply) else []

    async def funds(self, venue: str, account: str) -> list[AccountSnapshot]:
        reply = await self.ask(venue, account, QueryFunds(venue=venue, account=account, user=self.user))
        return reply.funds if isinstance(reply, FundsReply) else []

    async def ask(self, venue: str, account: str, command: BusMessage) -> Any:
        """td_exec's answer to ``command``; its denial as :class:`NotSent`."""
        reply = await self.edge.command(venue, account, command)
        if isinstance(reply, CommandDenied):
            raise NotSent(reply.code, reply.reason, from_td_exec=True)
        return reply
