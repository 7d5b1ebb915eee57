"""What a CTP front remembers for the trading day, persisted so a restart keeps the day.

The snapshot, one JSON file in the state dir, holds the CTP layer (orders with their CTP keys,
trades, the private flow of every user, settlement confirmations, id counters) together with the
simulated market's own snapshot (accounts, positions, resting orders, prices), written in one atomic
replace so the two never disagree. It is written at start, at close and every so many journal
records; what changed in between is in the journal (``journal.py``), and ``journal_n`` says which
of the journal's records the snapshot already holds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

from tradebus.ctp.codes import OrderStatus, OrderSubmitStatus

STATE_FILE = "ctp_sim_state.json"


class OrderRec(msgspec.Struct):
    """One order as the front knows it; the RtnOrder body is built from this."""

    investor: str
    user: str
    front_id: int
    session_id: int
    order_ref: str
    request_id: int
    exchange: str
    instrument: str
    input: dict[str, Any]  # the InputOrder fields as the client sent them
    order_local_id: str
    broker_order_seq: int
    insert_date: str
    insert_time: str
    user_product_info: str = ""
    sim_order_id: str = ""
    order_sys_id: str = ""
    status: str = OrderStatus.UNKNOWN
    submit_status: str = OrderSubmitStatus.INSERT_SUBMITTED
    status_msg: str = ""
    volume_traded: int = 0
    volume_total: int = 0
    sequence_no: int = 0
    update_time: str = ""
    cancel_time: str = ""
    accepted_sent: bool = False


class FlowItem(msgspec.Struct):
    """One private-flow message, kept verbatim for replay."""

    seq: int
    kind: str
    cb: str
    st: str
    body: dict[str, Any]
    err: dict[str, Any] | None = None


class DayState(msgspec.Struct):
    trading_day: str
    orders: list[OrderRec] = msgspec.field(default_factory=list)
    trades: list[dict[str, Any]] = msgspec.field(default_factory=list)
    flows: dict[str, list[FlowItem]] = msgspec.field(default_factory=dict)
    confirmed: dict[str, str] = msgspec.field(default_factory=dict)  # investor → "date time"
    counters: dict[str, int] = msgspec.field(default_factory=dict)  # survive day rolls: ids stay unique
    market: bytes = b""
    journal_n: int = 0  # the last journal record this snapshot holds; records numbered up to it are skipped

    def next(self, name: str, start: int = 1) -> int:
        value = self.counters.get(name, start - 1) + 1
        self.counters[name] = value
        return value

    def new_day(self, trading_day: str) -> DayState:
        return DayState(trading_day=trading_day, counters=dict(self.counters), market=self.market,
                        journal_n=self.journal_n)


def load(state_dir: Path) -> DayState | None:
    path = state_dir / STATE_FILE
    if not path.exists():
        return None
    return msgspec.json.decode(path.read_bytes(), type=DayState)


def save(state_dir: Path, state: DayState) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        f.write(msgspec.json.encode(state))
        f.flush()
        os.fsync(f.fileno())  # the journal is emptied next: the snapshot must be on disk before that
    os.replace(tmp, path)
