"""Account arithmetic: what working orders hold back, what a fill does, and the read-only views.

Reservations (frozen cash, frozen margin, frozen positions) are derived from the working orders on
every call instead of being kept as running totals, so they cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tradebus.ctp.exchanges import CLOSE_TODAY_EXCHANGES
from tradebus.sim.instruments import trade_fee
from tradebus.sim.state import AccountRec, InstState, OrderRec, PosRec
from tradebus.sim.types import Funds, InstrumentKind, Offset, Position, Side, SimInstrument

CLOSE_OFFSETS: frozenset[Offset] = frozenset({Offset.CLOSE, Offset.CLOSE_TODAY, Offset.CLOSE_YESTERDAY})


class Bucket:
    """Which part of a futures position a close order draws on."""

    TODAY = "today"
    YESTERDAY = "yesterday"
    ANY = "any"  # yesterday first, then today


def close_bucket(market: str, offset: Offset) -> str:
    # SHFE and INE keep today's and yesterday's positions apart, and a plain close there closes
    # yesterday's only; the other exchanges close whatever is held, oldest first, whatever the flag.
    if market not in CLOSE_TODAY_EXCHANGES:
        return Bucket.ANY
    return Bucket.TODAY if offset is Offset.CLOSE_TODAY else Bucket.YESTERDAY


def closes_long(order_side: Side) -> bool:
    """A sell close reduces the long position; a buy close reduces the short one."""
    return order_side is Side.SELL


def reserves_cash(inst: SimInstrument, side: Side, offset: Offset) -> bool:
    if inst.kind is InstrumentKind.STOCK:
        return side is Side.BUY
    return offset is Offset.OPEN


def reserves_position(inst: SimInstrument, side: Side, offset: Offset) -> bool:
    if inst.kind is InstrumentKind.STOCK:
        return side is Side.SELL
    return offset in CLOSE_OFFSETS


def cash_needed(inst: SimInstrument, qty: int, price: float) -> float:
    """Cash (stocks) or initial margin (futures) plus fee that ``qty`` at ``price`` ties up."""
    notional = qty * price * inst.multiplier
    return notional * inst.margin_rate + trade_fee(inst, qty, price)


@dataclass(frozen=True, slots=True)
class Frozen:
    """What the working orders of one side of one instrument hold back, by position bucket."""

    today: int = 0
    yesterday: int = 0
    any: int = 0

    @property
    def total(self) -> int:
        return self.today + self.yesterday + self.any


def frozen_cash(orders: Iterable[OrderRec], lookup: Callable[[str, str], SimInstrument]) -> float:
    total = 0.0
    for o in orders:
        inst = lookup(o.market, o.symbol)
        if reserves_cash(inst, o.side, o.offset):
            total += cash_needed(inst, o.remaining, o.price)
    return total


def frozen_position(orders: Iterable[OrderRec], market: str, symbol: str, *, long_side: bool) -> Frozen:
    today = yesterday = any_ = 0
    for o in orders:
        if o.market != market or o.symbol != symbol:
            continue
        if o.offset is Offset.NONE:
            if o.side is Side.SELL and long_side:
                any_ += o.remaining
            continue
        if o.offset not in CLOSE_OFFSETS or closes_long(o.side) != long_side:
            continue
        bucket = close_bucket(o.market, o.offset)
        if bucket == Bucket.TODAY:
            today += o.remaining
        elif bucket == Bucket.YESTERDAY:
            yesterday += o.remaining
        else:
            any_ += o.remaining
    return Frozen(today=today, yesterday=yesterday, any=any_)


def closable(pos: PosRec | None, frozen: Frozen, bucket: str, *, long_side: bool) -> int:
    """How much more a new order may sell (stocks) or close in ``bucket`` (futures)."""
    if pos is None:
        return 0
    held = pos.long_qty if long_side else pos.short_qty
    today = pos.long_today if long_side else pos.short_today
    if bucket == Bucket.TODAY:
        return today - frozen.today
    if bucket == Bucket.YESTERDAY:
        return (held - today) - frozen.yesterday
    return held - frozen.total


def apply_fill(acc: AccountRec, inst: SimInstrument, side: Side, offset: Offset, qty: int,
               price: float) -> float:
    """Book one fill on the account; returns its fee."""
    fee = trade_fee(inst, qty, price)
    pos = acc.positions.setdefault(f"{inst.market}.{inst.symbol}", PosRec(inst.market, inst.symbol))
    acc.fees += fee
    acc.cash -= fee
    if inst.kind is InstrumentKind.STOCK:
        _stock_fill(acc, pos, side, qty, price)
    elif offset is Offset.OPEN:
        _open(pos, side, qty, price)
    else:
        pnl = _close(pos, inst, side, offset, qty, price)
        acc.realised_pnl += pnl
        acc.cash += pnl
    return fee


def _stock_fill(acc: AccountRec, pos: PosRec, side: Side, qty: int, price: float) -> None:
    if side is Side.BUY:
        pos.long_avg = (pos.long_avg * pos.long_qty + price * qty) / (pos.long_qty + qty)
        pos.long_qty += qty
        acc.cash -= qty * price
        return
    pnl = (price - pos.long_avg) * qty
    acc.realised_pnl += pnl
    acc.cash += qty * price
    pos.long_qty -= qty
    if pos.long_qty == 0:
        pos.long_avg = 0.0


def _open(pos: PosRec, side: Side, qty: int, price: float) -> None:
    if side is Side.BUY:
        pos.long_avg = (pos.long_avg * pos.long_qty + price * qty) / (pos.long_qty + qty)
        pos.long_qty += qty
        pos.long_today += qty
    else:
        pos.short_avg = (pos.short_avg * pos.short_qty + price * qty) / (pos.short_qty + qty)
        pos.short_qty += qty
        pos.short_today += qty


def _close(pos: PosRec, inst: SimInstrument, side: Side, offset: Offset, qty: int, price: float) -> float:
    """Reduce the position; returns the realised P&L against the open average."""
    long_side = closes_long(side)
    held = pos.long_qty if long_side else pos.short_qty
    today = pos.long_today if long_side else pos.short_today
    bucket = close_bucket(inst.market, offset)
    if bucket == Bucket.TODAY:
        from_today = qty
    elif bucket == Bucket.YESTERDAY:
        from_today = 0
    else:
        from_today = max(0, qty - (held - today))
    if long_side:
        pnl = (price - pos.long_avg) * qty * inst.multiplier
        pos.long_qty -= qty
        pos.long_today -= from_today
        pos.long_avg = pos.long_avg if pos.long_qty else 0.0
    else:
        pnl = (pos.short_avg - price) * qty * inst.multiplier
        pos.short_qty -= qty
        pos.short_today -= from_today
        pos.short_avg = pos.short_avg if pos.short_qty else 0.0
    return pnl


def position_view(acc: AccountRec, pos: PosRec, ist: InstState, working: list[OrderRec]) -> Position:
    inst = ist.inst
    mult = inst.multiplier
    long_frozen = frozen_position(working, pos.market, pos.symbol, long_side=True).total
    short_frozen = frozen_position(working, pos.market, pos.symbol, long_side=False).total
    upnl = (ist.last - pos.long_avg) * pos.long_qty * mult + (pos.short_avg - ist.last) * pos.short_qty * mult
    margin = position_margin(pos, ist)
    return Position(
        account=acc.account, market=pos.market, symbol=pos.symbol, long_qty=pos.long_qty,
        short_qty=pos.short_qty, long_today=pos.long_today, short_today=pos.short_today,
        long_avg_price=pos.long_avg, short_avg_price=pos.short_avg, long_frozen=long_frozen,
        short_frozen=short_frozen, margin=margin, unrealised_pnl=upnl,
    )


def position_margin(pos: PosRec, ist: InstState) -> float:
    inst = ist.inst
    if inst.kind is not InstrumentKind.FUTURE:
        return 0.0
    return (pos.long_qty + pos.short_qty) * ist.last * inst.multiplier * inst.margin_rate


def funds_view(acc: AccountRec, positions: list[Position], frozen: float,
               lookup: Callable[[str, str], InstState]) -> Funds:
    margin = sum((p.margin for p in positions), 0.0)
    upnl = sum((p.unrealised_pnl for p in positions), 0.0)
    market_value = 0.0
    if acc.kind is InstrumentKind.STOCK:
        market_value = sum(p.long_qty * lookup(p.market, p.symbol).last for p in positions)
    equity = acc.cash + market_value + (upnl if acc.kind is InstrumentKind.FUTURE else 0.0)
    return Funds(
        account=acc.account, currency=acc.currency, cash=acc.cash, frozen_cash=frozen, margin=margin,
        available=acc.cash - frozen - margin, market_value=market_value, realised_pnl=acc.realised_pnl,
        unrealised_pnl=upnl, fees=acc.fees, equity=equity,
    )
