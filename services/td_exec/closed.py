"""Closed orders leave td_exec's fold, so memory, snapshots and restarts do not grow with history.

An order closed (filled, cancelled, rejected, expired, denied) whose last event is older than
``td.keep_closed_s`` is *retired*: dropped from its account's book, its TD_EVT subject added to a Bloom
filter of ``td.retired_filter_mib`` MiB. Every place that looks an order up by id and finds nothing
asks :meth:`ClosedOrders.recall` (a submit's duplicate check, cancel/modify, ``QueryOrders`` and
``QueryTrades`` with an id, a venue report, reconciliation's external orders): a filter miss is a
certain "never seen"; a hit reads the order back from TD_EVT by its subject and folds it again, so
the answer is exact and a false positive costs one read-back that finds nothing. The recalled order
goes back into its book (and is retired again by a later sweep).

What a retired order no longer does: it is not listed by ``QueryOrders``/``QueryTrades`` without an
id (those list the orders held); its view stays in KV ``orders`` (written when it closed).

The filter travels in the snapshot (``td_exec.snapshot``), so a restart knows every order retired
before the snapshot; an event of a retired order in the tail after it is recalled the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

import msgspec
from nats.js.errors import NotFoundError

from td_exec.accounts import Account, Report
from td_exec.rebuild import EVENT_STREAM, RELAYED_COPY_HEADER
from td_exec.venue import CancelRejectReport
from tradebus.bloom import BloomFilter
from tradebus.bus import Bus
from tradebus.config_sections.td import TdConfig
from tradebus.logs import get_logger
from tradebus.orders.order import Ledger, Order, fold
from tradebus.orders.state import OPEN_STATUSES
from tradebus.runtime.metrics import Registry
from tradebus.schemas import ORDER_EVENT_DECODER
from tradebus.subjects import td_evt

log = get_logger("td_exec.closed")

SLICE = 5000  # orders looked at between two yields to the event loop while sweeping


def filter_bytes(cfg: TdConfig) -> int:
    return max(1, int(cfg.retired_filter_mib * (1 << 20)))


async def read_back(bus: Bus, subject: str, timeout: float) -> Order | None:
    """The order folded from every TD_EVT message on ``subject`` (None: there is none)."""
    ledger = Ledger()
    seq = 1
    async with asyncio.timeout(timeout):
        while True:
            try:  # the subject's first message at or after seq
                msg = await bus.js.get_msg(EVENT_STREAM, seq=seq, subject=subject, next=True)
            except NotFoundError:
                break
            seq = (msg.seq or seq) + 1
            if msg.headers and RELAYED_COPY_HEADER in msg.headers:
                continue  # not one of td_exec's appends (see td_exec.rebuild)
            try:
                fold(ledger, ORDER_EVENT_DECODER.decode(msg.data or b""))
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue  # the rebuild skips (and logs) these too
    return next((o for book in ledger.accounts.values() for o in book.values()), None)


class ClosedOrders:
    """The retired orders of one td_exec: the filter, the sweep and the read-back."""

    def __init__(self, bus: Bus, cfg: TdConfig, metrics: Registry) -> None:
        self.bus = bus
        self.cfg = cfg
        self.filter = BloomFilter(filter_bytes(cfg))
        self.retired = metrics.counter("td_orders_retired_total", "closed orders dropped from memory")
        self.recalled = metrics.counter("td_orders_recalled_total", "retired orders read back from TD_EVT")
        self.false_hits = metrics.counter(
            "td_retired_filter_false_hits_total", "retired-order filter hits that TD_EVT did not confirm"
        )

    def may_hold(self, venue: str, account: str, client_order_id: str) -> bool:
        return td_evt(venue, account, client_order_id) in self.filter

    async def recall(self, ledger: Ledger, venue: str, account: str, client_order_id: str) -> Order | None:
        """The order ``client_order_id`` of the account: held, or retired and read back into its book."""
        held = ledger.get(venue, account, client_order_id)
        if held is not None or not self.may_hold(venue, account, client_order_id):
            return held
        order = await read_back(self.bus, td_evt(venue, account, client_order_id), self.cfg.query_timeout_s)
        if order is None:
            self.false_hits.inc()
            return ledger.get(venue, account, client_order_id)
        self.recalled.inc()
        log.info(
            "retired order read back",
            venue=venue,
            account=account,
            client_order_id=client_order_id,
            status=order.status.value,
        )
        return ledger.book(venue, account).setdefault(client_order_id, order)  # one may have come back meanwhile

    async def recall_for_report(self, ledger: Ledger, acct: Account, report: Report) -> Order | None:
        """The retired order a venue report names (by client order id, or as an external order)."""
        ids = [report.client_order_id] if report.client_order_id else []
        if report.venue_order_id and not isinstance(report, CancelRejectReport):
            ids.append(acct.venue.external_client_order_id(report.venue_order_id))
        for coid in ids:
            order = await self.recall(ledger, acct.venue.name, acct.name, coid)
            if order is not None:
                return order
        return None

    def retire(
        self,
        ledger: Ledger,
        key: tuple[str, str],
        orders: list[tuple[str, Order]],
        cutoff: int,
        unconfirmed: Mapping[str, object],
    ) -> int:
        """Retire those of ``orders`` (of book ``key``) closed with a last event before ``cutoff``."""
        book = ledger.accounts[key]
        retired = 0
        for coid, order in orders:
            if (
                order.status in OPEN_STATUSES
                or order.ts_last > cutoff
                or book.get(coid) is not order
                or coid in unconfirmed
            ):
                continue
            self.filter.add(td_evt(order.venue, order.account, coid))
            del book[coid]
            retired += 1
        return retired

    def sweep_replay(self, ledger: Ledger) -> None:
        """A sweep in the middle of a replay (no writer runs yet): the replay's memory stays bounded too."""
        cutoff = time.time_ns() - int(self.cfg.keep_closed_s * 1e9)
        retired = sum(
            self.retire(ledger, key, list(book.items()), cutoff, {}) for key, book in list(ledger.accounts.items())
        )
        self.retired.inc(retired)

    async def sweep(self, ledger: Ledger, accounts: Mapping[tuple[str, str], Account], now_ns: int) -> int:
        """Retire every closed order whose last event is older than ``keep_closed_s``; returns how many.

        An account whose writer holds its lock is left for the next sweep: a command or report may be
        about to apply an event to one of its orders.
        """
        cutoff = now_ns - int(self.cfg.keep_closed_s * 1e9)
        retired = 0
        for key, book in list(ledger.accounts.items()):
            orders = list(book.items())
            for start in range(0, len(orders), SLICE):
                acct = accounts.get(key)
                if acct is not None and acct.lock.locked():
                    break
                retired += self.retire(
                    ledger, key, orders[start : start + SLICE], cutoff, acct.unconfirmed if acct is not None else {}
                )
                await asyncio.sleep(0)
        if retired:
            self.retired.inc(retired)
            log.info(
                "closed orders retired",
                orders=retired,
                held=sum(len(b) for b in ledger.accounts.values()),
                filter_keys=self.filter.count,
                filter_fp_rate=f"{self.filter.false_positive_rate():.2g}",
            )
        return retired

    async def run(self, ledger: Ledger, accounts: Mapping[tuple[str, str], Account]) -> None:
        """Sweep every ``td.closed_sweep_s`` seconds."""
        while True:
            await asyncio.sleep(self.cfg.closed_sweep_s)
            try:
                await self.sweep(ledger, accounts, time.time_ns())
            except Exception:
                log.exception("sweep of closed orders failed; retrying at the next one")
