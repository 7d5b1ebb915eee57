"""The adapter's own memory of the trading day, on local disk: which OrderRef carries which order.

CTP identifies an order by ``FrontID+SessionID+OrderRef`` (and, once the exchange has it, by
``ExchangeID+OrderSysID``); our ``client_order_id`` does not travel with it. So before an order is
sent, the ref it will use is appended here, and every OrderSysID learnt from an RtnOrder too. After a
td_exec restart, the RESTART replay and the queries map back through this file.

It also remembers what was already reported (how far each order got, which trades were seen), so
the day's replay after every re-login does not hand the engine the whole day again. Queries are
never filtered by it: reconciliation always sees the venue's full view.

One JSON object per line, appended with a flush per record (a killed process loses nothing the OS
received; ``fsync`` is not used: a machine crash can lose the last lines, and reconciliation then
recovers the state from the front). Lines of other trading days are dropped when a login reports a
new trading day: OrderRefs, SessionIDs and OrderSysIDs are only unique within a day.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import msgspec

from tradebus.schemas.orders import OrderStatus

log = logging.getLogger(__name__)

# How far an order has got: a report that does not move an order forward is a replay.
STATUS_RANK: dict[OrderStatus, int] = {
    OrderStatus.SUBMITTED: 1,
    OrderStatus.ACCEPTED: 2,
    OrderStatus.PARTIALLY_FILLED: 3,
    OrderStatus.FILLED: 9,
    OrderStatus.CANCELLED: 9,
    OrderStatus.REJECTED: 9,
    OrderStatus.EXPIRED: 9,
}


class Sent(msgspec.Struct, frozen=True, tag="sent"):
    """An order about to be sent under this OrderRef (written before ReqOrderInsert)."""

    day: str
    front: int
    session: int
    ref: int
    coid: str
    exchange: str
    symbol: str
    side: str  # CTP Direction, to tell our ref from another terminal's in ErrRtnOrderInsert
    qty: int


class SysId(msgspec.Struct, frozen=True, tag="sys"):
    day: str
    exchange: str
    sysid: str
    coid: str


class Progress(msgspec.Struct, frozen=True, tag="prog"):
    day: str
    key: str  # venue order id
    status: OrderStatus
    filled: int


class FillSeen(msgspec.Struct, frozen=True, tag="fill"):
    day: str
    trade_id: str


Entry = Sent | SysId | Progress | FillSeen
_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Entry)


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.day = ""
        self._entries: list[Entry] = []
        self._by_coid: dict[str, Sent] = {}
        self._by_key: dict[tuple[int, int, int], Sent] = {}
        self._by_ref: dict[int, Sent] = {}
        self._max_ref = 0  # kept as entries arrive: a max over the day's refs per order would grow with the day
        self._by_sysid: dict[tuple[str, str], str] = {}
        self._sysid_of: dict[str, tuple[str, str]] = {}
        self._progress: dict[str, tuple[int, int]] = {}
        self._fills: set[str] = set()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._load()
        self._fh = open(path, "ab")

    # --- loading and the trading day ------------------------------------------------------------

    def _load(self) -> None:
        if not self.path.exists():
            return
        for number, line in enumerate(self.path.read_bytes().splitlines(), 1):
            if not line.strip():
                continue
            try:
                self._entries.append(_DECODER.decode(line))
            except msgspec.DecodeError:
                # A torn last line after a crash mid-write; anything it said is recovered by queries.
                log.warning("ctp journal %s: skipping unreadable line %d", self.path, number)
        if self._entries:
            self._index(self._entries[-1].day)

    def start_day(self, day: str) -> None:
        """The login's TradingDay: keep only this day's lines (compacting the file if needed)."""
        if day == self.day and all(e.day == day for e in self._entries):
            return
        stale = [e for e in self._entries if e.day != day]
        self._index(day)
        if stale:
            self._rewrite()

    def _index(self, day: str) -> None:
        self.day = day
        self._entries = [e for e in self._entries if e.day == day]
        self._by_coid.clear()
        self._by_key.clear()
        self._by_ref.clear()
        self._max_ref = 0
        self._by_sysid.clear()
        self._sysid_of.clear()
        self._progress.clear()
        self._fills.clear()
        for entry in self._entries:
            self._apply(entry)

    def _rewrite(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(b"".join(_ENCODER.encode(e) + b"\n" for e in self._entries))
        self._fh.close()
        os.replace(tmp, self.path)
        self._fh = open(self.path, "ab")

    def _apply(self, entry: Entry) -> None:
        if isinstance(entry, Sent):
            self._by_coid[entry.coid] = entry
            self._by_key[(entry.front, entry.session, entry.ref)] = entry
            self._by_ref[entry.ref] = entry
            self._max_ref = max(self._max_ref, entry.ref)
        elif isinstance(entry, SysId):
            self._by_sysid[(entry.exchange, entry.sysid)] = entry.coid
            self._sysid_of[entry.coid] = (entry.exchange, entry.sysid)
        elif isinstance(entry, Progress):
            self._progress[entry.key] = (STATUS_RANK.get(entry.status, 0), entry.filled)
        else:
            self._fills.add(entry.trade_id)

    def _append(self, entry: Entry) -> None:
        self._entries.append(entry)
        self._apply(entry)
        self._fh.write(_ENCODER.encode(entry) + b"\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()

    # --- order refs -----------------------------------------------------------------------------

    @property
    def max_ref(self) -> int:
        return self._max_ref

    def record_sent(self, sent: Sent) -> None:
        self._append(sent)

    def sent_for(self, coid: str) -> Sent | None:
        return self._by_coid.get(coid)

    def by_key(self, front: int, session: int, ref: int) -> Sent | None:
        return self._by_key.get((front, session, ref))

    def by_ref(self, ref: int) -> Sent | None:
        """Our refs grow across sessions within a day, so the ref alone names one of our orders."""
        return self._by_ref.get(ref)

    def record_sysid(self, exchange: str, sysid: str, coid: str) -> None:
        if self._by_sysid.get((exchange, sysid)) != coid:
            self._append(SysId(day=self.day, exchange=exchange, sysid=sysid, coid=coid))

    def by_sysid(self, exchange: str, sysid: str) -> str | None:
        return self._by_sysid.get((exchange, sysid))

    def sysid_of(self, coid: str) -> tuple[str, str] | None:
        """``(ExchangeID, OrderSysID)`` of one of our orders, once the exchange has numbered it."""
        return self._sysid_of.get(coid)

    # --- what was already reported --------------------------------------------------------------

    def is_progress(self, key: str, status: OrderStatus, filled: int) -> bool:
        """Whether a pushed report moves the order forward (a replayed one does not)."""
        rank = STATUS_RANK.get(status, 0)
        old = self._progress.get(key)
        return old is None or rank > old[0] or (rank == old[0] and filled > old[1])

    def record_progress(self, key: str, status: OrderStatus, filled: int) -> None:
        if self.is_progress(key, status, filled):
            self._append(Progress(day=self.day, key=key, status=status, filled=filled))

    def fill_seen(self, trade_id: str) -> bool:
        return trade_id in self._fills

    def record_fill(self, trade_id: str) -> None:
        if trade_id not in self._fills:
            self._append(FillSeen(day=self.day, trade_id=trade_id))
