"""The Trading panel's server side: the order ticket and cancel buttons as td_exec commands, and the
rows the page shows (orders and fills from the edge's event-store fold, funds and positions from td_exec).

Every check that decides whether an order may trade is td_exec's (``user`` is set on each command, so
td_exec also refuses an account the user may not use); the console only refuses what cannot be sent
at all — an account that is not the user's, an instrument it cannot name, a venue mismatch — and says
why in a sentence.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from tradebus.bus import BusError, RequestTimeout
from tradebus.schemas.account import AccountSnapshot, PositionSnapshot
from tradebus.schemas.orders import TERMINAL_STATUSES, Offset, OrderType, Side, SubmitOrder
from tradebus.users import User
from ws_edge.console.protocol import Cancel, Place
from ws_edge.order_desk import NotSent, OrderDesk
from ws_edge.orders import OrderState

if TYPE_CHECKING:
    from ws_edge.edge import Edge

OFFSETS: dict[str, Offset] = {"open": Offset.OPEN, "close": Offset.CLOSE, "close_today": Offset.CLOSE_TODAY}
MAX_ROWS = 200  # orders and fills shown, newest first
Row = TypeVar("Row")


class Refused(Exception):
    """What the console will not send, as the sentence the page shows."""


def _outcome(exc: NotSent, prefix: str) -> str:
    """The page's sentence for an order or cancel that did not go out: td_exec's reason after ``prefix``."""
    return f"{prefix}: {exc.reason}" if exc.from_td_exec else exc.reason


# --- rows --------------------------------------------------------------------------------------


def order_row(order: OrderState, instrument_id: str) -> dict[str, Any]:
    avg = order.fill_value / order.filled_qty if order.filled_qty else None
    return {"client_order_id": order.client_order_id, "venue": order.venue, "account": order.account,
            "instrument": instrument_id, "side": order.side.value, "offset": order.offset.value,
            "price": order.price, "qty": order.qty, "filled": order.filled_qty, "avg_price": avg,
            "status": order.status.value, "reason": order.reason, "working": order.status not in TERMINAL_STATUSES,
            "ts": order.ts_created / 1e9, "user": order.user}


def fill_rows(order: OrderState, instrument_id: str) -> list[dict[str, Any]]:
    return [{"trade_id": t.trade_id, "client_order_id": order.client_order_id, "venue": order.venue,
             "account": order.account, "instrument": instrument_id, "side": order.side.value,
             "offset": (t.offset if t.offset != Offset.NONE else order.offset).value, "price": t.price,
             "qty": t.qty, "fee": t.fee, "ts": t.ts_event / 1e9} for t in order.trades]


def position_row(p: PositionSnapshot, instrument_id: str) -> dict[str, Any]:
    return {"venue": p.venue, "account": p.account, "instrument": instrument_id, "side": p.side.value, "qty": p.qty,
            "today": p.today_qty, "avg_price": p.avg_price, "pnl": p.unrealised_pnl, "margin": p.margin}


def funds_row(f: AccountSnapshot) -> dict[str, Any]:
    return {"venue": f.venue, "account": f.account, "currency": f.currency, "cash": f.cash, "available": f.available,
            "equity": f.equity or f.cash, "margin": f.margin, "frozen": f.frozen, "pnl": f.unrealised_pnl,
            "realised": f.realised_pnl}


# --- commands ------------------------------------------------------------------------------------


class Trader:
    """One console session's trading: its user, its accounts, and its ``OrderDesk`` (the steps the webctp
    session takes too; this class only reads the form and words the outcome)."""

    def __init__(self, edge: Edge, user: User, session_id: int, accounts: list[tuple[str, str]]) -> None:
        self.edge = edge
        self.user = user
        self.desk = OrderDesk(edge, user.name, session_id)
        self._accounts = accounts  # concrete, wildcard grants resolved at login (Edge.accounts_of)

    def accounts(self) -> list[tuple[str, str]]:
        return self._accounts

    def _mine(self, venue: str, account: str) -> None:
        if not self.user.may_use(venue, account):
            raise Refused(f"account {venue}:{account} is not one of yours")

    def submit_command(self, place: Place) -> SubmitOrder:
        self._mine(place.venue, place.account)
        try:
            instrument = self.desk.instrument(place.instrument)
        except NotSent as exc:
            raise Refused(exc.reason) from None
        if instrument.venue != place.venue:
            raise Refused(f"{place.instrument} trades on {instrument.venue}: choose one of your {instrument.venue} "
                          f"accounts")
        if not self.desk.is_stock(instrument) and place.offset not in OFFSETS:
            raise Refused("a futures order needs an offset: open, close or close today")
        return self.desk.new_order((place.venue, place.account), instrument, {
            "side": Side(place.side), "qty": place.qty, "order_type": OrderType.LIMIT, "price": place.price,
            "offset": OFFSETS.get(place.offset, Offset.NONE)})

    async def place(self, place: Place) -> tuple[bool, str, str]:
        """(sent, message, client order id)."""
        command = self.submit_command(place)
        coid = command.client_order_id or ""
        try:
            await self._sent(self.desk.submit(command))
        except NotSent as exc:
            return False, _outcome(exc, "refused by td_exec"), coid
        return True, f"order {coid} sent", coid

    async def cancel(self, cancel: Cancel) -> tuple[bool, str]:
        self._mine(cancel.venue, cancel.account)
        try:
            order = await self.desk.find([(cancel.venue, cancel.account)], client_order_id=cancel.client_order_id)
            await self._sent(self.desk.cancel(order))
        except NotSent as exc:
            if not exc.from_td_exec:
                raise Refused(exc.reason) from None
            return False, _outcome(exc, "cancel refused by td_exec")
        return True, f"cancel of {cancel.client_order_id} sent"

    async def _sent(self, sending: Awaitable[None]) -> None:
        try:
            await sending
        except RequestTimeout:
            raise Refused(f"td_exec did not answer within {self.edge.config.request_timeout_s:g}s; the outcome "
                          "is not known: watch the orders table") from None
        except BusError as exc:
            raise Refused(f"td_exec is not reachable: {exc}") from None

    # --- snapshots ---------------------------------------------------------------------------------

    async def positions(self) -> list[dict[str, Any]]:
        return [position_row(p, self.edge.instruments.to_webctp(p.venue, p.exchange, p.symbol))
                for p in await self._ask_all(self.desk.positions) if p.qty]

    async def funds(self) -> list[dict[str, Any]]:
        return [funds_row(f) for f in await self._ask_all(self.desk.funds)]

    async def _ask_all(self, query: Callable[[str, str], Awaitable[list[Row]]]) -> list[Row]:
        """The same query to every account at once; an account whose venue is away or refuses gives no
        rows, so it does not blank the others'."""

        async def one(venue: str, account: str) -> list[Row]:
            try:
                return await query(venue, account)
            except (BusError, NotSent):
                return []

        answers = await asyncio.gather(*(one(venue, account) for venue, account in self.accounts()))
        return [row for rows in answers for row in rows]

    def orders_and_fills(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
        """The newest ``MAX_ROWS`` orders (working first) and fills, and how many fills there are in all."""
        orders: list[tuple[OrderState, str]] = []
        for key in self.accounts():
            feed = self.edge.book.feeds.get(key)
            if feed is not None:
                orders += [(o, self.edge.labels(o).instrument_id) for o in feed.orders.values()]
        orders.sort(key=lambda pair: pair[0].ts_created, reverse=True)
        fills = sorted((row for o, iid in orders for row in fill_rows(o, iid)), key=lambda r: r["ts"], reverse=True)
        working = [order_row(o, iid) for o, iid in orders if o.status not in TERMINAL_STATUSES]
        done = [order_row(o, iid) for o, iid in orders if o.status in TERMINAL_STATUSES]
        return (working + done)[:MAX_ROWS], fills[:MAX_ROWS], len(fills)
