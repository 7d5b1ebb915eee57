"""The CTP kit's SPI bridge and login sequence, driven through real openctp-ctp SPI objects and structs.

The API side is a recording stand-in (the tests answer its requests through the bridge, as CTP's thread
would); the end-to-end runs against a real front are tests/td_exec/ctp and tests/md_ingest.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from polling import until

from tradebus.backoff import Backoff
from tradebus.config import CtpConfig, Secret
from tradebus.ctp import import_ctp_modules
from tradebus.ctp.bridge import TRADER_LOGIN_CALLBACKS, make_spi, trader_spi
from tradebus.ctp.session import LoginInfo, LoginSession, RequestFailed

_, td = import_ctp_modules()
CFG = CtpConfig(broker_id="9999", user_id="000001", password=Secret("pw"), app_id="app", auth_code=Secret("code"))


@dataclass
class FakeApi:
    """Records what the session sends; every request is sent (returns 0) unless ``rc`` says otherwise."""

    sent: list[tuple[str, dict[str, Any], int]] = field(default_factory=list)
    rc: int = 0

    def _send(self, op: str, f: Any, rid: int) -> int:
        self.sent.append((op, {k: getattr(f, k) for k in ("BrokerID", "UserID")}, rid))
        return self.rc

    def ReqAuthenticate(self, f: Any, rid: int) -> int:
        return self._send("ReqAuthenticate", f, rid)

    def ReqUserLogin(self, f: Any, rid: int) -> int:
        return self._send("ReqUserLogin", f, rid)

    def GetTradingDay(self) -> str:
        return "20251211"


@dataclass
class Listener:
    events: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    login: LoginInfo | None = None

    def _note(self, text: str) -> None:
        self.events.append(text)
        self.changed.set()

    def front_connected(self) -> None:
        self._note("connected")

    def ready(self, info: LoginInfo) -> None:
        self.login = info
        self._note("ready")

    def login_failed(self, failure: RequestFailed, retry_in: float | None) -> None:
        self._note(f"failed {failure.step} {failure.code} retry={retry_in is not None}")

    def front_disconnected(self, reason: str) -> None:
        self._note(reason)


def _answer(session: LoginSession, api: FakeApi, op: str, row: dict[str, Any] | None, error: int = 0) -> None:
    rid = next(r for o, _, r in reversed(api.sent) if o == op)
    callback = {"ReqAuthenticate": "OnRspAuthenticate", "ReqUserLogin": "OnRspUserLogin"}[op]
    assert session.handle(callback, row, (error, "CTP:err" if error else "CTP:正确"), rid, True)


LOGIN_ROW = {"TradingDay": "20251211", "FrontID": 1, "SessionID": 77, "MaxOrderRef": "          12"}


def _session(api: FakeApi, listener: Listener, **kwargs: Any) -> LoginSession:
    return LoginSession(api, td, CFG, listener, authenticate=True, backoff=Backoff(0.01, 0.01, jitter=0.0),
                        **kwargs)


async def test_connect_authenticate_login_then_the_clients_steps() -> None:
    api, listener, steps = FakeApi(), Listener(), []

    async def after(info: LoginInfo) -> None:
        steps.append(info.session_id)

    session = _session(api, listener, after_login=after)
    session.handle("OnFrontConnected")
    await until(lambda: api.sent, what="authenticate sent")
    assert api.sent[0][:2] == ("ReqAuthenticate", {"BrokerID": "9999", "UserID": "000001"})
    _answer(session, api, "ReqAuthenticate", {})
    await until(lambda: len(api.sent) == 2, what="login sent")
    _answer(session, api, "ReqUserLogin", LOGIN_ROW)
    await until(lambda: session.ready, what="ready")
    assert listener.events == ["connected", "ready"] and steps == [77]
    assert listener.login is not None and listener.login.max_order_ref == 12 and listener.login.front_id == 1
    await session.stop()


async def test_the_sessions_ids_are_known_before_the_next_callback_not_a_task_step_later() -> None:
    """The private flow's replay follows the login answer at once; the client must see the day's ids
    while handling it, although the login task has not run its next step yet (a load-only race)."""
    api, listener, seen, after_steps = FakeApi(), Listener(), [], []

    async def after(info: LoginInfo) -> None:
        after_steps.append(info.trading_day)

    session = _session(api, listener, after_login=after, logged_in=lambda info: seen.append(info))
    session.handle("OnFrontConnected")
    await until(lambda: api.sent, what="authenticate sent")
    _answer(session, api, "ReqAuthenticate", {})
    await until(lambda: len(api.sent) == 2, what="login sent")
    _answer(session, api, "ReqUserLogin", LOGIN_ROW)
    # no await between the answer and this check: the login task has not resumed
    assert [(i.front_id, i.session_id, i.trading_day) for i in seen] == [(1, 77, "20251211")] and not after_steps
    await until(lambda: session.ready, what="ready")
    assert len(seen) == 1 and after_steps == ["20251211"]  # called once, and before the client's steps
    await session.stop()


async def test_a_failing_logged_in_hook_is_retried_by_the_login_task() -> None:
    api, listener, calls = FakeApi(), Listener(), []

    def logged_in(info: LoginInfo) -> None:
        calls.append(info.session_id)
        if len(calls) == 1:
            raise OSError("journal folder not writable")

    session = _session(api, listener, logged_in=logged_in)
    session.handle("OnFrontConnected")
    await until(lambda: api.sent, what="authenticate sent")
    _answer(session, api, "ReqAuthenticate", {})
    await until(lambda: len(api.sent) == 2, what="login sent")
    _answer(session, api, "ReqUserLogin", LOGIN_ROW)
    await until(lambda: session.ready, what="ready after the hook was called again")
    assert calls == [77, 77] and [op for op, _, _ in api.sent] == ["ReqAuthenticate", "ReqUserLogin"]
    await session.stop()


async def test_a_wrong_password_is_not_retried_and_other_errors_are() -> None:
    api, listener = FakeApi(), Listener()
    session = _session(api, listener)
    session.handle("OnFrontConnected")
    await until(lambda: api.sent, what="authenticate sent")
    _answer(session, api, "ReqAuthenticate", {}, error=77)
    await until(lambda: len(api.sent) == 2, what="authenticate sent again after the backoff")
    assert api.sent[1][0] == "ReqAuthenticate" and "failed authentication 77 retry=True" in listener.events
    _answer(session, api, "ReqAuthenticate", {})
    await until(lambda: len(api.sent) == 3, what="login sent")
    _answer(session, api, "ReqUserLogin", None, error=3)
    await until(lambda: "failed login 3 retry=False" in listener.events, what="fatal failure reported")
    await asyncio.sleep(0.05)
    assert len(api.sent) == 3 and not session.ready  # nothing more is sent: the broker would lock the account
    await session.stop()


async def test_a_failed_client_step_is_retried_without_logging_in_again() -> None:
    api, listener, attempts = FakeApi(), Listener(), []

    async def after(info: LoginInfo) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RequestFailed("settlement confirm", 9, "nope", answered=True)

    session = _session(api, listener, after_login=after)
    session.handle("OnFrontConnected")
    await until(lambda: api.sent, what="authenticate sent")
    _answer(session, api, "ReqAuthenticate", {})
    await until(lambda: len(api.sent) == 2, what="login sent")
    _answer(session, api, "ReqUserLogin", LOGIN_ROW)
    await until(lambda: session.ready, what="ready after the retried step")
    assert len(attempts) == 2 and [op for op, _, _ in api.sent] == ["ReqAuthenticate", "ReqUserLogin"]
    await session.stop()


async def test_an_unanswered_request_times_out_and_a_disconnect_cancels_the_sequence() -> None:
    api, listener = FakeApi(), Listener()
    session = _session(api, listener, timeout=0.05)
    session.handle("OnFrontConnected")
    await until(lambda: len(api.sent) >= 2, what="authenticate sent again after the timeout")
    assert "failed authentication -1 retry=True" in listener.events
    session.handle("OnFrontDisconnected", 0x2001)
    assert listener.events[-1] == "front disconnected: heartbeat timeout (0x2001)"
    sent = len(api.sent)
    await asyncio.sleep(0.1)
    assert len(api.sent) == sent  # no retry while the front is down
    await session.stop()


async def test_a_request_the_api_refuses_to_send_fails_at_once() -> None:
    api, listener = FakeApi(rc=-1), Listener()
    session = _session(api, listener)
    session.handle("OnFrontConnected")
    await until(lambda: any(e.startswith("failed authentication -1") for e in listener.events), what="refused")
    await session.stop()


async def test_bridge_copies_structs_on_ctps_thread_and_delivers_on_the_loop() -> None:
    loop = asyncio.get_running_loop()
    got: list[tuple[Any, ...]] = []
    done = asyncio.Event()

    def dispatch(name: str, *args: Any) -> None:
        assert threading.current_thread() is threading.main_thread()
        got.append((name, *args))
        done.set()

    spi = trader_spi(loop, dispatch, TRADER_LOGIN_CALLBACKS)
    assert isinstance(spi, td.CThostFtdcTraderSpi)
    login, info = td.CThostFtdcRspUserLoginField(), td.CThostFtdcRspInfoField()
    login.TradingDay, login.FrontID, info.ErrorID, info.ErrorMsg = "20251211", 3, 0, "ok"
    thread = threading.Thread(target=spi.OnRspUserLogin, args=(login, info, 5, True))
    thread.start()
    thread.join()
    del login, info  # the struct is gone after the callback; the copy is not
    await asyncio.wait_for(done.wait(), 5)
    [(name, row, error, rid, last)] = got
    assert (name, error, rid, last) == ("OnRspUserLogin", (0, "ok"), 5, True)
    assert row["TradingDay"] == "20251211" and row["FrontID"] == 3


async def test_bridge_runs_on_thread_handlers_and_never_lets_an_exception_into_ctp() -> None:
    md, _ = import_ctp_modules()
    seen: list[str] = []

    def depth(field: Any) -> None:
        seen.append(field.InstrumentID)
        raise ValueError("a bug in a handler")

    spi = make_spi(md.CThostFtdcMdSpi, asyncio.get_running_loop(), lambda *a: None, (),
                   on_thread={"OnRtnDepthMarketData": depth})
    quote = md.CThostFtdcDepthMarketDataField()
    quote.InstrumentID = "rb2601"
    spi.OnRtnDepthMarketData(quote)  # would abort the process if the exception reached SWIG
    assert seen == ["rb2601"]


def test_a_fatal_error_is_only_an_answered_one() -> None:
    assert RequestFailed("login", 3, "bad", answered=True).fatal
    assert not RequestFailed("login", 3, "not sent").fatal
    assert not RequestFailed("login", 15, "bad field", answered=True).fatal
