"""Reconciliation: after every venue (re)connection, merge the venue's view before taking commands.

Per account, while it is ``RECONCILING`` (order commands are *denied* with code ``reconciling`` —
a caller retries; queueing would hide a venue that never comes back behind a request timeout):

1. ``query_orders`` and ``query_fills`` (outside the account lock, bounded by
   ``td.reconcile_timeout_s``; a failure retries with backoff for as long as the connection lasts);
2. under the lock, every report goes through the same code as a live push, flagged
   ``reconciliation=True``: first the acceptances, then the fills (each trade id once), then the
   order states (cancelled, rejected, modified…);
3. in-flight orders (``SUBMITTED``/``UNKNOWN``) the venue does not list are settled by the rule
   below; then the account becomes ``READY``.

Orders the venue lists that tradebus did not submit (placed while td_exec was away, or whose push
was lost) are recorded as external orders in step 2, before their fills, each exactly once — except
an order of another session of the investor that is one of ours in flight, sent by an instance that
died before any report of it was stored: it is adopted (``td_exec.adopt``, judged over the whole list).

**The absent-order rule.** An order stored as submitted but absent from the venue's order list is
marked ``OrderRejected(code="absent_at_venue")`` only when all of these hold: the venue answered the
order query (a definite, complete list of the trading day's orders — both Futu's and CTP's are), the
order was stored at least ``td.inflight_grace_s`` (default 60 s) ago, so an insert still travelling
cannot land afterwards, and the order has no fill. Younger orders stay in flight and are looked at
again by :func:`inflight_loop` every ``td.inflight_check_s`` until a report or the rule settles them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Protocol

from td_exec.accounts import Account, AccountStatus, Report, VenueLink
from td_exec.adopt import adoptions
from td_exec.reports import VENUE_HOLDS, make_event
from td_exec.store import Deposed, SpoolFull
from td_exec.venue import FillReport, OrderReport, VenueUnknown
from tradebus.backoff import Backoff
from tradebus.config_sections.td import TdConfig
from tradebus.logs import get_logger
from tradebus.orders.order import Order, Outcome
from tradebus.orders.state import IN_FLIGHT_STATUSES
from tradebus.schemas.orders import OrderAccepted, OrderEventBase, OrderRejected

log = get_logger("td_exec.reconcile")


class Writer(Protocol):
    """What reconciliation needs of the account writer (``td_exec.accounts.AccountWriter``): apply a
    venue report, record an external order, store-then-apply one event, wait for the queued reports."""

    def order_for(self, acct: Account, report: Report) -> Order | None: ...

    async def record_external(self, acct: Account, report: Report) -> Order | None: ...

    async def adopt_or_record(self, acct: Account, report: OrderReport,
                              verdict: tuple[dict[str, Order], dict[str, str]]) -> Order | None: ...

    async def emit(self, order: Order, event: OrderEventBase) -> Outcome: ...

    async def process_report(self, acct: Account, report: Report) -> None: ...

    async def barrier(self, acct: Account, timeout: float = 2.0) -> None: ...

    def events_total(self) -> float: ...


async def _venue_view(acct: Account, timeout: float) -> tuple[list[OrderReport], list[FillReport]]:
    orders = await asyncio.wait_for(acct.venue.query_orders(acct.name), timeout)
    fills = await asyncio.wait_for(acct.venue.query_fills(acct.name), timeout)
    return orders, fills


async def reconcile_account(writer: Writer, cfg: TdConfig, acct: Account, *, strict: bool = True) -> bool:
    """One pass; True when the venue answered and its view was merged."""
    try:
        orders, fills = await _venue_view(acct, cfg.reconcile_timeout_s)
    except (VenueUnknown, TimeoutError) as exc:
        log.warning("reconciliation query failed", venue=acct.venue.name, account=acct.name,
                    error=str(exc) or type(exc).__name__)
        return False
    await writer.barrier(acct)  # pushes received before the query are applied first
    added_before = writer.events_total()
    try:
        async with acct.lock:
            listed: set[str] = set()
            unnamed = [r for r in orders if writer.order_for(acct, r) is None]
            verdict = adoptions(acct.orders.values(), unnamed, int(cfg.inflight_grace_s * 1e9))
            for report in orders:  # acceptances first (external orders recorded), so fills land on accepted orders
                order = await accept_only(writer, acct, report, verdict)
                if order is not None:
                    listed.add(order.client_order_id)
            for fill in fills:
                await writer.process_report(acct, fill)
            for report in orders:
                await writer.process_report(acct, report)
            await settle_absent(writer, acct, listed, cfg.inflight_grace_s)
    except SpoolFull:
        acct.needs_reconcile = True
        return False
    except Deposed:  # fenced out meanwhile: the new holder reconciles
        return True
    added = writer.events_total() - added_before
    log.info("reconciled", venue=acct.venue.name, account=acct.name, venue_orders=len(orders),
             venue_fills=len(fills), events_added=added, strict=strict)
    return True


async def accept_only(writer: Writer, acct: Account, report: OrderReport,
                      verdict: tuple[dict[str, Order], dict[str, str]] = ({}, {})) -> Order | None:
    """The order the report is about (adopted per ``verdict``, or recorded here as external when it
    was placed outside tradebus), accepted if the venue holds it."""
    order = writer.order_for(acct, report)
    if order is None:
        order = await writer.adopt_or_record(acct, report, verdict)
    if order is None or order.status not in IN_FLIGHT_STATUSES:
        return order
    if report.status in VENUE_HOLDS:
        await writer.emit(order, make_event(OrderAccepted, order, ts_event=report.ts_event,
                                            reconciliation=True, venue_order_id=report.venue_order_id))
    return order


async def settle_absent(writer: Writer, acct: Account, listed: set[str], grace_s: float) -> int:
    """Apply the absent-order rule (see the module doc) to the account's in-flight orders."""
    now = time.time_ns()
    grace_ns = int(grace_s * 1e9)
    settled = 0
    for order in list(acct.orders.values()):
        if order.status not in IN_FLIGHT_STATUSES or order.client_order_id in listed or order.filled_qty:
            continue
        if now - order.ts_created < grace_ns:
            continue
        reason = (f"not in {acct.venue.name}'s order list {grace_s:g}s after it was sent: "
                  "the venue never received it")
        await writer.emit(order, make_event(OrderRejected, order, code="absent_at_venue", reason=reason,
                                            reconciliation=True))
        settled += 1
    return settled


