"""The front's journal: a killed front comes back with exactly the day it acknowledged.

Driven in-process through ``Front`` (the same broker, market and persistence the process runs),
with an injected clock; a "kill" is simply a second ``Front`` on the same state dir while the first
one never closed (nothing of the first is flushed or snapshotted at exit).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from ctp_sim import journal, state
from ctp_sim.config import FrontConfig
from ctp_sim.server import Front
from tradebus.ctp.wire import Frame

USER, PASSWORD, BROKER = "000001", "123456", "9999"
RB = ("rb2601", "SHFE")


def _clock() -> Callable[[], int]:
    start = int(datetime(2025, 12, 10, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()) * 1_000_000_000
    ticks = itertools.count()
    return lambda: start + next(ticks) * 1_000_000


class Client:
    """One TD session on an in-process front; requests are handled and flushed as the server does."""

    def __init__(self, front: Front) -> None:
        self.front = front
        self.frames: list[Frame] = []
        self.session = front.broker.connect(self.frames.append, "test")
        front._flush()
        self.rid = 0
        self.ref = 0

    def req(self, op: str, body: dict[str, Any], **extra: Any) -> None:
        self.rid += 1
        self.front.broker.handle(self.session, Frame(kind="req", op=op, rid=self.rid, body=body, **extra))
        self.front._flush()

    def log_in(self) -> None:
        self.req("ReqUserLogin", {"BrokerID": BROKER, "UserID": USER, "Password": PASSWORD}, resume=0)
        self.req("ReqSettlementInfoConfirm", {"BrokerID": BROKER, "InvestorID": USER})

    def order(self, direction: str, price: float, volume: int = 1, offset: str = "0") -> str:
        self.ref += 1
        self.req("ReqOrderInsert", {
            "BrokerID": BROKER, "InvestorID": USER, "UserID": USER, "InstrumentID": RB[0], "ExchangeID": RB[1],
            "OrderRef": str(self.ref), "Direction": direction, "CombOffsetFlag": offset, "CombHedgeFlag": "1",
            "OrderPriceType": "2", "LimitPrice": price, "VolumeTotalOriginal": volume, "TimeCondition": "3",
            "VolumeCondition": "1", "ContingentCondition": "1", "ForceCloseReason": "0",
        })
        return str(self.ref)

    def cancel(self, ref: str) -> None:
        self.req("ReqOrderAction", {"BrokerID": BROKER, "InvestorID": USER, "ActionFlag": "0", "OrderRef": ref,
                                    "FrontID": self.front.config.front_id, "SessionID": self.session.session_id})


def _front(tmp_path: Path) -> Front:
    return Front(FrontConfig(state_dir=tmp_path, app_id="", seed=5), now_ns=_clock())


def _trade_a_while(front: Front, orders: int) -> None:
    client = Client(front)
    client.log_in()
    quote = front.market.quote(RB[1], RB[0])
    assert quote.upper_limit is not None and quote.lower_limit is not None
    resting: list[str] = []
    for i in range(orders):
        if i % 3 == 0:
            client.order("0", quote.upper_limit)  # buys at once: a trade, a position
        elif i % 3 == 1:
            client.order("1", quote.upper_limit, offset="1")  # sells what it bought (a close)... or is refused
        else:
            resting.append(client.order("0", quote.lower_limit, volume=2))  # rests on the book
        if i % 7 == 6:
            client.cancel(resting.pop(0))
        if i % 5 == 4:
            front.market.step()
            front._flush()


def _day_of(front: Front) -> dict[str, Any]:
    """Everything a client can learn of the day, and the counters that keep its ids unique."""
    market = front.market
    return {
        "orders": msgspec.json.encode(front.state.orders),
        "trades": front.state.trades,
        "flows": msgspec.json.encode(front.state.flows),
        "confirmed": front.state.confirmed,
        "counters": dict(front.state.counters),
        "positions": market.positions(USER),
        "funds": market.funds(USER),
        "sim_orders": market.orders(USER),
        "sim_trades": market.trades(USER),
    }


def test_orders_then_a_kill_come_back_the_same(tmp_path: Path) -> None:
    first = _front(tmp_path)
    snapshot_at_start = (tmp_path / state.STATE_FILE).read_bytes()
    _trade_a_while(first, 60)
    before = _day_of(first)
    assert before["trades"] and before["sim_trades"] and before["positions"]
    assert any(o.status == "cancelled" for o in before["sim_orders"])
    # The orders went to the journal, not into a rewritten snapshot.
    assert (tmp_path / state.STATE_FILE).read_bytes() == snapshot_at_start
    assert first.journal.records > 60

    second = _front(tmp_path)  # the first never closed: killed
    assert _day_of(second) == before
    # Market steps that filled nothing are recorded every few seconds (prices); with them
    # recorded, the whole market is the same to the byte.
    first.journal.record_prices()
    third = _front(tmp_path)
    assert third.market.snapshot() == first.market.snapshot()
    # And the day carries on: MaxOrderRef and new ids continue, nothing is handed out twice.
    client = Client(third)
    client.log_in()
    login = next(f for f in client.frames if f.cb == "OnRspUserLogin")
    assert login.body is not None and int(login.body["MaxOrderRef"]) == max(
        int(o.order_ref) for o in third.state.orders)
    assert third.state.counters["session_id"] > first.state.counters["session_id"]


def test_restarts_replay_the_private_flow(tmp_path: Path) -> None:
    first = _front(tmp_path)
    _trade_a_while(first, 12)
    client = Client(_front(tmp_path))
    client.log_in()  # RESTART (resume=0): the whole day's private flow again
    replayed = [f for f in client.frames if f.seq]
    assert [(f.cb, f.body) for f in replayed] == [(i.cb, i.body) for i in first.state.flows[USER]]


def test_a_torn_last_record_is_skipped_with_a_log_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = _front(tmp_path)
    _trade_a_while(first, 9)
    before = _day_of(first)
    with journal.path_of(tmp_path).open("ab") as f:
        f.write(b'{"n":' + str(first.journal.n + 1).encode() + b',"day":{"orders":[{"inves')  # killed mid-write
    with caplog.at_level(logging.WARNING, logger="ctp_sim.journal"):
        second = _front(tmp_path)
    assert "torn last record" in caplog.text
    assert _day_of(second) == before
    # The start wrote a snapshot and emptied the journal: the torn bytes are gone, the next
    # records follow a clean line, and another kill loses nothing.
    assert journal.path_of(tmp_path).read_bytes() == b""
    _trade_a_while(second, 6)
    after = _day_of(second)
    assert _day_of(_front(tmp_path)) == after


def test_a_damaged_record_before_the_last_refuses_the_start(tmp_path: Path) -> None:
    first = _front(tmp_path)
    _trade_a_while(first, 6)
    path = journal.path_of(tmp_path)
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1][:10]
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(journal.JournalCorrupt, match="line 2"):
        _front(tmp_path)


def test_a_snapshot_every_n_records_and_no_record_applied_twice(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal, "SNAPSHOT_EVERY", 10)
    first = _front(tmp_path)
    _trade_a_while(first, 30)
    assert first.state.journal_n > 10 and first.journal.records < 10
    before = _day_of(first)
    # A kill between writing a snapshot and emptying the journal: the old records are still there,
    # numbered at or below what the snapshot holds, and must not be applied again.
    stale = journal.path_of(tmp_path).read_bytes()
    first.save()
    journal.path_of(tmp_path).write_bytes(stale)
    assert _day_of(_front(tmp_path)) == before


def test_a_new_trading_day_rolls_from_the_journal(tmp_path: Path) -> None:
    first = _front(tmp_path)
    _trade_a_while(first, 6)
    held = first.market.positions(USER)
    night = int(datetime(2025, 12, 10, 21, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()) * 1_000_000_000
    rolled = Front(FrontConfig(state_dir=tmp_path, app_id="", seed=5), now_ns=lambda: night)
    assert rolled.state.trading_day == "20251211" and rolled.state.orders == []
    assert held and [(p.symbol, p.long_qty, p.short_qty) for p in rolled.market.positions(USER)] == [
        (p.symbol, p.long_qty, p.short_qty) for p in held]
    assert rolled.state.counters["broker_order_seq"] == first.state.counters["broker_order_seq"]
