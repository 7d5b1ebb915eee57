"""The execution engine: one writer per account, events first, venues behind explicit timeouts.

The engine wires the parts and runs the commands: the per-account state and its single writer are
``td_exec.accounts``, reconciliation ``td_exec.reconcile``, the read-side queries ``td_exec.queries``,
the rebuild at start ``td_exec.snapshot``/``td_exec.rebuild``. Venue calls (the instrument lookup of a
submit or modify included) are made *outside* the account lock, so a slow venue never blocks the
account's other orders or the reports that would settle it.

The rule for every event: compute it from the current fold → store it (JetStream, or the fsynced
spool) → apply it to memory → project it. An event that cannot be stored is not applied; the venue
still has the truth and reconciliation produces the event again. Stores are pipelined (see
``td_exec.store``): the writer does not wait for each ack, but the venue is called only once
``OrderSubmitted``'s ack is in, and a reply only once the events it shows are stored or spooled.

Submit, in order: permission → account ready → duplicate? (the same order resent: returns the existing
order, nothing sent; another order reusing its id: denied ``duplicate_mismatch``, reply-only — a denial
never writes onto an existing order's subject) → pre-trade checks (``OrderDenied``; a price within a
millionth of a tick is snapped onto the tick) → ``OrderSubmitted`` acknowledged by JetStream → venue call
(timeout ⇒ ``OrderStatusUnknown``; definite refusal ⇒ ``OrderRejected``) → reply with the order as it
stands once the reports already received are applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import msgspec

from td_exec import checks, queries, snapshot
from td_exec.accounts import Account, AccountStatus, AccountWriter, Report, VenueLink
from td_exec.closed import ClosedOrders
from td_exec.fence import Key, append_fence, last_seq
from td_exec.instruments_kv import InstrumentsProjection
from td_exec.lease import LeaseKeeper
from td_exec.projections import OrdersProjection
from td_exec.rebuild import rebuild
from td_exec.reconcile import inflight_loop, reconcile_account, reconcile_venue
from td_exec.reports import make_event
from td_exec.spool import Spool
from td_exec.store import Deposed, EventStore, SpoolFull, StoreUnavailable
from td_exec.venue import (
    EXTERNAL_PREFIX,
    CancelRejectReport,
    FillReport,
    OrderRef,
    OrderReport,
    TradeVenue,
    VenueOrder,
    VenueRejected,
    VenueUnknown,
    VenueUnsupported,
)
from tradebus.bus import Bus
from tradebus.config_sections.td import TdConfig
from tradebus.ids import new_client_order_id, order_event_id
from tradebus.logs import get_logger
from tradebus.orders.order import Ledger, Order, new_order
from tradebus.orders.state import IN_FLIGHT_STATUSES, OPEN_STATUSES
from tradebus.runtime.metrics import Registry
from tradebus.schemas.account import InstrumentInfo
from tradebus.schemas.base import BusMessage, now_ns
from tradebus.schemas.orders import (
    CancelOrder,
    CommandAccepted,
    CommandDenied,
    ModifyOrder,
    OrderAccepted,
    OrderDenied,
    OrderEventBase,
    OrderRejected,
    OrderStatus,
    OrderStatusUnknown,
    OrderSubmitted,
    OrderType,
    OrderUpdated,
    QueryOrders,
    QueryTrades,
    QueryVenue,
    SubmitOrder,
    TradeCommand,
)
from tradebus.subjects import td_evt, td_evt_account
from tradebus.users import UserStore

log = get_logger("td_exec.engine")


class _Sink:
    """The :class:`td_exec.venue.VenueSink` of one venue: queues reports for the account's writer."""

    def __init__(self, engine: Engine, link: VenueLink) -> None:
        self.engine = engine
        self.link = link

    def on_order(self, report: OrderReport) -> None:
        self.engine.enqueue(self.link, report)

    def on_fill(self, report: FillReport) -> None:
        self.engine.enqueue(self.link, report)

    def on_cancel_rejected(self, report: CancelRejectReport) -> None:
        self.engine.enqueue(self.link, report)

    def on_connection(self, connected: bool, reason: str) -> None:
        self.engine.on_connection(self.link, connected, reason)


