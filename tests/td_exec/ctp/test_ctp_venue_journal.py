"""The adapter's journal: refs across sessions and restarts, the trading-day roll, torn lines."""

from __future__ import annotations

from pathlib import Path

from td_exec.ctp_venue.journal import Journal, Sent
from tradebus.ctp.ids import order_key as venue_order_id
from tradebus.ctp.ids import parse_order_key as parse_venue_order_id
from tradebus.ctp.mapping import ORDER_KIND as ORDER_KIND_CTP2TB
from tradebus.ctp.mapping import ORDER_KIND_OF as ORDER_KIND_TB2CTP
from tradebus.ctp.mapping import order_status
from tradebus.schemas.orders import OrderStatus


def _sent(day: str, session: int, ref: int, coid: str) -> Sent:
    return Sent(day=day, front=1, session=session, ref=ref, coid=coid, exchange="SHFE", symbol="rb2601",
                side="0", qty=1)


def test_journal_survives_a_restart_and_forgets_yesterday(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    j = Journal(path)
    j.start_day("20250102")
    j.record_sent(_sent("20250102", 7, 5, "a"))
    j.record_sent(_sent("20250102", 6, 2, "b"))  # an earlier session's lower ref, learnt later
    assert j.max_ref == 5
    j.record_sysid("SHFE", "101", "a")
    j.record_progress("1:7:5", OrderStatus.ACCEPTED, 0)
    j.record_fill("ctp:SHFE:9")
    j.close()
    with path.open("ab") as fh:
        fh.write(b'{"type":"sent","day":"2025')  # a write torn by a crash
    j = Journal(path)
    j.start_day("20250102")
    assert j.max_ref == 5 and j.by_key(1, 7, 5).coid == "a" and j.by_ref(5).coid == "a" and j.by_ref(2).coid == "b"
    assert j.by_sysid("SHFE", "101") == "a" and j.sysid_of("a") == ("SHFE", "101")
    assert not j.is_progress("1:7:5", OrderStatus.ACCEPTED, 0)
    assert j.is_progress("1:7:5", OrderStatus.PARTIALLY_FILLED, 1)
    assert j.fill_seen("ctp:SHFE:9")
    j.start_day("20250103")  # a new trading day: refs, sessions and sysids start over
    assert j.max_ref == 0 and j.sent_for("a") is None and not j.fill_seen("ctp:SHFE:9")
    j.close()
    assert Journal(path).max_ref == 0 and path.read_bytes() == b""


def test_mapping_tables_round_trip() -> None:
    assert {v: k for k, v in ORDER_KIND_CTP2TB.items()} == ORDER_KIND_TB2CTP
    assert order_status("5", "4") is OrderStatus.REJECTED  # cancelled + InsertRejected: a rejection
    assert order_status("5", "3") is OrderStatus.CANCELLED
    assert order_status("a", "0") is OrderStatus.SUBMITTED
    assert order_status("z", "0") is None  # unknown values fail closed
    assert parse_venue_order_id(venue_order_id(1, -5, 12)) == (1, -5, 12)
    assert parse_venue_order_id("SHFE:  12") is None
