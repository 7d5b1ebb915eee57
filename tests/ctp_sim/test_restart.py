"""A front restart: OnFrontDisconnected, reconnect, re-login, and the day's private-flow replay."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ctp_front import CtpFront
from ctpsim_helpers import TraderSpi, confirm_field, log_in, order_field, send_query, start_trader, td_mod


@pytest.fixture
def apis() -> Iterator[list[Any]]:
    started: list[Any] = []
    try:
        yield started
    finally:
        for api in started:
            api.Release()


def _trader(front: CtpFront, flow: Path, resume: int, apis: list[Any]) -> tuple[Any, TraderSpi]:
    api, spi = start_trader(front.td, flow, resume)
    apis.append(api)
    spi.rec.wait("OnFrontConnected")
    return api, spi


def _private(spi: TraderSpi) -> list[tuple[str, str]]:
    """(callback, venue key) of every private-flow push seen: OrderSysID+status or TradeID."""
    keys = []
    for e in spi.rec.drain():
        if e.name == "OnRtnOrder":
            keys.append((e.name, f"{e.args[0]['OrderRef']}/{e.args[0]['OrderStatus']}"))
        elif e.name == "OnRtnTrade":
            keys.append((e.name, e.args[0]["TradeID"]))
    return keys


def _until_query_answer(api: Any, spi: TraderSpi, rid: int) -> list[dict]:
    """Ask for the day's orders: whatever replay precedes the answer has been delivered by then."""
    send_query(lambda: api.ReqQryOrder(td_mod.CThostFtdcQryOrderField(), rid))
    answers = [spi.rec.wait("OnRspQryOrder", lambda e: e.args[2] == rid)]
    while not answers[-1].args[3]:
        answers.append(spi.rec.wait("OnRspQryOrder", lambda e: e.args[2] == rid))
    return [a.args[0] for a in answers if a.args[0] is not None]


def test_restart_replays_the_day(tmp_path: Path, apis: list[Any]) -> None:
    front = CtpFront(tmp_path / "state").start()
    try:
        restart_api, restart = _trader(front, tmp_path / "a", td_mod.THOST_TERT_RESTART, apis)
        first_login = log_in(restart_api, restart)
        assert restart_api.ReqSettlementInfoConfirm(confirm_field(), 3) == 0
        restart.rec.wait("OnRspSettlementInfoConfirm")
        resume_api, resume = _trader(front, tmp_path / "b", td_mod.THOST_TERT_RESUME, apis)
        log_in(resume_api, resume)

        send_query(lambda: restart_api.ReqQryDepthMarketData(td_mod.CThostFtdcQryDepthMarketDataField(), 4))
        quotes = {}
        while True:
            e = restart.rec.wait("OnRspQryDepthMarketData")
            quotes[e.args[0]["InstrumentID"]] = e.args[0]
            if e.args[3]:
                break
        ref = int(first_login["MaxOrderRef"])
        rb = quotes["rb2601"]
        assert restart_api.ReqOrderInsert(order_field("rb2601", "SHFE", "0", rb["UpperLimitPrice"], 1,
                                                      str(ref + 1)), 5) == 0
        assert restart_api.ReqOrderInsert(order_field("rb2601", "SHFE", "0", rb["LowerLimitPrice"], 1,
                                                      str(ref + 2)), 6) == 0
        restart.rec.wait("OnRtnTrade")
        restart.rec.wait("OnRtnOrder", lambda e: e.args[0]["OrderRef"] == str(ref + 2)
                         and e.args[0]["OrderStatus"] == "3")
        before = _private(restart)
        assert ("OnRtnTrade", next(k for n, k in before if n == "OnRtnTrade")) in before
        # The RESUME session, logged in on the same investor, got the same private flow.
        resume.rec.wait("OnRtnOrder", lambda e: e.args[0]["OrderRef"] == str(ref + 2)
                        and e.args[0]["OrderStatus"] == "3")
        assert _private(resume) == before

        # The front dies without a goodbye and comes back on the same ports with its state dir.
        front.stop(signal.SIGKILL)
        assert restart.rec.wait("OnFrontDisconnected").args[0] == 0x1001
        resume.rec.wait("OnFrontDisconnected")
        front.start()
        restart.rec.wait("OnFrontConnected")
        resume.rec.wait("OnFrontConnected")

        # The client must log in again: a new session, and with RESTART the whole day again.
        second_login = log_in(restart_api, restart, rid=10)
        assert second_login["SessionID"] != first_login["SessionID"]
        assert int(second_login["MaxOrderRef"]) >= ref + 2
        restart.rec.seen.clear()
        orders = _until_query_answer(restart_api, restart, 12)
        assert _private(restart) == before
        assert sorted(o["OrderRef"] for o in orders) == [str(ref + 1), str(ref + 2)]

        # RESUME: it saw everything before the restart, so nothing is replayed.
        log_in(resume_api, resume, rid=20)
        resume.rec.seen.clear()
        _until_query_answer(resume_api, resume, 22)
        assert _private(resume) == []

        # QUICK: a fresh session hears only what happens from now on.
        quick_api, quick = _trader(front, tmp_path / "c", td_mod.THOST_TERT_QUICK, apis)
        log_in(quick_api, quick)
        assert len(_until_query_answer(quick_api, quick, 30)) == 2
        assert _private(quick) == []

        # ...and a cancel now reaches all three live sessions.
        action = td_mod.CThostFtdcInputOrderActionField()
        action.BrokerID, action.InvestorID, action.UserID, action.ActionFlag = "9999", "000001", "000001", "0"
        action.FrontID, action.SessionID = first_login["FrontID"], first_login["SessionID"]
        action.OrderRef = str(ref + 2)
        assert quick_api.ReqOrderAction(action, 31) == 0
        for spi in (restart, resume, quick):
            spi.rec.wait("OnRtnOrder", lambda e: e.args[0]["OrderStatus"] == "5")
    finally:
        front.stop()
