"""Inserts in flight at a disconnect: a front that received an insert processes it.

A raw client (the wire protocol of tradebus.ctp.wire, no API double in between) logs in, sends two
inserts back to back to a slow front (``--order-ack-delay-ms``) and hangs up at once. Both orders
must exist at the front: another session of the investor sees both in the private flow and its
order query.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ctp_front import CtpFront
from ctpsim_helpers import (
    APP_ID,
    AUTH_CODE,
    BROKER,
    PASSWORD,
    USER,
    confirm_field,
    log_in,
    order_field,
    send_query,
    start_trader,
    td_mod,
)

from tradebus.ctp.structs import struct_to_dict
from tradebus.ctp.wire import Frame, FrameReader, encode


@pytest.fixture
def slow_front(tmp_path: Path) -> Iterator[CtpFront]:
    proc = CtpFront(tmp_path / "state", "--order-ack-delay-ms", "400").start()
    try:
        yield proc
    finally:
        proc.stop()


class RawSession:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.frames = FrameReader(self.sock)

    def request(self, op: str, rid: int, body: dict[str, Any], **extra: Any) -> None:
        self.sock.sendall(encode(Frame(kind="req", op=op, rid=rid, body=body, **extra)))

    def answer(self, cb: str) -> Frame:
        while True:
            frame = self.frames.read(10.0)
            assert frame is not None, f"no {cb}"
            if frame.cb == cb:
                return frame

    def hang_up(self) -> None:
        """Close the line at once, without reading what the front answers: the front's answers then
        meet a closed socket and the line is reset under it."""
        self.sock.close()


def test_inserts_received_before_a_disconnect_are_all_processed(slow_front: CtpFront, tmp_path: Path) -> None:
    raw = RawSession(slow_front.td_port)
    raw.request("ReqAuthenticate", 1, {"BrokerID": BROKER, "UserID": USER, "AppID": APP_ID, "AuthCode": AUTH_CODE})
    assert raw.answer("OnRspAuthenticate").err["ErrorID"] == 0  # type: ignore[index]
    raw.request("ReqUserLogin", 2, {"BrokerID": BROKER, "UserID": USER, "Password": PASSWORD},
                resume=td_mod.THOST_TERT_QUICK)
    login = raw.answer("OnRspUserLogin").body or {}
    raw.request("ReqSettlementInfoConfirm", 3, {"BrokerID": BROKER, "InvestorID": USER})
    assert raw.answer("OnRspSettlementInfoConfirm").err["ErrorID"] == 0  # type: ignore[index]
    first_ref = int(login["MaxOrderRef"]) + 1
    refs = [str(first_ref), str(first_ref + 1)]
    for rid, ref in enumerate(refs, start=10):
        field = order_field("rb2601", "SHFE", "0", 3100.0, 1, ref)
        raw.request("ReqOrderInsert", rid, struct_to_dict(field))
    raw.hang_up()  # both inserts are at the front; the first is still held by the ack delay

    api, spi = start_trader(slow_front.td, tmp_path / "flow", td_mod.THOST_TERT_RESTART)
    try:
        spi.rec.wait("OnFrontConnected")
        log_in(api, spi)
        assert api.ReqSettlementInfoConfirm(confirm_field(), 3) == 0
        spi.rec.wait("OnRspSettlementInfoConfirm")
        # the private flow (replayed from the start, then live) shows each order of the dead session
        seen: set[str] = set()
        while seen != set(refs):
            event = spi.rec.wait("OnRtnOrder", lambda e: e.args[0]["SessionID"] == login["SessionID"])
            seen.add(event.args[0]["OrderRef"].strip())
        query = td_mod.CThostFtdcQryOrderField()
        query.BrokerID, query.InvestorID = BROKER, USER
        send_query(lambda: api.ReqQryOrder(query, 4))
        rows: list[dict[str, Any]] = []
        while True:
            event = spi.rec.wait("OnRspQryOrder")
            if event.args[0] is not None:
                rows.append(event.args[0])
            if event.args[3]:
                break
        assert sorted(r["OrderRef"].strip() for r in rows if r["SessionID"] == login["SessionID"]) == refs
    finally:
        api.Release()
