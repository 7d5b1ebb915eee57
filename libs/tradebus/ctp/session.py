"""The CTP login sequence, one implementation for every CTP client (docs/ctp.md, "The session").

Every time the front connects: ReqAuthenticate (trader API, when an AppID is configured) →
ReqUserLogin → the client's own steps (``after_login``: settlement confirm, instrument list …) →
``ready``. CTP's API reconnects to its front by itself, so the sequence simply runs again on the next
``OnFrontConnected``; a disconnect cancels a sequence under way and fails its unanswered requests.

Each request waits for its answer at most ``timeout`` seconds. A refused or unanswered step is
retried after an exponential backoff, from the step that failed (a session that is logged in is not
logged in again: the front would refuse a second login), except the errors retrying would only
repeat — a wrong password or AppID/AuthCode, after which a broker locks the account.

Everything here runs on the event loop; the callbacks arrive through :mod:`tradebus.ctp.bridge`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol

from tradebus.backoff import Backoff
from tradebus.config import CtpConfig
from tradebus.ctp.bridge import Error, Row
from tradebus.ctp.codes import RC_IN_FLIGHT, RC_OK, RC_TOO_FAST, disconnect_text
from tradebus.ctp.ids import ref_number

log = logging.getLogger(__name__)

# ErrorIDs of a login that retrying would only repeat: 3 bad BrokerID/UserID/Password, 63 client
# authentication (AppID/AuthCode) failed.
FATAL_LOGIN_ERRORS = frozenset({3, 63})
REQUEST_TIMEOUT_S = 10.0
QUERY_INTERVAL_S = 1.1  # a front takes one query per second; -2/-3 ask the client to wait that long
MAX_REFUSALS = 10


class RequestFailed(Exception):
    """A request the front refused (``answered``: an ErrorID), that could not be sent (``code`` is the
    API's return code), or that went unanswered."""

    def __init__(self, step: str, code: int, message: str, *, answered: bool = False) -> None:
        super().__init__(f"{step} failed: {code} {message}")
        self.step, self.code, self.message, self.answered = step, code, message, answered

    @property
    def fatal(self) -> bool:
        return self.answered and self.code in FATAL_LOGIN_ERRORS


@dataclass(frozen=True, slots=True)
class LoginInfo:
    """What the login answer tells the client about its session."""

    front_id: int
    session_id: int
    max_order_ref: int
    trading_day: str
    row: Row = field(repr=False)


class SessionListener(Protocol):
    def front_connected(self) -> None: ...

    def ready(self, info: LoginInfo) -> None: ...

    def login_failed(self, failure: RequestFailed, retry_in: float | None) -> None: ...

    def front_disconnected(self, reason: str) -> None: ...


@dataclass(slots=True)
class _Pending:
    step: str
    done: asyncio.Future[list[Row]]
    rows: list[Row] = field(default_factory=list)


class Requests:
    """Requests paired with their answers by nRequestID; each answer's rows resolve one future."""

    def __init__(self, next_rid: Callable[[], int], timeout: float = REQUEST_TIMEOUT_S) -> None:
        self._next_rid = next_rid
        self.timeout = timeout
        self._pending: dict[int, _Pending] = {}

    async def call(self, step: str, send: Callable[[int], int], *, timeout: float | None = None,
                   refused_wait: float = QUERY_INTERVAL_S) -> list[Row]:
        """Send ``send(request_id)`` and await every row of its answer. A -2/-3 return (flow control,
        nothing sent) is tried again after ``refused_wait``; any other non-zero return, an ErrorID or no
        answer within the timeout raises :class:`RequestFailed`."""
        for _ in range(MAX_REFUSALS):
            rid = self._next_rid()
            pending = _Pending(step, asyncio.get_running_loop().create_future())
            self._pending[rid] = pending
            rc = send(rid)
            if rc == RC_OK:
                return await self._answer(rid, pending, timeout or self.timeout)
            self._pending.pop(rid, None)
            if rc not in (RC_IN_FLIGHT, RC_TOO_FAST):
                raise RequestFailed(step, rc, "not sent")
            await asyncio.sleep(refused_wait)
        raise RequestFailed(step, RC_TOO_FAST, "still refused by flow control")

    async def _answer(self, rid: int, pending: _Pending, timeout: float) -> list[Row]:
        try:
            done, _ = await asyncio.wait({pending.done}, timeout=timeout)
        finally:
            self._pending.pop(rid, None)
        if not done:
            raise RequestFailed(pending.step, -1, f"no answer within {timeout:g}s")
        return pending.done.result()

    def on_rsp(self, row: Row | None, error: Error | None, rid: int, last: bool) -> bool:
        """An OnRsp… answer; False when it is not for one of these requests."""
        pending = self._pending.get(rid)
        if pending is None:
            return False
        if pending.done.done():
            return True
        if error is not None and error[0] != 0:
            pending.done.set_exception(RequestFailed(pending.step, int(error[0]), str(error[1]), answered=True))
            return True
        if row is not None:
            pending.rows.append(row)
        if last:
            pending.done.set_result(pending.rows)
        return True

    def fail_all(self, reason: str) -> None:
        for pending in self._pending.values():
            if not pending.done.done():
                pending.done.set_exception(RequestFailed(pending.step, -1, reason))
        self._pending.clear()


AfterLogin = Callable[[LoginInfo], Awaitable[None]]
LoggedIn = Callable[[LoginInfo], None]


class LoginSession:
    """Runs the login sequence on each front connection and reports to its listener.

    Feed it every bridged callback through :meth:`handle`; what it does not consume is the client's.

    ``logged_in`` runs inside :meth:`handle` of the login answer, before the next callback is handled:
    the front replays the private flow (``OnRtnOrder``/``OnRtnTrade``) right after that answer, and
    those callbacks may already wait in the loop's queue ahead of the login task's next step, so the
    session's ids and trading day must be known when they are handled, not one task step later.
    ``after_login`` (settlement confirm, instrument list …) runs in the login task afterwards.
    """

    def __init__(self, api: Any, module: ModuleType, ctp: CtpConfig, listener: SessionListener, *,
                 authenticate: bool, backoff: Backoff, after_login: AfterLogin | None = None,
                 logged_in: LoggedIn | None = None, next_rid: Callable[[], int] | None = None,
                 timeout: float = REQUEST_TIMEOUT_S) -> None:
        self._api, self._module, self._ctp = api, module, ctp
        self._listener = listener
        self._authenticate = authenticate and bool(ctp.app_id)
        self._backoff = backoff
        self._after_login = after_login
        self._logged_in = logged_in
        self._login_rid: int | None = None
        self._logged_in_done = False
        self._own_rid = 0
        self.requests = Requests(next_rid or self._next_own_rid, timeout)
        self.front_up = False
        self.ready = False
        self.login: LoginInfo | None = None
        self._task: asyncio.Task[None] | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._stopped = False

    def _next_own_rid(self) -> int:
        self._own_rid += 1
        return self._own_rid

    # --- callbacks --------------------------------------------------------------------------------

    def handle(self, name: str, *args: Any) -> bool:
        """One bridged callback; True when it was the session's to handle."""
        if name == "OnFrontConnected":
            self._on_front_connected()
        elif name == "OnFrontDisconnected":
            self._on_front_disconnected(int(args[0]))
        elif name == "OnHeartBeatWarning":
            log.warning("ctp front silent for %ss", args[0])
        elif name == "OnRspError":
            error, rid, last = args
            return self.requests.on_rsp(None, error, rid, last)
        elif name == "OnRspUserLogin" and len(args) == 4:
            self._on_login_answer(*args)
            return self.requests.on_rsp(*args)
        elif name.startswith("OnRsp") and len(args) == 4:
            return self.requests.on_rsp(*args)
        else:
            return False
        return True

    def _on_front_connected(self) -> None:
        if self._stopped:
            return
        self._cancel()
        self.front_up, self.ready, self.login = True, False, None
        self._logged_in_done = False
        self._listener.front_connected()
        self._start()

    def _on_front_disconnected(self, reason: int) -> None:
        self.front_up = self.ready = False
        self.login = None
        self._cancel()
        self.requests.fail_all(disconnect_text(reason))
        if not self._stopped:
            self._listener.front_disconnected(disconnect_text(reason))

    def _on_login_answer(self, row: Row | None, error: Error | None, rid: int, last: bool) -> None:
        """Our login's successful answer: the session's ids, now (see the class docstring)."""
        if rid != self._login_rid or row is None or (error is not None and error[0] != 0):
            return
        self._login_rid = None
        try:
            self.login = self._login_info([row])
            self._note_logged_in(self.login)
        except Exception:  # the login task calls it again and retries like a failed client step
            log.exception("ctp logged-in step failed")

    def _note_logged_in(self, login: LoginInfo) -> None:
        if not self._logged_in_done and self._logged_in is not None:
            self._logged_in(login)
        self._logged_in_done = True

    # --- the sequence -----------------------------------------------------------------------------

    def _start(self) -> None:
        self._retry = None
        if self.front_up and not self._stopped and not self.ready:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ctp-login")

    def _cancel(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    async def _run(self) -> None:
        try:
            if self.login is None:
                if self._authenticate:
                    await self.requests.call("authentication", self._send_authenticate)
                rows = await self.requests.call("login", self._send_login)
                self.login = self.login or self._login_info(rows)
            self._note_logged_in(self.login)
            if self._after_login is not None:
                await self._after_login(self.login)
        except RequestFailed as failure:
            self._failed(failure)
            return
        except Exception as exc:  # a bug in a client's step: retried like a refusal, with its traceback logged
            log.exception("ctp login step failed")
            self._failed(RequestFailed("after login", -1, repr(exc)))
            return
        self._backoff.reset()
        self.ready = True
        self._listener.ready(self.login)

    def _failed(self, failure: RequestFailed) -> None:
        if failure.fatal or self._stopped or not self.front_up:
            self._listener.login_failed(failure, None)
            return
        delay = self._backoff.next()
        self._listener.login_failed(failure, delay)
        self._retry = asyncio.get_running_loop().call_later(delay, self._start)

    def _send_authenticate(self, rid: int) -> int:
        f = self._module.CThostFtdcReqAuthenticateField()
        f.BrokerID, f.UserID, f.AppID = self._ctp.broker_id, self._ctp.user_id, self._ctp.app_id
        f.AuthCode = self._ctp.auth_code.reveal()
        return int(self._api.ReqAuthenticate(f, rid))

    def _send_login(self, rid: int) -> int:
        f = self._module.CThostFtdcReqUserLoginField()
        f.BrokerID, f.UserID = self._ctp.broker_id, self._ctp.user_id
        f.Password = self._ctp.password.reveal()
        self._login_rid = rid
        return int(self._api.ReqUserLogin(f, rid))

    def _login_info(self, rows: list[Row]) -> LoginInfo:
        if not rows:
            raise RequestFailed("login", -1, "empty login answer")
        row = rows[0]
        day = str(row.get("TradingDay", "")) or str(self._api.GetTradingDay())
        return LoginInfo(front_id=int(row.get("FrontID", 0)), session_id=int(row.get("SessionID", 0)),
                         max_order_ref=ref_number(row.get("MaxOrderRef", "")) or 0, trading_day=day, row=row)

    async def stop(self) -> None:
        self._stopped = True
        task = self._task
        self._cancel()
        self.requests.fail_all("stopped")
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task
