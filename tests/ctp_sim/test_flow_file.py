"""The trader double's private-flow sequence file: written off the callback path, still there for RESUME."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ctp_front import CtpFront
from ctpsim_helpers import confirm_field, log_in, order_field, send_query, start_trader, td_mod

from tradebus.ctp.sim_api import FLOW_SAVE_MAX_DELAY, SimTraderApi

DAY = "20261207"


def _saved(flow: Path) -> str | None:
    path = flow / "ctpsim_private.seq"
    return path.read_text(encoding="ascii").strip() if path.exists() else None


def _new_api(flow: Path) -> SimTraderApi:
    flow.mkdir(parents=True, exist_ok=True)
    api = SimTraderApi(str(flow) + "/")
    api._trading_day = DAY  # what a login would have set
    return api


def test_a_busy_line_defers_the_file_until_it_is_quiet(tmp_path: Path) -> None:
    api = _new_api(tmp_path)
    api._private_seen(3)
    assert _saved(tmp_path) is None  # not written while the frame is being handled
    api._flow_idle(busy_since=time.monotonic())  # the next frame came at once: still not written
    assert _saved(tmp_path) is None
    api._flow_idle()  # the line went quiet
    assert _saved(tmp_path) == f"{DAY} 3"
    api._flow_idle()  # nothing new: nothing to write
    assert _saved(tmp_path) == f"{DAY} 3"


def test_a_line_that_never_goes_quiet_still_saves_within_the_bound(tmp_path: Path) -> None:
    api = _new_api(tmp_path)
    api._private_seen(5)
    api._flow_idle(busy_since=time.monotonic() + FLOW_SAVE_MAX_DELAY)
    assert _saved(tmp_path) == f"{DAY} 5"


def test_release_saves_and_a_new_api_resumes_from_the_file(tmp_path: Path) -> None:
    api = _new_api(tmp_path)
    api._private_seen(7)
    api.Release()
    assert _saved(tmp_path) == f"{DAY} 7"
    again = _new_api(tmp_path)
    assert (again._seq_day, again._private_seq) == (DAY, 7)


def _wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        pause.wait(0.02)


def test_a_new_process_resumes_after_the_quiet_line_saved(tmp_path: Path) -> None:
    """An order's pushes, then a quiet line: the file holds the flow's end without any Release, so a
    new api on the same flow folder logging in with RESUME hears nothing again."""
    front = CtpFront(tmp_path / "state").start()
    apis = []
    try:
        flow = tmp_path / "flow"
        api, spi = start_trader(front.td, flow, td_mod.THOST_TERT_RESUME)
        apis.append(api)
        spi.rec.wait("OnFrontConnected")
        login = log_in(api, spi)
        assert api.ReqSettlementInfoConfirm(confirm_field(), 3) == 0
        spi.rec.wait("OnRspSettlementInfoConfirm")
        q = td_mod.CThostFtdcQryDepthMarketDataField()
        q.InstrumentID = "rb2601"
        send_query(lambda: api.ReqQryDepthMarketData(q, 4))
        low = spi.rec.wait("OnRspQryDepthMarketData").args[0]["LowerLimitPrice"]
        ref = str(int(login["MaxOrderRef"]) + 1)
        assert api.ReqOrderInsert(order_field("rb2601", "SHFE", "0", low, 1, ref), 5) == 0
        spi.rec.wait("OnRtnOrder", lambda e: e.args[0]["OrderRef"] == ref and e.args[0]["OrderStatus"] == "3")
        _wait_for(lambda: _saved(flow) is not None and int(_saved(flow).split()[1]) >= api._private_seq > 0)

        # A second api on the same folder, as a new process would: it resumes after the saved sequence.
        again, again_spi = start_trader(front.td, flow, td_mod.THOST_TERT_RESUME)
        apis.append(again)
        again_spi.rec.wait("OnFrontConnected")
        log_in(again, again_spi, rid=10)
        send_query(lambda: again.ReqQryOrder(td_mod.CThostFtdcQryOrderField(), 12))
        answer = again_spi.rec.wait("OnRspQryOrder", lambda e: e.args[3])
        assert answer.args[0] is not None  # the day's order is there to query...
        assert not [e for e in again_spi.rec.seen if e.name == "OnRtnOrder"]  # ...but not replayed
    finally:
        for api in apis:
            api.Release()
        front.stop()
