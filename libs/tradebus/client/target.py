"""Reach a net position: the orders that take an account from where it is to a target, with the
venue's offset rules, and a task that sends them until the target is held.

CTP futures hold long and short separately, each split into today's and yesterday's quantity. To move
the net position, close the opposite side first, then open the rest. SHFE and INE (and only they)
need the two halves closed by separate orders: ``close_today`` for today's lots, ``close_yesterday``
for older ones (today's first, as they usually carry the position just opened). The other exchanges
take a plain ``close`` and decide the order themselves. Stocks have no offsets: buy or sell the
difference; a negative target (a short) is refused, as the simulated Futu accounts are cash accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tradebus.client.errors import ClientError, OrderFailed, OrderTimeout
from tradebus.client.symbols import parse_instrument
from tradebus.ctp.exchanges import CLOSE_TODAY_EXCHANGES
from tradebus.schemas.account import PositionSide, PositionSnapshot
from tradebus.schemas.orders import Offset, Side

if TYPE_CHECKING:
    from tradebus.client.account import Account
    from tradebus.client.quote import Quote


@dataclass(frozen=True)
class Leg:
    side: Side
    offset: Offset
    qty: int


@dataclass(frozen=True)
class Holding:
    """One side of a futures position: today's and yesterday's lots."""

    today: int = 0
    yesterday: int = 0

    @property
    def total(self) -> int:
        return self.today + self.yesterday


def holdings(positions: list[PositionSnapshot], exchange: str, symbol: str) -> tuple[Holding, Holding]:
    """(long, short) of one instrument from td_exec's position snapshot."""
    found = {PositionSide.LONG: Holding(), PositionSide.SHORT: Holding()}
    for pos in positions:
        if (pos.exchange, pos.symbol) != (exchange, symbol) or pos.qty <= 0:
            continue
        today = min(pos.today_qty, pos.qty)
        held = found[pos.side]
        found[pos.side] = Holding(held.today + today, held.yesterday + pos.qty - today)
    return found[PositionSide.LONG], found[PositionSide.SHORT]


def _closes(side: Side, held: Holding, qty: int, exchange: str) -> list[Leg]:
    if qty <= 0:
        return []
    if exchange not in CLOSE_TODAY_EXCHANGES:
        return [Leg(side, Offset.CLOSE, qty)]
    today = min(qty, held.today)
    legs = [Leg(side, Offset.CLOSE_TODAY, today)] if today else []
    if qty - today:
        legs.append(Leg(side, Offset.CLOSE_YESTERDAY, qty - today))
    return legs


def plan(target: int, long: Holding, short: Holding, *, venue: str, exchange: str) -> list[Leg]:
    """The orders that make the net position ``target`` (long minus short)."""
    if venue != "ctp":
        if target < 0:
            raise ClientError(f"target {target}: {venue} positions cannot be short")
        delta = target - long.total
        return [Leg(Side.BUY if delta > 0 else Side.SELL, Offset.NONE, abs(delta))] if delta else []
    delta = target - (long.total - short.total)
    if delta > 0:  # buy: close shorts, then open longs
        closing = min(delta, short.total)
        legs = _closes(Side.BUY, short, closing, exchange)
        return legs + ([Leg(Side.BUY, Offset.OPEN, delta - closing)] if delta - closing else [])
    if delta < 0:  # sell: close longs, then open shorts
        closing = min(-delta, long.total)
        legs = _closes(Side.SELL, long, closing, exchange)
        return legs + ([Leg(Side.SELL, Offset.OPEN, -delta - closing)] if -delta - closing else [])
    return []


class TargetPosTask:
    """``await task.set_target(n)`` sends the legs of :func:`plan` as limit orders at the opposite best
    price (the last price when that side of the book is empty), waits for each to end, and repeats from
    the new position until it is ``n`` or ``rounds`` are used up."""

    def __init__(self, account: Account, quote: Quote, *, rounds: int = 5, order_timeout: float = 10.0) -> None:
        self.account = account
        self.quote = quote
        self.instrument = parse_instrument(str(quote.instrument))
        self.rounds = rounds
        self.order_timeout = order_timeout

    async def legs(self, target: int) -> list[Leg]:
        long, short = holdings(await self.account.positions(), self.instrument.exchange, self.instrument.symbol)
        return plan(target, long, short, venue=self.instrument.venue, exchange=self.instrument.exchange)

    def _price(self, side: Side) -> float:
        price = (self.quote.ask if side is Side.BUY else self.quote.bid) or self.quote.last
        if price is None:
            raise ClientError(f"{self.instrument}: no price yet to place an order at")
        return price

    async def set_target(self, target: int) -> int:
        """Trade until the net position is ``target``; returns it (raises when it cannot get there)."""
        for _ in range(self.rounds):
            legs = await self.legs(target)
            if not legs:
                return target
            for leg in legs:
                try:
                    await self.account.submit(str(self.instrument), leg.side, leg.qty, self._price(leg.side),
                                              offset=leg.offset, wait="terminal", timeout=self.order_timeout)
                except OrderTimeout as exc:
                    if exc.order is not None:  # still resting: take it back before re-planning
                        await self.account.cancel(exc.order.client_order_id, timeout=self.order_timeout)
                except OrderFailed:
                    pass  # re-planned from the position as it now is
        legs = await self.legs(target)
        if legs:
            raise ClientError(f"{self.instrument}: target {target} not reached after {self.rounds} rounds "
                              f"(still to trade: {legs})")
        return target
