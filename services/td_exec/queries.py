"""The read side: answers to the query commands.

``QueryOrders`` and ``QueryTrades`` read the fold of TD_EVT (the ledger) and never touch the venue or
an account's lock; an order whose ``OrderSubmitted`` JetStream has not acknowledged yet is not part of
that fold and is left out. ``QueryPositions``, ``QueryFunds`` and ``QueryInstruments`` are the venue's
own snapshot, each call bounded by ``td.query_timeout_s``. ``QueryVenue`` is what the adapter knows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from td_exec.accounts import Account, VenueLink
from td_exec.venue import VenueRejected, VenueUnknown
from tradebus.config_sections.td import TdConfig
from tradebus.orders.order import Ledger, Order
from tradebus.orders.state import OPEN_STATUSES
from tradebus.schemas.account import FundsReply, InstrumentsReply, PositionsReply
from tradebus.schemas.base import BusMessage
from tradebus.schemas.orders import (
    CommandDenied,
    OrdersReply,
    QueryFunds,
    QueryInstruments,
    QueryOrders,
    QueryPositions,
    QueryTrades,
    TradeCommand,
    TradesReply,
    VenueInfo,
)


def orders_of(ledger: Ledger, venue: str, account: str) -> dict[str, Order]:
    return ledger.accounts.get((venue, account), {})


def query_orders(ledger: Ledger, accounts: Mapping[tuple[str, str], Account], cmd: QueryOrders) -> OrdersReply:
    orders = orders_of(ledger, cmd.venue, cmd.account)
    picked = ([orders[cmd.client_order_id]] if cmd.client_order_id in orders else []) \
        if cmd.client_order_id is not None else list(orders.values())
    if cmd.open_only:
        picked = [o for o in picked if o.status in OPEN_STATUSES]
    acct = accounts.get((cmd.venue, cmd.account))
    if acct is not None and acct.unconfirmed:  # not stored yet: not part of the fold of TD_EVT
        picked = [o for o in picked if o.client_order_id not in acct.unconfirmed]
    return OrdersReply(orders=[o.view() for o in picked])


def query_trades(ledger: Ledger, cmd: QueryTrades) -> TradesReply:
    orders = orders_of(ledger, cmd.venue, cmd.account)
    picked = [orders[cmd.client_order_id]] if cmd.client_order_id in orders else (
        [] if cmd.client_order_id is not None else list(orders.values()))
    trades = sorted((t for o in picked for t in o.trades), key=lambda t: t.ts_event)
    return TradesReply(trades=trades)


def venue_info(link: VenueLink) -> VenueInfo:
    """The venue's accounts (what a ``<venue>:*`` grant means) and its trading day. Only adapters
    whose venue has a trading day of its own (the CTP front's login day) have ``trading_day``."""
    day = str(getattr(link.venue, "trading_day", "") or "")
    return VenueInfo(venue=link.venue.name, connected=link.connected, accounts=sorted(link.venue.accounts()),
                     trading_day=day or None)


async def venue_query(link: VenueLink, cmd: TradeCommand, cfg: TdConfig) -> BusMessage:
    """Instruments, positions and funds, as the venue answers them now."""
    venue = link.venue
    try:
        if isinstance(cmd, QueryInstruments):
            if cmd.symbol is not None and cmd.exchange is not None:
                one = await asyncio.wait_for(venue.instrument(cmd.exchange, cmd.symbol), cfg.query_timeout_s)
                return InstrumentsReply(instruments=[one] if one is not None else [])
            return InstrumentsReply(instruments=await asyncio.wait_for(venue.instruments(cmd.exchange),
                                                                       cfg.query_timeout_s))
        if not link.connected:
            return CommandDenied(code="venue_disconnected", reason=f"{venue.name} is not connected ({link.reason})")
        if cmd.account not in venue.accounts():
            return CommandDenied(code="unknown_account", reason=f"{venue.name} has no account {cmd.account!r}")
        if isinstance(cmd, QueryPositions):
            positions = await asyncio.wait_for(venue.query_positions(cmd.account), cfg.query_timeout_s)
            return PositionsReply(positions=positions)
        if isinstance(cmd, QueryFunds):
            return FundsReply(funds=await asyncio.wait_for(venue.query_funds(cmd.account), cfg.query_timeout_s))
    except (VenueUnknown, TimeoutError) as exc:
        return CommandDenied(code="venue_unavailable", reason=f"{venue.name} did not answer: {exc or 'timeout'}")
    except VenueRejected as exc:
        return CommandDenied(code="venue_rejected", reason=f"{exc.code}: {exc.reason}")
    return CommandDenied(code="bad_command", reason=f"unsupported command {type(cmd).__name__}")
