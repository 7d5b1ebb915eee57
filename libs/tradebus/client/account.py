"""One venue account of a strategy: its orders and fills as the fold of its ``td.evt`` events, and the
commands that change them.

Loading: follow ``td.evt.<venue>.<account>.>`` first, through a consumer of TD_EVT delivered to our own
inbox (:meth:`Client.follow_stream`; events are held back meanwhile), then take
td_exec's own fold of the account's history (``QueryOrders`` and ``QueryTrades`` on the account's
``td.cmd`` subject — the only history a bus user may read, see :mod:`tradebus.bus_users`), then fold
the held-back events into it with :func:`tradebus.orders.order.fold`. An event already contained in
td_exec's answer folds to a no-op (a fill by its trade id, a status by the state table), so nothing
is lost between the answer and the subscription and nothing counts twice.

Positions and funds are td_exec's venue snapshots (``QueryPositions`` / ``QueryFunds``), read on
demand: they carry what no fold of our events can know (positions opened before tradebus, the
yesterday/today split, cash).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import msgspec
from nats.aio.msg import Msg

from tradebus.client.errors import (
    ClientError,
    CommandRefused,
    NotPermitted,
    OrderFailed,
    OrderTimeout,
    UnknownSymbol,
    VenueDown,
)
from tradebus.client.link import BusLink
from tradebus.client.symbols import parse_instrument
from tradebus.ids import new_client_order_id
from tradebus.orders.order import Ledger, Order, fold
from tradebus.schemas import ORDER_EVENT_DECODER, TRADE_REPLY_DECODER
from tradebus.schemas.account import AccountSnapshot, FundsReply, PositionSide, PositionSnapshot, PositionsReply
from tradebus.schemas.base import BusMessage
from tradebus.schemas.orders import (
    TERMINAL_STATUSES,
    CancelOrder,
    CommandAccepted,
    CommandDenied,
    ModifyOrder,
    Offset,
    OrdersReply,
    OrderStatus,
    OrderType,
    OrderView,
    QueryFunds,
    QueryOrders,
    QueryPositions,
    QueryTrades,
    Side,
    SubmitOrder,
    TimeInForce,
    TradesReply,
    TradeView,
)
from tradebus.subjects import td_cmd, td_evt_account

S = OrderStatus
ORDER_EVENTS_STREAM = "TD_EVT"


class Wait(StrEnum):
    """How far :meth:`Account.submit` and friends wait."""

    SENT = "sent"  # td_exec's reply only
    ACCEPTED = "accepted"  # the venue took it (or already filled / cancelled it)
    FILLED = "filled"
    TERMINAL = "terminal"  # filled, cancelled, rejected, expired or denied


_NOT_YET_ACCEPTED = frozenset({S.INITIALIZED, S.SUBMITTED, S.UNKNOWN})
_REFUSED = frozenset({S.REJECTED, S.DENIED})


def reached(status: OrderStatus, wait: Wait) -> bool | None:
    """True when ``status`` satisfies ``wait``, False when it can never, None while it still may."""
    if wait is Wait.SENT:
        return True
    if wait is Wait.TERMINAL:
        return True if status in TERMINAL_STATUSES else None
    if wait is Wait.FILLED:
        return True if status is S.FILLED else (False if status in TERMINAL_STATUSES else None)
    if status in _REFUSED:
        return False
    return None if status in _NOT_YET_ACCEPTED else True


def order_from_view(view: OrderView, trades: list[TradeView]) -> Order:
    """td_exec's fold of an order (its ``OrderView`` and fills) as the fold's own :class:`Order`."""
    order = Order(venue=view.venue, account=view.account, client_order_id=view.client_order_id,
                  exchange=view.exchange, symbol=view.symbol, side=view.side, order_type=view.order_type,
                  offset=view.offset, time_in_force=view.time_in_force, qty=view.qty, price=view.price,
                  status=view.status, venue_order_id=view.venue_order_id, filled_qty=view.filled_qty,
                  fill_value=(view.avg_fill_price or 0.0) * view.filled_qty, reason=view.reason, remark=view.remark,
                  ts_created=view.ts_created, ts_last=view.ts_last, external=view.external)
    order.trades = sorted(trades, key=lambda t: t.ts_event)
    order.trade_ids = {t.trade_id for t in trades}
    return order


class Account:
    """Get one with :meth:`Client.account`."""

    def __init__(self, client: BusLink, venue: str, account: str) -> None:
        self.client = client
        self.venue = venue
        self.account = account
        self.name = f"{venue}:{account}"
        self.subject = td_cmd(venue, account)
        self.ledger = Ledger()
        self._held: list[Any] | None = []  # events that arrive while the history loads
        self._changed = asyncio.Condition()
        self._sub: Any = None

    # --- loading and folding -------------------------------------------------------------------------

    async def start(self) -> None:
        self._held = []
        if self._sub is not None:  # a reload (after a reconnect): the old consumer loses its listener
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        events = td_evt_account(self.venue, self.account)[:-1] + ">"
        self._sub, _ = await self.client.follow_stream(ORDER_EVENTS_STREAM, events, self._on_event)
        orders = await self._ask(QueryOrders(venue=self.venue, account=self.account, user=self.client.user),
                                 OrdersReply)
        trades = await self._ask(QueryTrades(venue=self.venue, account=self.account, user=self.client.user),
                                 TradesReply)
        by_order: dict[str, list[TradeView]] = {}
        for trade in trades.trades:
            by_order.setdefault(trade.client_order_id, []).append(trade)
        book = self.ledger.book(self.venue, self.account)
        for view in orders.orders:
            book[view.client_order_id] = order_from_view(view, by_order.get(view.client_order_id, []))
        held, self._held = self._held or [], None
        async with self._changed:
            for event in held:
                fold(self.ledger, event)
            self._changed.notify_all()

    async def _on_event(self, msg: Msg) -> None:
        try:
            event = ORDER_EVENT_DECODER.decode(msg.data)
        except msgspec.DecodeError:
            return
        if event.venue != self.venue or event.account != self.account:
            return
        if self._held is not None:
            self._held.append(event)
            return
        async with self._changed:
            fold(self.ledger, event)
            self._changed.notify_all()

    # --- commands ------------------------------------------------------------------------------------

    async def _ask(self, command: BusMessage, expect: type[Any], *, attempts: int = 1) -> Any:
        reply = await self.client.request(self.subject, command, TRADE_REPLY_DECODER, attempts=attempts)
        if isinstance(reply, CommandDenied):
            if reply.code in ("venue_disconnected", "unknown_venue", "reconciling"):
                raise VenueDown(f"{self.name}: {reply.code}: {reply.reason}")
            if reply.code in ("not_allowed", "unknown_account"):
                raise NotPermitted(f"{self.name}: {reply.code}: {reply.reason}")
            raise CommandRefused(reply.code, reply.reason, reply.client_order_id)
        if not isinstance(reply, expect):
            raise ClientError(f"{self.name}: td_exec answered {type(reply).__name__}, expected {expect.__name__}")
        return reply

    async def submit(self, symbol: str, side: Side | str, qty: int, price: float | None = None, *,
                     offset: Offset | str = Offset.NONE, order_type: OrderType | str | None = None,
                     time_in_force: TimeInForce | str = TimeInForce.DAY, client_order_id: str | None = None,
                     remark: str = "", wait: Wait | str = Wait.ACCEPTED, timeout: float | None = None) -> OrderView:
        """Place an order and wait for ``wait``. The client order id is fixed before the first send, so
        the retry after a lost reply returns the same order (td_exec's idempotency), never a second one."""
        instrument = parse_instrument(symbol)
        if instrument.venue != self.venue:
            raise UnknownSymbol(f"{symbol} is not a {self.venue} instrument; account {self.name} cannot trade it")
        kind = OrderType(order_type) if order_type else (OrderType.LIMIT if price is not None else OrderType.MARKET)
        coid = client_order_id or new_client_order_id("S")
        command = SubmitOrder(venue=self.venue, account=self.account, exchange=instrument.exchange,
                              symbol=instrument.symbol, side=Side(side), qty=qty, order_type=kind, price=price,
                              offset=Offset(offset), time_in_force=TimeInForce(time_in_force), client_order_id=coid,
                              remark=remark, user=self.client.user)
        reply: CommandAccepted = await self._ask(command, CommandAccepted, attempts=2)
        return await self.wait(reply.order.client_order_id, Wait(wait), timeout, sent=reply.order)

    async def cancel(self, client_order_id: str, *, wait: Wait | str = Wait.TERMINAL,
                     timeout: float | None = None) -> OrderView:
        reply: CommandAccepted = await self._ask(CancelOrder(venue=self.venue, account=self.account,
                                                             client_order_id=client_order_id, user=self.client.user),
                                                 CommandAccepted, attempts=2)
        return await self.wait(client_order_id, Wait(wait), timeout, sent=reply.order)

    async def modify(self, client_order_id: str, *, qty: int | None = None, price: float | None = None,
                     wait: bool = True, timeout: float | None = None) -> OrderView:
        """Change quantity and/or price; with ``wait``, until the order shows them (or has ended)."""
        reply: CommandAccepted = await self._ask(ModifyOrder(venue=self.venue, account=self.account,
                                                             client_order_id=client_order_id, qty=qty, price=price,
                                                             user=self.client.user), CommandAccepted, attempts=2)
        if not wait:
            return reply.order

        def updated(order: Order) -> bool | None:
            if (qty is None or order.qty == qty) and (price is None or order.price == price):
                return True
            return False if order.status in TERMINAL_STATUSES else None

        return await self._wait_for(client_order_id, updated, "modified", timeout)

    async def wait(self, client_order_id: str, wait: Wait | str = Wait.TERMINAL, timeout: float | None = None, *,
                   sent: OrderView | None = None) -> OrderView:
        """Wait until the order reaches ``wait``: :class:`OrderFailed` if it ends short of it,
        :class:`OrderTimeout` after ``timeout`` seconds (default: the client's)."""
        wait = Wait(wait)
        if wait is Wait.SENT and sent is not None:
            return sent
        return await self._wait_for(client_order_id, lambda order: reached(order.status, wait), wait.value, timeout)

    async def _wait_for(self, client_order_id: str, check: Callable[[Order], bool | None], what: str,
                        timeout: float | None) -> OrderView:
        outcome: list[bool] = []

        def decided() -> bool:
            order = self.ledger.get(self.venue, self.account, client_order_id)
            verdict = check(order) if order is not None else None
            if verdict is not None:
                outcome.append(verdict)
            return verdict is not None

        limit = timeout or self.client.timeout
        try:
            async with self._changed:
                await asyncio.wait_for(self._changed.wait_for(decided), limit)
        except TimeoutError:
            order = self.ledger.get(self.venue, self.account, client_order_id)
            state = order.status.value if order else "not seen"
            raise OrderTimeout(f"{self.name} order {client_order_id} not {what} within {limit:g}s (it is {state})",
                               order.view() if order else None) from None
        view = self.order(client_order_id)
        assert view is not None
        if not outcome[-1]:
            raise OrderFailed(f"{self.name} order {client_order_id} is {view.status.value}, never {what}"
                              f"{': ' + view.reason if view.reason else ''}", view)
        return view

    # --- reading -------------------------------------------------------------------------------------

    def order(self, client_order_id: str) -> OrderView | None:
        found = self.ledger.get(self.venue, self.account, client_order_id)
        return found.view() if found else None

    def orders(self, *, open_only: bool = False) -> list[OrderView]:
        book = self.ledger.book(self.venue, self.account)
        views = [o.view() for o in book.values()]
        if open_only:
            views = [v for v in views if v.status not in TERMINAL_STATUSES]
        return sorted(views, key=lambda v: v.ts_created)

    def fills(self) -> list[TradeView]:
        book = self.ledger.book(self.venue, self.account)
        return sorted((t for o in book.values() for t in o.trades), key=lambda t: t.ts_event)

    async def positions(self) -> list[PositionSnapshot]:
        reply: PositionsReply = await self._ask(QueryPositions(venue=self.venue, account=self.account,
                                                               user=self.client.user), PositionsReply)
        return reply.positions

    async def funds(self) -> list[AccountSnapshot]:
        reply: FundsReply = await self._ask(QueryFunds(venue=self.venue, account=self.account,
                                                       user=self.client.user), FundsReply)
        return reply.funds

    async def net_position(self, symbol: str) -> int:
        """Long minus short of ``symbol`` (stocks: the holding)."""
        instrument = parse_instrument(symbol)
        net = 0
        for pos in await self.positions():
            if (pos.exchange, pos.symbol) == (instrument.exchange, instrument.symbol):
                net += pos.qty if pos.side is PositionSide.LONG else -pos.qty
        return net

    def __repr__(self) -> str:
        return f"Account({self.name}, orders={len(self.ledger.book(self.venue, self.account))})"