async def reconcile_venue(writer: Writer, cfg: TdConfig, link: VenueLink, accounts: list[Account],
                          generation: int) -> None:
    """Reconcile every account of a freshly connected venue, retrying until each one succeeds."""
    pending = accounts
    backoff = Backoff(0.5, 10.0, jitter=0.0)
    while pending and link.generation == generation and link.connected:
        pending = [acct for acct in pending if acct.held]  # one taken by another instance meanwhile: theirs now
        still: list[Account] = []
        for acct in pending:
            if await reconcile_account(writer, cfg, acct):
                if link.generation == generation and link.connected and acct.held:
                    acct.status = AccountStatus.READY
            else:
                still.append(acct)
        pending = still
        if pending:
            await asyncio.sleep(backoff.next())  # backoff between attempts against a struggling venue


async def inflight_loop(writer: Writer, cfg: TdConfig, accounts: Mapping[tuple[str, str], Account]) -> None:
    """Settle in-flight orders of READY accounts that no push settled: query the venue, apply the rule.
    ``accounts`` is the engine's live map of accounts (read anew on every round)."""
    interval = cfg.inflight_check_s
    while True:
        await asyncio.sleep(interval)  # a periodic check, not a wait for something specific
        now = time.time_ns()
        for acct in list(accounts.values()):
            if acct.status is not AccountStatus.READY:
                continue
            stale = [o for o in acct.orders.values()
                     if o.status in IN_FLIGHT_STATUSES and now - o.ts_created >= interval * 1e9]
            if not stale:
                continue
            try:
                await reconcile_account(writer, cfg, acct, strict=False)
            except Exception:
                log.exception("in-flight check failed", venue=acct.venue.name, account=acct.name)
