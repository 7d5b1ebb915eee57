"""The day's journal: every change to the front's state, appended as one line before anyone hears of it.

Rewriting the whole day as one file before each answer cost more the longer the day ran (0.7 ms
with no orders, 29 ms at 2 000). Now each batch of changes (what handling one request or one market
step did: orders inserted or changed, trades, private-flow messages, confirmations, id counters, the
market's touched accounts, orders and instruments) is one JSON line in ``ctp_sim_journal.jsonl``,
written with one ``write`` before the frames it produced are sent. The snapshot (``state.py``) is
rewritten at start, at close and every ``SNAPSHOT_EVERY`` records, and the journal emptied after it.
Start-up is the snapshot plus the journal records numbered after the snapshot's ``journal_n``.

Durability: a record is in the kernel's page cache before its frames leave, so a killed front (the
restart a simulator sees) loses nothing it acknowledged. Records are not fsynced by default (that
costs milliseconds per order on a shared disk and only guards against losing the machine);
``--journal-fsync`` syncs each one. A torn last line (a write cut short) held nothing anyone heard
of: it is skipped with a log line. A bad line before the last is damage, and the front refuses to
start rather than forget orders it confirmed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from ctp_sim.state import DayState, FlowItem, OrderRec
from tradebus.log_escape import escape_text
from tradebus.sim import SimMarket, SimOrder, SimTrade
from tradebus.sim.changes import MarketChanges, Marks, place

log = logging.getLogger(__name__)
V = TypeVar("V")

JOURNAL_FILE = "ctp_sim_journal.jsonl"
SNAPSHOT_EVERY = 5_000  # records between snapshots: bounds start-up replay, keeps compaction rare


class JournalCorrupt(Exception):
    """A journal line other than the last does not decode: the file is damaged, not torn."""


class DayChanges(msgspec.Struct, omit_defaults=True):
    orders: list[OrderRec] = msgspec.field(default_factory=list)  # new or changed, by broker_order_seq
    trades_from: int = 0
    trades: list[dict[str, Any]] = msgspec.field(default_factory=list)
    flows: dict[str, list[FlowItem]] = msgspec.field(default_factory=dict)  # items placed by their seq
    confirmed: dict[str, str] = msgspec.field(default_factory=dict)
    counters: dict[str, int] = msgspec.field(default_factory=dict)


class Record(msgspec.Struct, omit_defaults=True):
    n: int
    day: DayChanges | None = None
    market: MarketChanges | None = None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Record)


def path_of(state_dir: Path) -> Path:
    return state_dir / JOURNAL_FILE


# --- replay --------------------------------------------------------------------------------------


def replay(state_dir: Path, day: DayState, market: SimMarket) -> int:
    """Apply the journal's records after ``day.journal_n`` to the snapshot; the number of the last."""
    path = path_of(state_dir)
    last = day.journal_n
    if not path.exists():
        return last
    lines = path.read_bytes().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        try:
            record = _decoder.decode(line)
        except msgspec.DecodeError as exc:
            if number < len(lines):
                raise JournalCorrupt(f"{path}: line {number} of {len(lines)} does not decode: {exc}") from exc
            log.warning("ctp_sim journal: skipping a torn last record (line %d, %d bytes): %s",
                        number, len(line), escape_text(str(exc)))
            break
        if record.n <= day.journal_n:
            continue  # the snapshot already holds it (written just before the journal was emptied)
        if record.n != last + 1:
            raise JournalCorrupt(f"{path}: line {number} is record {record.n}, expected {last + 1}")
        try:
            _apply(record, day, market)
        except ValueError as exc:  # a list continued past its end: a record is missing
            raise JournalCorrupt(f"{path}: line {number}: {exc}") from exc
        last = record.n
    day.journal_n = last
    return last


def _apply(record: Record, day: DayState, market: SimMarket) -> None:
    if record.day is not None:
        _apply_day(record.day, day)
    if record.market is not None:
        market.apply_changes(record.market)


