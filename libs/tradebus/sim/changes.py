"""Part of the market's state, for a journal: what one batch of activity changed, and applying it back.

A simulator that persists its market after every order event cannot afford ``SimMarket.snapshot()``
each time: the snapshot holds the whole day (every order and trade), so its cost grows with the day.
``take`` copies only what the named accounts, orders and instruments hold now, plus the ids the
market hands out; the day's per-account lists (order ids, trades) only grow within a day, so only
their new tail is taken, from the lengths in ``marks``. ``apply`` puts a change back; applying the
same change twice leaves the same state (tails are placed at their recorded offsets).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

import msgspec

from tradebus.sim.state import AccountRec, InstState, MarketState, OrderRec, PosRec
from tradebus.sim.types import InstrumentKind, SimTrade

T = TypeVar("T")

# account → (order ids already recorded, trades already recorded)
Marks = dict[str, tuple[int, int]]


class AccountChange(msgspec.Struct):
    account: str
    kind: InstrumentKind
    currency: str
    cash: float
    realised_pnl: float
    fees: float
    positions: dict[str, PosRec]  # all of them: one per instrument held, never the day's history
    order_ids_from: int
    order_ids: list[str]
    trades_from: int
    trades: list[SimTrade]


class MarketChanges(msgspec.Struct):
    next_order_id: int
    next_trade_id: int
    next_prio: int
    accounts: list[AccountChange] = msgspec.field(default_factory=list)
    orders: list[OrderRec] = msgspec.field(default_factory=list)
    instruments: list[InstState] = msgspec.field(default_factory=list)


def marks_of(state: MarketState) -> Marks:
    """The marks that make the next ``take`` start after everything the market holds now."""
    return {name: (len(acc.order_ids), len(acc.trades)) for name, acc in state.accounts.items()}


def take(state: MarketState, accounts: Iterable[str], orders: Iterable[str], instruments: Iterable[str],
         marks: Marks) -> MarketChanges:
    """The current value of what is named; ``marks`` moves past the tails taken."""
    by_key = {ist.key: ist for ist in state.instruments}
    return MarketChanges(
        next_order_id=state.next_order_id, next_trade_id=state.next_trade_id, next_prio=state.next_prio,
        accounts=[_account_change(state.accounts[name], marks) for name in accounts if name in state.accounts],
        orders=[state.orders[oid] for oid in orders if oid in state.orders],
        instruments=[by_key[key] for key in instruments if key in by_key],
    )


def _account_change(acc: AccountRec, marks: Marks) -> AccountChange:
    ids_from, trades_from = marks.get(acc.account, (0, 0))
    marks[acc.account] = (len(acc.order_ids), len(acc.trades))
    return AccountChange(
        account=acc.account, kind=acc.kind, currency=acc.currency, cash=acc.cash,
        realised_pnl=acc.realised_pnl, fees=acc.fees, positions=dict(acc.positions),
        order_ids_from=ids_from, order_ids=acc.order_ids[ids_from:],
        trades_from=trades_from, trades=acc.trades[trades_from:],
    )


def apply(state: MarketState, changes: MarketChanges) -> None:
    state.next_order_id = changes.next_order_id
    state.next_trade_id = changes.next_trade_id
    state.next_prio = changes.next_prio
    for ch in changes.accounts:
        acc = state.accounts.get(ch.account)
        if acc is None:
            acc = state.accounts[ch.account] = AccountRec(account=ch.account, kind=ch.kind,
                                                          currency=ch.currency, cash=ch.cash)
        acc.cash, acc.realised_pnl, acc.fees = ch.cash, ch.realised_pnl, ch.fees
        acc.positions = dict(ch.positions)
        place(acc.order_ids, ch.order_ids_from, ch.order_ids)
        place(acc.trades, ch.trades_from, ch.trades)
    for order in changes.orders:
        state.orders[order.order_id] = order
    index = {ist.key: i for i, ist in enumerate(state.instruments)}
    for ist in changes.instruments:
        at = index.get(ist.key)
        if at is None:
            state.instruments.append(ist)
        else:
            state.instruments[at] = ist


def place(items: list[T], start: int, tail: list[T]) -> None:
    """Put ``tail`` at ``start`` (a list that only grows: replaying a tail twice changes nothing)."""
    if start > len(items):
        raise ValueError(f"a change continues a list at {start} but it holds {len(items)}: a change is missing")
    items[start:start + len(tail)] = tail
