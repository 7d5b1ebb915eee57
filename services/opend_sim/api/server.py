"""The OpenD API port: TCP listener, per-connection read loop, dispatch, and the market clock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opend_sim.api import framing, pb
from opend_sim.api.conn import ConnectionProtos
from opend_sim.api.quotes import QuoteService
from opend_sim.api.reference import ReferenceService
from opend_sim.api.session import Session
from opend_sim.api.store import StateStore
from opend_sim.api.trading import TradeService
from tradebus.sim import SimMarket

# stdlib logging: quiet (warnings to stderr) unless the process configures it, so nothing of ours
# mixes into the OpenD console on stdout; tradebus.logs routes it into structlog when configured
log = logging.getLogger("opend_sim.api")

Handler = Callable[[Session, Any], Any]

NOT_LOGGED_IN = "OpenD is not logged in yet, please complete the login first"
INIT_CONNECT_FIRST = "Please send InitConnect first"
UNSUPPORTED = "unsupported"
SHA1_MISMATCH = "The SHA1 of the packet body does not match its header"
INTERNAL_ERROR = "Internal error"
# answered even after a logout, so a client can still see the login state and stay connected
_ALWAYS_ALLOWED = frozenset({1002, 1004})
_CLOSE_TIMEOUT = 5.0


class OpenDApiServer:
    """OpenD's API port over a SimMarket, for the unmodified futu-api.

    The wire facts it relies on: docs/simulators.md, 'OpenD's API port: wire facts'.

    Behaviour chosen to match real OpenD:
    * InitConnect is refused (retType -1, the login state as retMsg) until ``is_logged_in()``; futu-api
      then retries every 6 s. After a logout, API calls are refused the same way, while KeepAlive and
      GetGlobalState (qotLogined/trdLogined false) still answer.
    * Plaintext only: an encrypted InitConnect is refused with an explanation. Replies and pushes are
      always protobuf, whatever the request's format (JSON requests are accepted).
    * A bad SHA1 or an undecodable body costs that request only; a bad magic or absurd length closes
      that connection only.

    Extras beyond the entry point's contract: ``login_status`` gives the retMsg used while not logged
    in; ``sub_quota`` / ``unsub_min_seconds`` are OpenD's subscription quota and minimum subscription
    age; ``tick_interval <= 0`` runs no clock (the owner calls :meth:`step`). With ``state_path``, a
    saved market replaces ``market`` (see :attr:`market`), as the broker's state outlives OpenD.
    """

    def __init__(self, market: SimMarket, *, login_account: str, trade_pwd_md5: str,
                 is_logged_in: Callable[[], bool], tick_interval: float = 0.5,
                 state_path: Path | None = None, login_status: Callable[[], str] | None = None,
                 sub_quota: int = 100, unsub_min_seconds: float = 60.0) -> None:
        self._store = StateStore(state_path)
        restored = self._store.load()
        if restored is not None:  # instruments added since the state was saved are listed too
            for inst in market.instruments():
                restored.add_instrument(inst)
        self.market: SimMarket = restored if restored is not None else market
        self._is_logged_in = is_logged_in
        self._login_status = login_status
        self._tick_interval = tick_interval
        self._sessions: dict[int, Session] = {}
        self._conn = ConnectionProtos(login_account, is_logged_in, self.market.now_ns)
        self.quotes = QuoteService(self.market, quota=sub_quota, unsub_min_seconds=unsub_min_seconds)
        self.trading = TradeService(self.market, login_account=login_account, trade_pwd_md5=trade_pwd_md5,
                                    sessions=lambda: list(self._sessions.values()), on_change=self._persist)
        self.reference = ReferenceService(self.quotes, self.market.now_ns)
        self._handlers: dict[int, Handler] = {
            **self._conn.handlers(), **self.quotes.handlers(), **self.reference.handlers(),
            **self.trading.handlers()}
        self._server: asyncio.Server | None = None
        self._market_task: asyncio.Task[None] | None = None
        self._conn_tasks: set[asyncio.Task[Any]] = set()
        self.refused_logins = 0  # InitConnects refused because OpenD was not logged in
        self._persist()  # the accounts just opened are broker state too

    # lifecycle -------------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._serve, host, port)
        bound = self._server.sockets[0].getsockname()[1]
        if self._tick_interval > 0:  # 0: no clock, the owner advances the market with step()
            self._market_task = asyncio.create_task(self._run_market(), name="opend_sim.market")
        log.info("API port listening on %s:%d", host, bound)
        return bound

    async def close(self) -> None:
        if self._market_task is not None:
            self._market_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._market_task
            self._market_task = None
        if self._server is not None:
            self._server.close()
        for session in list(self._sessions.values()):
            session.writer.close()
        if self._conn_tasks:
            await asyncio.wait(self._conn_tasks, timeout=_CLOSE_TIMEOUT)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    @property
    def connection_count(self) -> int:
        return len(self._sessions)

    # connections -----------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conn_tasks.add(task)
        session = Session(writer)
        self._sessions[session.conn_id] = session
        log.debug("API client connected: conn_id=%d peer=%s", session.conn_id, session.peer)
        try:
            await self._read_loop(session, reader)
        finally:
            self._sessions.pop(session.conn_id, None)
            self.quotes.drop_session(session)
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()
            if task is not None:
                self._conn_tasks.discard(task)
            log.debug("API client disconnected: conn_id=%d", session.conn_id)

    async def _read_loop(self, session: Session, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                frame = await framing.read_frame(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            except framing.FrameError as exc:
                # the stream has lost its framing: nothing later on it can be trusted
                log.warning("closing connection %d: unframeable stream (%s)", session.conn_id, exc)
                return
            self._dispatch(session, frame)

    def _dispatch(self, session: Session, frame: framing.Frame) -> None:
        try:
            rsp = self._answer(session, frame)
        except Exception:
            # a bug in one handler must cost one request, never the connection or the server
            log.exception("handler of proto %d failed on connection %d", frame.proto_id, session.conn_id)
            rsp = pb.error_response(frame.proto_id, INTERNAL_ERROR)
        session.send(frame.proto_id, frame.serial, rsp)
        session.flush_deferred()
        self._flush_market_events()

    def _answer(self, session: Session, frame: framing.Frame) -> Any:
        pid = frame.proto_id
        if not frame.sha1_ok:
            return pb.error_response(pid, SHA1_MISMATCH)
        handler = self._handlers.get(pid)
        if handler is None:
            return pb.error_response(pid, UNSUPPORTED)
        refusal = self._refusal(session, pid)
        if refusal is not None:
            return pb.error_response(pid, refusal)
        try:
            req = pb.decode_request(pid, frame.fmt, frame.body)
        except pb.BodyError as exc:
            return pb.error_response(pid, str(exc))
        return handler(session, req)

    def _refusal(self, session: Session, proto_id: int) -> str | None:
        if proto_id == 1001:
            # OpenD answers InitConnect before its login completes with the login state as the
            # error (futu-api then retries every 6 s), so no context becomes READY before login.
            if self._is_logged_in():
                return None
            self.refused_logins += 1
            return self._not_logged_in_text()
        if not session.ready:
            return INIT_CONNECT_FIRST
        if proto_id in _ALWAYS_ALLOWED or self._is_logged_in():
            return None
        return self._not_logged_in_text()

    def _not_logged_in_text(self) -> str:
        status = self._login_status() if self._login_status is not None else ""
        return status or NOT_LOGGED_IN

    # market clock ----------------------------------------------------------------------------

    async def _run_market(self) -> None:
        while True:
            await asyncio.sleep(self._tick_interval)  # the tick rate itself, not a wait for a condition
            try:
                self.step()
            except Exception:
                log.exception("market step failed")

    def step(self) -> None:
        """Advance the market one step and push what it produced (call on the server's loop)."""
        self.market.step()
        self._flush_market_events()

    def _flush_market_events(self) -> None:
        # trade pushes first: the order/deal that moved the price is news before the price itself
        self.trading.flush()
        self.quotes.flush(list(self._sessions.values()))

    def _persist(self) -> None:
        self._store.save(self.market)
