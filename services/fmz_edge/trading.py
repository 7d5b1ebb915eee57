"""Requests to td_exec on ``td.cmd.<venue>.<account>``: orders, cancels and queries, with the
authenticated user in every command (td_exec checks it again)."""

from __future__ import annotations

from typing import TypeVar

from fmz_edge.protocol import FmzError
from tradebus import subjects
from tradebus.bus import Bus, RequestFailed, RequestTimeout
from tradebus.schemas import TRADE_REPLY_DECODER
from tradebus.schemas.account import (
    AccountSnapshot,
    FundsReply,
    InstrumentInfo,
    InstrumentsReply,
    PositionSnapshot,
    PositionsReply,
)
from tradebus.schemas.base import BusMessage
from tradebus.schemas.orders import (
    CancelOrder,
    CommandAccepted,
    CommandDenied,
    OrdersReply,
    OrderView,
    QueryFunds,
    QueryInstruments,
    QueryOrders,
    QueryPositions,
    QueryTrades,
    SubmitOrder,
    TradesReply,
    TradeView,
)

R = TypeVar("R")


class NoAnswer(FmzError):
    """td_exec did not answer in time: the command's outcome is unknown."""


class Trading:
    """One user's view of one venue account."""

    def __init__(self, bus: Bus, venue: str, account: str, user: str, *, timeout: float) -> None:
        self.bus = bus
        self.venue = venue
        self.account = account
        self.user = user
        self.timeout = timeout
        self.subject = subjects.td_cmd(venue, account)

    async def _ask(self, command: BusMessage, want: type[R], what: str) -> R:
        try:
            reply = await self.bus.request(self.subject, command, TRADE_REPLY_DECODER, timeout=self.timeout)
        except RequestTimeout:
            raise NoAnswer(f"{what}: no answer from the trading service within {self.timeout:g}s") from None
        except RequestFailed as exc:
            raise FmzError(f"{what}: trading service unavailable ({exc.reason})") from None
        if isinstance(reply, CommandDenied):
            raise FmzError(f"{what} refused: {reply.reason} ({reply.code})")
        if not isinstance(reply, want):
            raise FmzError(f"{what}: unexpected reply {type(reply).__name__}")
        return reply

    async def submit(self, order: SubmitOrder) -> OrderView:
        try:
            reply = await self._ask(order, CommandAccepted, "order")
        except NoAnswer as exc:  # the order may exist: say which id to look for
            hint = f"the order may still have been placed: query id {order.client_order_id}"
            raise FmzError(f"{exc}; {hint}") from None
        return reply.order

    async def cancel(self, client_order_id: str) -> OrderView:
        command = CancelOrder(venue=self.venue, account=self.account, client_order_id=client_order_id, user=self.user)
        return (await self._ask(command, CommandAccepted, "cancel")).order

    async def orders(self, *, open_only: bool = False, client_order_id: str | None = None) -> list[OrderView]:
        command = QueryOrders(venue=self.venue, account=self.account, open_only=open_only,
                              client_order_id=client_order_id, user=self.user)
        return (await self._ask(command, OrdersReply, "order query")).orders

    async def trades(self, client_order_id: str | None = None) -> list[TradeView]:
        command = QueryTrades(venue=self.venue, account=self.account, client_order_id=client_order_id, user=self.user)
        return (await self._ask(command, TradesReply, "trade query")).trades

    async def positions(self) -> list[PositionSnapshot]:
        command = QueryPositions(venue=self.venue, account=self.account, user=self.user)
        return (await self._ask(command, PositionsReply, "position query")).positions

    async def funds(self) -> list[AccountSnapshot]:
        command = QueryFunds(venue=self.venue, account=self.account, user=self.user)
        return (await self._ask(command, FundsReply, "funds query")).funds

    async def instruments(self, exchange: str | None = None, symbol: str | None = None) -> list[InstrumentInfo]:
        command = QueryInstruments(venue=self.venue, account=self.account, exchange=exchange, symbol=symbol,
                                   user=self.user)
        return (await self._ask(command, InstrumentsReply, "instrument query")).instruments