def _apply_day(ch: DayChanges, day: DayState) -> None:
    index = {rec.broker_order_seq: i for i, rec in enumerate(day.orders)}
    for rec in ch.orders:
        at = index.get(rec.broker_order_seq)
        if at is None:
            index[rec.broker_order_seq] = len(day.orders)
            day.orders.append(rec)
        else:
            day.orders[at] = rec
    place(day.trades, ch.trades_from, ch.trades)
    for investor, items in ch.flows.items():
        flow = day.flows.setdefault(investor, [])
        for item in items:
            place(flow, item.seq - 1, [item])
    day.confirmed.update(ch.confirmed)
    day.counters.update(ch.counters)


# --- writing -------------------------------------------------------------------------------------


class Journal:
    """Appends the changes since the last record; the front calls ``reset`` after each snapshot."""

    def __init__(self, state_dir: Path, day: DayState, market: SimMarket, *, fsync: bool = False) -> None:
        self.path = path_of(state_dir)
        self.day = day
        self.market = market
        self.fsync = fsync
        self.n = day.journal_n
        self.records = 0  # since the last snapshot
        self._fd: int | None = None
        self._accounts: set[str] = set()
        self._sim_orders: set[str] = set()
        self._instruments: set[str] = set()
        self._marks: Marks = {}
        self._seen_trades = 0
        self._seen_flows: dict[str, int] = {}
        self._seen_counters: dict[str, int] = {}
        self._seen_confirmed: dict[str, str] = {}
        market.add_listener(self._on_order, self._on_trade)

    def _on_order(self, order: SimOrder) -> None:
        self._accounts.add(order.account)
        self._sim_orders.add(order.order_id)
        self._instruments.add(f"{order.market}.{order.symbol}")

    def _on_trade(self, trade: SimTrade) -> None:
        self._accounts.add(trade.account)

    def reset(self) -> None:
        """The snapshot now holds everything: empty the file and start the next changes from here."""
        self.close()
        self.day.journal_n = self.n
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        self.records = 0
        self._accounts.clear()
        self._sim_orders.clear()
        self._instruments.clear()
        self._marks = self.market.change_marks()
        self._seen_trades = len(self.day.trades)
        self._seen_flows = {inv: len(flow) for inv, flow in self.day.flows.items()}
        self._seen_counters = dict(self.day.counters)
        self._seen_confirmed = dict(self.day.confirmed)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def record_changes(self, changed_orders: list[OrderRec]) -> None:
        """One record of what the broker and the market changed since the last one."""
        self._append(Record(n=self.n + 1, day=self._day_changes(changed_orders), market=self._market_changes()))

    def record_prices(self) -> None:
        """Every instrument as it is now (the market steps between orders; nobody acknowledged those)."""
        self._instruments.update(f"{i.market}.{i.symbol}" for i in self.market.instruments())
        self._append(Record(n=self.n + 1, market=self._market_changes()))

    def _append(self, record: Record) -> None:
        if self._fd is None:
            raise RuntimeError("the journal is not open: reset() follows each snapshot")
        os.write(self._fd, _encoder.encode(record) + b"\n")
        if self.fsync:
            os.fsync(self._fd)
        self.n = record.n
        self.records += 1

    def _day_changes(self, changed_orders: list[OrderRec]) -> DayChanges:
        day = self.day
        ch = DayChanges(orders=changed_orders, trades_from=self._seen_trades, trades=day.trades[self._seen_trades:])
        self._seen_trades = len(day.trades)
        for investor, flow in day.flows.items():
            seen = self._seen_flows.get(investor, 0)
            if len(flow) > seen:
                ch.flows[investor] = flow[seen:]
                self._seen_flows[investor] = len(flow)
        ch.counters = _changed(day.counters, self._seen_counters)
        ch.confirmed = _changed(day.confirmed, self._seen_confirmed)
        return ch

    def _market_changes(self) -> MarketChanges:
        ch = self.market.changes(list(self._accounts), list(self._sim_orders),
                                 list(self._instruments), self._marks)
        self._accounts.clear()
        self._sim_orders.clear()
        self._instruments.clear()
        return ch


def _changed(now: dict[str, V], seen: dict[str, V]) -> dict[str, V]:
    """Entries of ``now`` that differ from ``seen``; ``seen`` is brought up to date."""
    out = {k: v for k, v in now.items() if seen.get(k) != v}
    seen.update(out)
    return out