def _same_submit(order: Order, cmd: SubmitOrder) -> bool:
    """A resent submit (a retry after a lost reply) rather than another order reusing the id."""
    if order.price is None or cmd.price is None:
        same_price = order.price is None and cmd.price is None
    else:
        same_price = abs(order.price - cmd.price) < 1e-6 * max(1.0, abs(cmd.price))
    return (order.user == cmd.user and order.exchange == cmd.exchange and order.symbol == cmd.symbol
            and order.side == cmd.side and order.order_type == cmd.order_type and order.qty == cmd.qty
            and order.offset == cmd.offset and order.time_in_force == cmd.time_in_force and same_price)


def _denied(code: str, reason: str, client_order_id: str | None = None) -> CommandDenied:
    return CommandDenied(code=code, reason=reason, client_order_id=client_order_id)


class Engine:
    def __init__(self, bus: Bus, venues: list[TradeVenue], cfg: TdConfig, data_dir: Path, metrics: Registry,
                 *, users: UserStore | None = None) -> None:
        self.bus = bus
        self.cfg = cfg
        self.data_dir = data_dir
        self.users = users
        self.metrics = metrics
        self.links: dict[str, VenueLink] = {v.name: VenueLink(v) for v in venues}
        self.ledger = Ledger()
        self.accounts: dict[tuple[str, str], Account] = {}
        self.store = EventStore(bus, Spool(data_dir / "spool", cfg.spool_max_bytes), metrics,
                                timeout=cfg.store_timeout_s, on_flushed=self._after_flush,
                                on_deposed=self._step_down, fenced=True)
        self.leases = LeaseKeeper(bus, cfg.holder_id, cfg.lease_s, cfg.prefer, accounts=self._venue_accounts,
                                  on_acquired=self._on_acquired, on_lost=self._step_down,
                                  timeout=cfg.store_timeout_s)
        # Told (with the account) whenever this instance's lease on an account may have changed; they read
        # leases.holds(key) for the truth. The command endpoint keeps a subscription per held account.
        self.lease_listeners: list[Callable[[Key], None]] = []
        self.rebuilt_to = 0  # every account's events up to this TD_EVT sequence are in the fold since start
        self.stepped_down: set[Key] = set()  # accounts held and lost since start: their fold is stale
        self.projection = OrdersProjection(bus, metrics)
        self.projection.events_settled = self.store.settled
        self.projection.writable = self._projects
        self.instruments_kv = InstrumentsProjection(bus, metrics)
        self.writer = AccountWriter(self.store, self.projection, metrics, cfg.inflight_grace_s)
        self.closed = ClosedOrders(bus, cfg, metrics)  # closed orders leave memory; looked up by id, read back
        self.writer.recall = lambda acct, report: self.closed.recall_for_report(self.ledger, acct, report)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.rebuild_seconds = 0.0
        self._commands = metrics.counter("td_commands_total", "commands handled, by kind and result",
                                         ("kind", "result"))
        self.rebuild_skipped = metrics.counter("td_rebuild_skipped_total",
                                        "TD_EVT messages the rebuild passed over: undecodable or not td_exec's")

    # --- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        info = await self.bus.js.stream_info("TD_EVT")
        self.store.serialize = (info.config.num_replicas or 1) > 1  # see td_exec.fence: R3 refuses a second in flight
        if not self.store.spool.empty:  # events of a previous run that never reached JetStream
            await self.store.flush()
        started = time.perf_counter()
        self.rebuilt_to = await last_seq(self.bus.js, "td.evt.>")  # a lower bound: the rebuild goes at least this far
        self.ledger = await snapshot.restore(self)  # a snapshot and the events after it, or all of TD_EVT
        self.rebuild_seconds = time.perf_counter() - started
        log.info("rebuilt from TD_EVT", events=self.ledger.events, seconds=round(self.rebuild_seconds, 3),
                 orders=sum(len(b) for b in self.ledger.accounts.values()), anomalies=dict(self.ledger.outcomes))
        for venue, account in self.ledger.accounts:  # projected once held (a standby's fold may be stale)
            if venue in self.links:
                self.account(venue, account).status = AccountStatus.STANDBY
        await self.projection.start()
        self.store.start()
        self.spawn(inflight_loop(self.writer, self.cfg, self.accounts), name="td_exec.inflight")
        self.spawn(snapshot.run(self, self.ledger.events), name="td_exec.snapshots")
        self.spawn(self.closed.run(self.ledger, self.accounts), name="td_exec.closed")
        for link in self.links.values():
            await link.venue.start(_Sink(self, link))
        self.leases.start()

    async def stop(self) -> None:
        for link in self.links.values():
            try:
                await link.venue.stop()
            except Exception:
                log.exception("venue stop failed", venue=link.venue.name)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.projection.stop()
        await self.store.stop()
        self.store.spool.close()
        await self.leases.stop(release=True)  # after the last append: a standby takes over at once

    def crash(self) -> None:
        """Tests only: stop every task of this engine at once, with no cleanup (like a killed process)."""
        self.leases.abort()
        for task in list(self._tasks):
            task.cancel()
        self.projection.abort()
        self.store.abort()
        self.store.spool.close()

    def store_events_total(self) -> float:
        return self.writer.events_total()

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def account(self, venue: str, name: str) -> Account:
        key = (venue, name)
        acct = self.accounts.get(key)
        if acct is None:
            acct = Account(self.links[venue].venue, name, self.ledger.book(venue, name))
            self.accounts[key] = acct
            self.spawn(self.writer.drain(acct), name=f"td_exec.reports.{venue}.{name}")
        return acct

    # --- venue side ----------------------------------------------------------------------------------

    def enqueue(self, link: VenueLink, report: Report) -> None:
        self.account(link.venue.name, report.account).queue.put_nowait(report)

    def on_connection(self, link: VenueLink, connected: bool, reason: str) -> None:
        link.connected, link.reason = connected, reason
        link.generation += 1
        if link.reconcile_task is not None:
            link.reconcile_task.cancel()
            link.reconcile_task = None
        log.info("venue connection", venue=link.venue.name, connected=connected, reason=reason)
        names = link.venue.accounts() if connected else [
            n for (v, n) in self.accounts if v == link.venue.name]
        for name in names:
            acct = self.account(link.venue.name, name)
            acct.status = (AccountStatus.STANDBY if not acct.held else
                           AccountStatus.RECONCILING if connected else AccountStatus.DISCONNECTED)
        if connected:
            self.leases.poke()
            accounts = [acct for name in names if (acct := self.account(link.venue.name, name)).held]
            link.reconcile_task = self.spawn(reconcile_venue(self.writer, self.cfg, link, accounts, link.generation),
                                             name=f"td_exec.reconcile.{link.venue.name}")
            self.spawn(self._publish_instruments(link), name=f"td_exec.instruments.{link.venue.name}")

    async def _publish_instruments(self, link: VenueLink) -> None:
        """The venue's instrument list into KV ``instruments`` (see ``td_exec.instruments_kv``)."""
        try:
            infos = await asyncio.wait_for(link.venue.instruments(), self.cfg.query_timeout_s)
        except (TimeoutError, VenueUnknown, VenueRejected) as exc:
            log.warning("instrument list unavailable for KV instruments", venue=link.venue.name,
                        error=str(exc) or type(exc).__name__)
            return
        written = await self.instruments_kv.publish(infos)
        log.info("KV instruments written", venue=link.venue.name, instruments=len(infos), changed=written)

    async def barrier(self, acct: Account, timeout: float = 2.0) -> None:
        """Wait until the reports queued before this call are applied (and their events stored)."""
        await self.writer.barrier(acct, timeout)

    async def _after_flush(self) -> None:
        for acct in self.accounts.values():
            if acct.needs_reconcile and acct.held and self.links[acct.venue.name].connected:
                acct.needs_reconcile = False
                self.spawn(reconcile_account(self.writer, self.cfg, acct, strict=False),
                           name=f"td_exec.rereconcile.{acct.name}")

    # --- leases: which accounts this instance serves (docs/td_exec.md "Several instances") --------------

    def _venue_accounts(self) -> list[Key]:
        """The accounts this instance could serve now: those of its connected venues."""
        return [(name, account) for name, link in self.links.items() if link.connected
                for account in link.venue.accounts()]

    def holds(self, venue: str, account: str) -> bool:
        acct = self.accounts.get((venue, account))
        return acct is not None and acct.held

    def _projects(self, venue: str, account: str) -> bool:
        """Whether this instance writes the account's views to KV orders: it holds it, or it is no account
        of a venue it serves (a denial naming an unknown account; nobody holds such an account)."""
        acct = self.accounts.get((venue, account))
        return acct is None or acct.held

    def holds_all(self) -> bool:
        """Whether every account in the fold is this instance's: only then is a snapshot of it true for all."""
        return all(acct.held for acct in self.accounts.values())

    async def _fold_current(self, venue: str, account: str) -> bool:
        """Whether this instance's fold of an account it does not hold is still complete (nobody holds it,
        nothing was appended since the start's rebuild): then a query is answered from it, as before leases."""
        key = (venue, account)
        if key in self.stepped_down or self.leases.holder_of(key) not in (None, self.cfg.holder_id):
            return False
        try:
            return await last_seq(self.bus.js, td_evt_account(venue, account)) <= self.rebuilt_to
        except Exception:  # JetStream unreachable: cannot tell, so not current
            return False

    def _lease_changed(self, key: Key) -> None:
        for listener in self.lease_listeners:
            listener(key)

    def _on_acquired(self, key: Key, epoch: int) -> None:
        self._lease_changed(key)
        self.spawn(self._take_over(key, epoch), name=f"td_exec.takeover.{key[0]}.{key[1]}")

    async def _take_over(self, key: Key, epoch: int) -> None:
        """Fence the account, bring its fold up to the fence, reconcile with the venue, then serve it."""
        venue, name = key
        link = self.links.get(venue)
        if link is None:
            return
        acct = self.account(venue, name)
        acct.status = AccountStatus.RECONCILING  # commands meanwhile: "reconciling", never silence
        started = time.perf_counter()
        try:
            fence = await append_fence(self.bus.js, venue, name, self.cfg.holder_id, epoch, self.cfg.store_timeout_s)
            # Nobody else can append after our fence: the account's last event now is final for the fold.
            newest = await last_seq(self.bus.js, td_evt_account(venue, name))
            if newest > self.rebuilt_to or key in self.stepped_down:
                await self._refold(acct, newest)
        except Exception as exc:
            log.error("takeover failed; the lease lapses and is taken again", venue=venue, account=name,
                      error=f"{type(exc).__name__}: {exc}")
            self.leases.release(key)
            self._lease_changed(key)
            acct.status = AccountStatus.STANDBY
            return
        if not self.leases.holds(key):  # lost while fencing: the newer holder's fence follows ours
            acct.status = AccountStatus.STANDBY
            return
        self.store.fences[key] = fence
        acct.held = True
        self.projection.touch_all(acct.orders.values())
        log.info("account taken over", venue=venue, account=name, epoch=epoch, fence_seq=fence.seq,
                 orders=len(acct.orders), seconds=round(time.perf_counter() - started, 3))
        if not link.connected:
            acct.status = AccountStatus.DISCONNECTED
            return
        self.spawn(reconcile_venue(self.writer, self.cfg, link, [acct], link.generation),
                   name=f"td_exec.reconcile.{venue}.{name}")

    async def _refold(self, acct: Account, newest: int) -> None:
        """The account's orders folded anew from TD_EVT (another writer appended since this fold was made)."""
        venue, name = acct.venue.name, acct.name
        fresh = await rebuild(self.bus, self.cfg.query_timeout_s, self.rebuild_skipped,
                              subject=td_evt_account(venue, name),
                              every=(snapshot.REPLAY_SWEEP_EVERY, self.closed.sweep_replay))
        self.closed.sweep_replay(fresh)  # what the start's fold retires too (td_exec.closed)
        book = fresh.book(venue, name)
        async with acct.lock:
            self.ledger.accounts[(venue, name)] = book
            acct.orders = book
            acct.unconfirmed.clear()
        log.info("account folded anew", venue=venue, account=name, orders=len(book), up_to_seq=newest)

    def _step_down(self, key: Key, reason: str) -> None:
        """The account is someone else's now (lease lost or fenced out): stop writing and serving it at once."""
        self.leases.release(key)
        self._lease_changed(key)
        self.stepped_down.add(key)
        if key in self.store.fences:
            self.store.deposed(key, reason)  # calls back here; the fence is gone by then
        acct = self.accounts.get(key)
        if acct is not None and (acct.held or acct.status is not AccountStatus.STANDBY):
            acct.held = False
            acct.status = AccountStatus.STANDBY
            log.warning("standing by for the account", venue=key[0], account=key[1], reason=reason)

    # --- commands ------------------------------------------------------------------------------------

    async def handle(self, cmd: TradeCommand) -> BusMessage:
        kind = type(cmd).__name__
        reply = await self._dispatch(cmd)
        self._commands.inc(1.0, kind, "denied" if isinstance(reply, CommandDenied) else "ok")
        return reply

    async def _dispatch(self, cmd: TradeCommand) -> BusMessage:
        link = self.links.get(cmd.venue)
        if link is None:
            return _denied("unknown_venue", f"venue {cmd.venue!r} is not served by this td_exec")
        query = isinstance(cmd, QueryOrders | QueryTrades)
        if (cmd.account and not self.holds(cmd.venue, cmd.account) and cmd.account in link.venue.accounts()
                and not (query and await self._fold_current(cmd.venue, cmd.account))):
            if not link.connected:
                return _denied("venue_disconnected", f"{link.venue.name} is not connected ({link.reason})")
            # Another instance holds it, or a takeover is under way: its fold here may be stale.
            return _denied("reconciling", f"{cmd.venue}:{cmd.account} is not served by this instance right now; retry",
                           getattr(cmd, "client_order_id", None))
        if isinstance(cmd, SubmitOrder):
            return await self.submit(link, cmd)
        denial = self._permission(cmd.user, cmd.venue, cmd.account)
        if denial is not None:
            return denial
        if getattr(cmd, "client_order_id", None):  # the order may be retired (td_exec.closed): read it back
            await self.closed.recall(self.ledger, cmd.venue, cmd.account, cmd.client_order_id)  # type: ignore[union-attr]
        if isinstance(cmd, CancelOrder):
            return await self.cancel(link, cmd)
        if isinstance(cmd, ModifyOrder):
            return await self.modify(link, cmd)
        if isinstance(cmd, QueryOrders):
            return queries.query_orders(self.ledger, self.accounts, cmd)
        if isinstance(cmd, QueryTrades):
            return queries.query_trades(self.ledger, cmd)
        if isinstance(cmd, QueryVenue):
            return queries.venue_info(link)
        return await queries.venue_query(link, cmd, self.cfg)

    def _permission(self, user: str, venue: str, account: str) -> CommandDenied | None:
        if not user:
            return None  # a bus client, trusted by its NATS credentials
        found = self.users.get(user) if self.users is not None else None
        if found is None or (account and not found.may_use(venue, account)):
            return _denied("not_allowed", f"user {user!r} may not trade {venue}:{account}")
        return None

    def _gate(self, link: VenueLink, account: str) -> CommandDenied | None:
        """Why the account cannot take an order command right now, if it cannot."""
        if not link.connected:
            return _denied("venue_disconnected", f"{link.venue.name} is not connected ({link.reason})")
        if account not in link.venue.accounts():
            return _denied("unknown_account", f"{link.venue.name} has no account {account!r}")
        status = self.account(link.venue.name, account).status
        if status is AccountStatus.RECONCILING:
            return _denied("reconciling", f"{link.venue.name}:{account} is being reconciled with the venue; retry")
        if status is AccountStatus.STANDBY:
            return _denied("reconciling",
                           f"{link.venue.name}:{account} is being taken over by a td_exec instance; retry")
        if status is not AccountStatus.READY:
            return _denied("venue_disconnected", f"{link.venue.name}:{account} is {status}")
        return None

    async def _deny_submit(self, cmd: SubmitOrder, coid: str, code: str, reason: str) -> CommandDenied:
        """A refused submit is an ``OrderDenied`` event on the subject its order would have had — but only
        when that subject belongs to no order: a denial never writes onto an existing order's subject
        (a duplicate id, someone else's order). Those denials, and every ``not_allowed`` one (a caller
        with no right to the account writes nothing into it), are reply-only."""
        existing = queries.orders_of(self.ledger, cmd.venue, cmd.account).get(coid)
        if code == "not_allowed" or existing is not None:
            log.info("order denied (reply only)", venue=cmd.venue, account=cmd.account, client_order_id=coid, code=code)
            return _denied(code, reason, coid)
        now = now_ns()
        event = OrderDenied(event_id=order_event_id(cmd.venue, cmd.account, coid, "OrderDenied", code),
                            venue=cmd.venue, account=cmd.account, client_order_id=coid, ts_event=now, ts_init=now,
                            code=code, reason=reason)
        try:
            await self.store.append(td_evt(cmd.venue, cmd.account, coid), event, fenced=code != "unknown_account")
            self.writer.events.inc(1.0, "OrderDenied")
        except SpoolFull:
            log.error("denial not stored: spool full", client_order_id=coid, code=code)
        except Deposed:  # the account changed hands meanwhile: the denial is answered, not stored
            log.info("denial not stored: the account is held by another instance", client_order_id=coid, code=code)
        log.info("order denied", venue=cmd.venue, account=cmd.account, client_order_id=coid, code=code)
        return _denied(code, reason, coid)

    async def submit(self, link: VenueLink, cmd: SubmitOrder) -> BusMessage:
        coid = cmd.client_order_id if cmd.client_order_id is not None else new_client_order_id()
        bad = checks.check_client_order_id(coid) if cmd.account else checks.Denial("unknown_account", "no account")
        if bad is None and coid.startswith(EXTERNAL_PREFIX):  # the names of orders placed outside tradebus
            bad = checks.Denial("bad_client_order_id", f"client_order_id may not start with {EXTERNAL_PREFIX!r}")
        if bad is not None:
            return _denied(bad.code, bad.reason, cmd.client_order_id)
        await self.closed.recall(self.ledger, cmd.venue, cmd.account, coid)  # a retired order: read back
        denial = self._permission(cmd.user, cmd.venue, cmd.account) or self._gate(link, cmd.account)
        if denial is not None:
            return await self._deny_submit(cmd, coid, denial.code, denial.reason)
        acct = self.account(cmd.venue, cmd.account)
        # the venue is asked before the lock is taken: a slow lookup must not hold up the account's reports
        info, known = await self._instrument(link, cmd.exchange, cmd.symbol)
        async with self._submit_lock(acct, coid):
            existing = acct.orders.get(coid)
            if existing is not None:
                if not _same_submit(existing, cmd):
                    return await self._deny_submit(
                        cmd, coid, "duplicate_mismatch",
                        f"client_order_id {coid} is already used by another order of this account")
                return CommandAccepted(order=existing.view(), duplicate=True)
            max_qty = self.cfg.max_order_qty
            check = (checks.check_submit(cmd, info, link.venue.capabilities, max_qty) if known
                     else checks.check_submit_without_facts(cmd, link.venue.capabilities, max_qty))
            if check is not None:
                return await self._deny_submit(cmd, coid, check.code, check.reason)
            grid = info if known else checks.exchange_grid(cmd.venue, cmd.exchange, cmd.symbol)
            if grid is not None and cmd.order_type is OrderType.LIMIT and cmd.price is not None:
                cmd = msgspec.structs.replace(cmd, price=checks.snap_price(grid, cmd.price))
            now = now_ns()
            event = OrderSubmitted(
                event_id=order_event_id(cmd.venue, cmd.account, coid, "OrderSubmitted"), venue=cmd.venue,
                account=cmd.account, client_order_id=coid, ts_event=now, ts_init=now, exchange=cmd.exchange,
                symbol=cmd.symbol, side=cmd.side, order_type=cmd.order_type, qty=cmd.qty, price=cmd.price,
                offset=cmd.offset, time_in_force=cmd.time_in_force, remark=cmd.remark, user=cmd.user)
            try:
                stored = await self.store.publish_required(td_evt(cmd.venue, cmd.account, coid), event)
            except StoreUnavailable as exc:
                return self._not_stored(coid, exc)
            order = new_order(event)
            acct.orders[coid] = order
            acct.unconfirmed[coid] = stored
        try:
            await stored  # outside the lock: the account's next events are prepared meanwhile
        except StoreUnavailable as exc:
            acct.unconfirmed.pop(coid, None)
            if acct.orders.get(coid) is order:
                del acct.orders[coid]
            return self._not_stored(coid, exc)
        acct.unconfirmed.pop(coid, None)
        self.writer.events.inc(1.0, "OrderSubmitted")
        self.projection.touch(order)
        await self._send(link, acct, order)
        await self.barrier(acct)
        return CommandAccepted(order=order.view())

    @contextlib.asynccontextmanager
    async def _submit_lock(self, acct: Account, coid: str) -> AsyncIterator[None]:
        """The account's writer lock, taken once no earlier submit of ``coid`` still awaits its ack."""
        while True:
            await acct.lock.acquire()
            stored = acct.unconfirmed.get(coid)
            if stored is None:
                break
            acct.lock.release()
            await asyncio.wait([stored])  # then: a duplicate if it was stored, a fresh submit if not
        try:
            yield
        finally:
            acct.lock.release()

    @staticmethod
    def _not_stored(coid: str, exc: StoreUnavailable) -> CommandDenied:
        log.error("OrderSubmitted not stored; nothing sent", client_order_id=coid, error=str(exc))
        return _denied("store_unavailable", f"the event store did not acknowledge the order: {exc}", coid)

    async def _send(self, link: VenueLink, acct: Account, order: Order) -> None:
        venue_order = VenueOrder(account=order.account, client_order_id=order.client_order_id,
                                 exchange=order.exchange, symbol=order.symbol, side=order.side,
                                 order_type=order.order_type, qty=order.qty, price=order.price, offset=order.offset,
                                 time_in_force=order.time_in_force)
        try:
            # asyncio.timeout runs the call in this task: wait_for would start a task for it, and the
            # order would reach the venue one loop turn later (most adapters send without awaiting)
            async with asyncio.timeout(self.cfg.submit_timeout_s):
                venue_id = await link.venue.submit(venue_order)
        except VenueRejected as exc:
            await self._settle(acct, order, OrderRejected, code=exc.code, reason=exc.reason)
        except VenueUnknown as exc:
            await self._settle(acct, order, OrderStatusUnknown, reason=exc.reason or "unknown")
        except TimeoutError:
            await self._settle(acct, order, OrderStatusUnknown,
                               reason=f"no venue answer within {self.cfg.submit_timeout_s:g}s")
        except Exception as exc:  # an adapter bug: the order may or may not be at the venue
            log.exception("venue submit failed unexpectedly; order left unknown", client_order_id=order.client_order_id)
            await self._settle(acct, order, OrderStatusUnknown, reason=f"adapter error: {type(exc).__name__}")
        else:
            if venue_id:
                await self._settle(acct, order, OrderAccepted, venue_order_id=venue_id)

    async def _settle(self, acct: Account, order: Order, cls: type[OrderEventBase], **fields: Any) -> None:
        """Record the submit call's own outcome, unless a report already moved the order on."""
        async with acct.lock:
            if order.status not in IN_FLIGHT_STATUSES:
                return
            if cls is OrderStatusUnknown and order.status is OrderStatus.UNKNOWN:
                return
            try:
                await self.writer.emit(order, make_event(cls, order, **fields))
            except SpoolFull:
                acct.needs_reconcile = True

    async def _instrument(self, link: VenueLink, exchange: str, symbol: str) -> tuple[InstrumentInfo | None, bool]:
        """``(facts, known)``. ``known`` is False when the venue could not give the facts (a call its
        server does not offer, a timeout): the order then goes to the venue, which decides. ``None``
        with ``known`` is the venue saying there is no such instrument."""
        try:
            async with asyncio.timeout(self.cfg.query_timeout_s):  # in this task, as the venue call in _send
                info = await link.venue.instrument(exchange, symbol)
        except (TimeoutError, VenueUnknown, VenueRejected) as exc:
            log.warning("instrument facts unavailable; the venue will decide", venue=link.venue.name,
                        exchange=exchange, symbol=symbol, error=str(exc) or type(exc).__name__)
            return None, False
        if info is not None and self.instruments_kv.is_new(info):
            self.spawn(self.instruments_kv.publish([info]), name="td_exec.instruments.lookup")
        return info, True

    def _open_order(self, link: VenueLink, account: str, coid: str) -> tuple[Account, Order] | CommandDenied:
        denial = self._gate(link, account)
        if denial is not None:
            return denial
        acct = self.account(link.venue.name, account)
        order = acct.orders.get(coid) if coid not in acct.unconfirmed else None
        if order is None:
            return _denied("unknown_order", f"no order {coid!r} in {link.venue.name}:{account}", coid)
        if order.status not in OPEN_STATUSES:
            return _denied("order_closed", f"order {coid} is {order.status}", coid)
        return acct, order

    @staticmethod
    def _ref(order: Order) -> OrderRef:
        return OrderRef(account=order.account, client_order_id=order.client_order_id,
                        venue_order_id=order.venue_order_id, exchange=order.exchange, symbol=order.symbol)

    async def cancel(self, link: VenueLink, cmd: CancelOrder) -> BusMessage:
        found = self._open_order(link, cmd.account, cmd.client_order_id)
        if isinstance(found, CommandDenied):
            return found
        acct, order = found
        try:
            await asyncio.wait_for(link.venue.cancel(self._ref(order)), self.cfg.cancel_timeout_s)
        except VenueRejected as exc:
            report = CancelRejectReport(account=order.account, client_order_id=order.client_order_id,
                                        venue_order_id=order.venue_order_id, code=exc.code, reason=exc.reason,
                                        ts_event=now_ns())
            async with acct.lock:
                await self.writer.process_report(acct, report)
            return _denied("cancel_rejected", f"{exc.code}: {exc.reason}", order.client_order_id)
        except (VenueUnknown, TimeoutError) as exc:
            # The cancel may or may not have reached the venue: the order's events will tell.
            log.warning("cancel outcome unknown", client_order_id=order.client_order_id, error=str(exc))
        await self.barrier(acct)
        return CommandAccepted(order=order.view())

    async def modify(self, link: VenueLink, cmd: ModifyOrder) -> BusMessage:
        if not link.venue.capabilities.modify:
            return _denied("modify_unsupported", f"{link.venue.name} orders cannot be modified; cancel and resubmit",
                           cmd.client_order_id)
        found = self._open_order(link, cmd.account, cmd.client_order_id)
        if isinstance(found, CommandDenied):
            return found
        acct, order = found
        info, known = await self._instrument(link, order.exchange, order.symbol)
        max_qty = self.cfg.max_order_qty
        check = (checks.check_modify(info, cmd.qty, cmd.price, order.filled_qty, max_qty) if known
                 else checks.check_numbers(cmd.qty, cmd.price, max_qty))
        if check is not None:
            return _denied(check.code, check.reason, order.client_order_id)
        grid = info if known else checks.exchange_grid(order.venue, order.exchange, order.symbol)
        if grid is not None and cmd.price is not None:
            if not checks.on_tick(grid, cmd.price):
                return _denied("price_off_tick", f"price {cmd.price} is off the tick of {order.symbol}",
                               order.client_order_id)
            cmd = msgspec.structs.replace(cmd, price=checks.snap_price(grid, cmd.price))
        try:
            await asyncio.wait_for(link.venue.modify(self._ref(order), cmd.qty, cmd.price), self.cfg.cancel_timeout_s)
        except VenueUnsupported:
            return _denied("modify_unsupported", f"{link.venue.name} refuses modifications", order.client_order_id)
        except VenueRejected as exc:
            return _denied("modify_rejected", f"{exc.code}: {exc.reason}", order.client_order_id)
        except (VenueUnknown, TimeoutError) as exc:
            log.warning("modify outcome unknown", client_order_id=order.client_order_id, error=str(exc))
            await self.barrier(acct)
            return CommandAccepted(order=order.view())
        await self.barrier(acct)
        await self._confirm_modify(acct, order, cmd)
        return CommandAccepted(order=order.view())

    async def _confirm_modify(self, acct: Account, order: Order, cmd: ModifyOrder) -> None:
        """The venue said yes: record the new terms unless its push already did."""
        async with acct.lock:
            qty = cmd.qty if cmd.qty is not None else order.qty
            price = cmd.price if cmd.price is not None else order.price
            same_price = price is None or (order.price is not None and abs(price - order.price) < 1e-9)
            if order.status not in OPEN_STATUSES or (qty == order.qty and same_price):
                return
            try:
                await self.writer.emit(order, make_event(OrderUpdated, order, qty=qty, price=price))
            except SpoolFull:
                acct.needs_reconcile = True
