"""The per-account state and its single writer.

Per (venue, account) an :class:`Account` holds the orders (the fold of ``TD_EVT``), one
``asyncio.Lock`` (the single writer: every event of the account is computed, stored and applied
under it) and one report queue drained by one task (:meth:`AccountWriter.drain`), so venue reports
are applied in the order the adapter delivered them.

:class:`AccountWriter` is the code that turns a venue report into events and stores and applies
them: the engine's commands, its report queues and reconciliation (``td_exec.reconcile``) all write
through it. It never calls the venue, so holding the account lock while it runs never waits on one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from td_exec.adopt import adoptions, candidates
from td_exec.projections import OrdersProjection
from td_exec.reports import cancel_rejected, make_event, next_for_fill, next_for_order_report
from td_exec.store import Deposed, EventStore, SpoolFull
from td_exec.venue import CancelRejectReport, FillReport, OrderReport, TradeVenue
from tradebus.ids import order_event_id
from tradebus.logs import get_logger
from tradebus.orders.order import Order, Outcome, apply, new_order
from tradebus.orders.state import IN_FLIGHT_STATUSES, OPEN_STATUSES
from tradebus.runtime.metrics import Registry
from tradebus.schemas.base import now_ns
from tradebus.schemas.orders import OrderAccepted, OrderEventBase, OrderSubmitted, OrderType
from tradebus.subjects import td_evt

log = get_logger("td_exec.engine")

Report = OrderReport | FillReport | CancelRejectReport


class AccountStatus(StrEnum):
    DISCONNECTED = "disconnected"  # venue connection down: commands denied ("venue_disconnected")
    RECONCILING = "reconciling"  # connected, venue view being merged: commands denied ("reconciling")
    READY = "ready"
    STANDBY = "standby"  # another td_exec instance holds the account: commands are forwarded to it


@dataclass(eq=False)
class Account:
    venue: TradeVenue
    name: str
    orders: dict[str, Order]
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    status: AccountStatus = AccountStatus.DISCONNECTED
    queue: asyncio.Queue[Report | asyncio.Future[None]] = field(default_factory=asyncio.Queue)
    needs_reconcile: bool = False  # an event was refused by a full spool: re-reconcile when NATS is back
    # Orders whose OrderSubmitted is published but not yet acknowledged: nothing is sent, and nobody
    # else (a duplicate submit, a cancel) acts on them until JetStream answered.
    unconfirmed: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    held: bool = False  # this instance holds the account's lease and fence and its fold is current
    # venue order id → client order id of the orders held, and the state of the book it was built from
    # (AccountWriter.order_for: orders another td_exec session placed, named by the venue's id only).
    venue_ids: dict[str, str] = field(default_factory=dict)
    venue_ids_of: tuple[int, int, float] = (0, 0, -1.0)


@dataclass(eq=False)
class VenueLink:
    venue: TradeVenue
    connected: bool = False
    reason: str = "not started"
    generation: int = 0  # +1 per connection; a reconcile of an older connection stops
    reconcile_task: asyncio.Task[None] | None = None


async def _none_recalled(_acct: Account, _report: Report) -> Order | None:
    return None


class AccountWriter:
    """Store then apply the events of every account: *compute from the fold → store → apply → project*."""

    def __init__(self, store: EventStore, projection: OrdersProjection, metrics: Registry,
                 inflight_grace_s: float = 60.0) -> None:
        self.store = store
        self.grace_ns = int(inflight_grace_s * 1e9)  # td.inflight_grace_s: how long an insert may travel
        self.projection = projection
        self.events = metrics.counter("td_events_total", "order events appended, by kind", ("kind",))
        self.anomalies = metrics.counter("td_fold_anomalies_total",
                                         "impossible transitions, duplicates and overfills", ("outcome",))
        self.foreign = metrics.counter("td_reports_foreign_total",
                                       "venue reports that name no order (a fill before its external order)")
        self.external = metrics.counter("td_external_orders_total", "orders placed outside tradebus, recorded")
        # A retired order the report names, read back from TD_EVT (td_exec.closed; the engine sets it).
        self.recall: Callable[[Account, Report], Awaitable[Order | None]] = _none_recalled

    def events_total(self) -> float:
        return sum(self.events.values.values())

    async def drain(self, acct: Account) -> None:
        """The account's report queue, applied one report at a time under its lock."""
        while True:
            item = await acct.queue.get()
            if isinstance(item, asyncio.Future):
                if not item.done():
                    item.set_result(None)
                continue
            if not acct.held:
                continue  # the holder records it; a takeover reconciles with the venue anyway
            try:
                async with acct.lock:
                    await self.process_report(acct, item)
            except SpoolFull:
                acct.needs_reconcile = True
            except Deposed:
                log.info("report not applied: the account was taken by another instance", account=acct.name)
            except Exception:
                log.exception("report processing failed", account=acct.name, report=type(item).__name__)

    async def barrier(self, acct: Account, timeout: float = 2.0) -> None:
        """Wait until the reports queued before this call are applied."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acct.queue.put_nowait(fut)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(fut), timeout)
        await self.store.settled()  # a reply shows only events JetStream (or the spool) holds

    async def process_report(self, acct: Account, report: Report) -> None:
        """Turn one report into the events it implies. Call with ``acct.lock`` held."""
        order = self.order_for(acct, report)
        if order is None:
            if isinstance(report, OrderReport) and candidates(acct.orders.values(), report, self.grace_ns):
                if acct.status is not AccountStatus.READY:
                    return  # the login's replay: reconciliation decides, seeing the venue's whole list
                order = await self.adopt_or_record(acct, report, adoptions(acct.orders.values(), [report],
                                                                           self.grace_ns))
            else:
                order = await self.record_external(acct, report)
            if order is None:
                return
        if isinstance(report, CancelRejectReport):
            if order.status in OPEN_STATUSES:
                await self.emit(order, cancel_rejected(order, report))
            return
        step = next_for_order_report if isinstance(report, OrderReport) else next_for_fill
        for _ in range(4):  # accepted → updated/filled → cancelled at most; the bound guards a bad adapter
            event = step(order, report)  # type: ignore[arg-type]
            if event is None or await self.emit(order, event) is not Outcome.APPLIED:
                return

    def order_for(self, acct: Account, report: Report) -> Order | None:
        """The order a report is about: ours by client order id, else the external order its venue id names."""
        if report.client_order_id is not None:
            order = acct.orders.get(report.client_order_id)
            if order is not None:
                return order
        if isinstance(report, CancelRejectReport) or not report.venue_order_id:
            return None
        external = acct.orders.get(acct.venue.external_client_order_id(report.venue_order_id))
        return external if external is not None else self._by_venue_id(acct, report.venue_order_id)

    def _by_venue_id(self, acct: Account, venue_order_id: str) -> Order | None:
        """Our order the venue names by its own id only: one placed through another td_exec's venue session
        (the instance that held the account before a takeover; its adapter's memory of the session is not
        ours), whose venue id TD_EVT holds. The index is rebuilt only when the book changed since it was
        built, so a truly external order costs one rebuild, not one per report."""
        order = acct.orders.get(acct.venue_ids.get(venue_order_id, ""))
        if order is not None and order.venue_order_id == venue_order_id:
            return order
        state = (id(acct.orders), len(acct.orders), self.events_total())
        if state == acct.venue_ids_of:
            return None
        acct.venue_ids = {o.venue_order_id: coid for coid, o in acct.orders.items() if o.venue_order_id}
        acct.venue_ids_of = state
        order = acct.orders.get(acct.venue_ids.get(venue_order_id, ""))
        return order if order is not None and order.venue_order_id == venue_order_id else None

    async def adopt_or_record(self, acct: Account, report: OrderReport,
                              verdict: tuple[dict[str, Order], dict[str, str]]) -> Order | None:
        """Adopt the report's order as ours in flight when ``verdict`` (``td_exec.adopt.adoptions``)
        says so, else record it as external. Call with ``acct.lock`` held."""
        adopted, refused = verdict
        key = report.venue_order_id or ""
        order = adopted.get(key)
        if order is None or order.venue_order_id or order.status not in IN_FLIGHT_STATUSES:
            if key in refused:
                log.warning("order of another session not adopted: ambiguous", account=acct.name,
                            venue_order_id=key, reason=refused[key])
            return await self.record_external(acct, report)
        await self.emit(order, make_event(OrderAccepted, order, ts_event=report.ts_event, reconciliation=True,
                                          venue_order_id=key))
        log.info("in-flight order adopted from another session's report", venue=acct.venue.name,
                 account=acct.name, client_order_id=order.client_order_id, venue_order_id=key)
        return order

    async def record_external(self, acct: Account, report: Report) -> Order | None:
        """An order the venue reports and tradebus did not submit becomes an external order in TD_EVT.

        Its ``OrderSubmitted`` (``external=True``) is built from the venue's report and named from the
        venue's ids, so its event ids — the ``Nats-Msg-Id`` — are the same whoever records it and
        however often (a push and a reconciliation, two processes). Only an order report can create
        one: a fill of an order not seen yet waits for its order (pushes bring the order first, and
        reconciliation lists orders before fills). Call with ``acct.lock`` held.
        """
        recalled = await self.recall(acct, report)  # a closed order that left memory is not external
        if recalled is not None:
            return recalled
        if not isinstance(report, OrderReport) or not report.venue_order_id:
            self.foreign.inc()
            log.warning("venue report for no known order; ignored", account=acct.name, kind=type(report).__name__,
                        client_order_id=report.client_order_id, venue_order_id=report.venue_order_id)
            return None
        coid = acct.venue.external_client_order_id(report.venue_order_id)
        event = OrderSubmitted(
            event_id=order_event_id(acct.venue.name, acct.name, coid, "OrderSubmitted"), venue=acct.venue.name,
            account=acct.name, client_order_id=coid, venue_order_id=report.venue_order_id,
            ts_event=report.ts_event, ts_init=now_ns(), reconciliation=report.reconciliation,
            exchange=report.exchange, symbol=report.symbol, side=report.side,
            order_type=OrderType.LIMIT if report.price is not None else OrderType.MARKET, qty=report.qty,
            price=report.price, offset=report.offset, remark=report.client_order_id or "", external=True)
        await self.store.append(td_evt(acct.venue.name, acct.name, coid), event)
        order = new_order(event)
        acct.orders[coid] = order
        self.events.inc(1.0, "OrderSubmitted")
        self.external.inc()
        self.projection.touch(order)
        log.info("external order recorded", venue=acct.venue.name, account=acct.name, client_order_id=coid,
                 venue_order_id=report.venue_order_id, reconciliation=report.reconciliation)
        return order

    async def emit(self, order: Order, event: OrderEventBase) -> Outcome:
        """Store then apply one event of ``order`` (caller holds the account lock).

        "Store" is pipelined: the event is published (or spooled) and its ack is confirmed later, in
        order, by the store, which spools it if JetStream refuses it; a reply waits for that
        (``barrier``)."""
        await self.store.append(td_evt(order.venue, order.account, order.client_order_id), event)
        outcome = apply(order, event)  # type: ignore[arg-type]
        if outcome is not Outcome.APPLIED:
            self.anomalies.inc(1.0, outcome.value)
            report = log.error if outcome is Outcome.OVERFILL else log.warning
            report("event not applied", outcome=outcome.value, kind=type(event).__name__,
                   client_order_id=order.client_order_id, status=order.status.value)
        self.events.inc(1.0, type(event).__name__)
        self.projection.touch(order)
        return outcome
