"""One console connection: login, then the System / Market / Trading panels kept live.

Nothing but login answers leaves the edge before a login or resume succeeds. After it, one loop per
connection sends what changed: the system snapshot when the :class:`SystemWatch` moved (or every few
seconds, so "missing" services show), quotes of the watched instruments at most every
``console_quote_interval_s`` (the newest tick wins: conflation), orders and fills as soon as the event
store says something happened, funds and positions after a fill and every ``console_refresh_s``.
At the login's absolute expiry the page gets ``session_expired`` and the socket closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from typing import TYPE_CHECKING, Any

import msgspec

from tradebus.bus import BusError
from tradebus.logs import get_logger
from tradebus.ratelimit import TokenBucket
from tradebus.schemas import AUTH_DECODER
from tradebus.schemas.auth import AuthCommand, AuthReply
from tradebus.schemas.market import Tick
from tradebus.subjects import auth_cmd
from tradebus.users import User
from ws_edge.channel import Channel
from ws_edge.console import protocol as p
from ws_edge.console.sessions import ConsoleLogin, SessionStore
from ws_edge.console.system import SystemWatch
from ws_edge.console.trading import Refused, Trader
from ws_edge.instruments import BusInstrument
from ws_edge.order_desk import INSTRUMENT_HINT

if TYPE_CHECKING:
    from ws_edge.edge import Edge

log = get_logger("ws_edge.console")
SYSTEM_RESEND_S = 2.0  # the system snapshot goes out at least this often (ages, missing services)
MAX_WATCHED = 50
EXPIRED_TEXT = "Your session expired — log in again."
ENDED_TEXT = "Your session is no longer valid (it expired or was logged out) — log in again."
WRONG_LOGIN_TEXT = "Wrong user name or password."
STORE_DOWN_TEXT = "The login store is not reachable (the bus is away) — try again in a moment."
CLOSE_EXPIRED = 4001  # application close codes (4000-4999): the page knows why
CLOSE_LOGOUT = 4000


class QuoteSink:
    """What :class:`MarketHub` fans ticks out to (``send_tick`` / ``drop_ticks``, as a Channel has): the
    console only notes which instrument moved; its loop reads the newest tick when it is time to send."""

    def __init__(self) -> None:
        self.dirty: set[BusInstrument] = set()

    def send_tick(self, key: Any, frame: bytes) -> None:
        self.dirty.add(key)

    def drop_ticks(self, key: Any) -> None:
        self.dirty.discard(key)


def quote_row(instrument_id: str, tick: Tick) -> dict[str, Any]:
    bid, ask = tick.best_bid, tick.best_ask
    return {"instrument": instrument_id, "last": tick.last, "bid": bid.price if bid else None,
            "bid_qty": bid.qty if bid else None, "ask": ask.price if ask else None, "ask_qty": ask.qty if ask else None,
            "volume": tick.volume, "prev_close": tick.prev_close, "ts": tick.ts_event / 1e9}


class ConsoleSession:
    def __init__(self, edge: Edge, logins: SessionStore, system: SystemWatch, channel: Channel,
                 address: str) -> None:
        self.edge = edge
        self.logins = logins  # the console's login tokens, shared by its sessions
        self.system = system  # the console's one watch of the system, shared by its sessions
        self.channel = channel
        self.address = address
        cfg = self.edge.config
        self.bucket = TokenBucket(cfg.rate_per_s, cfg.rate_burst)
        self.session_id = secrets.randbelow(2**31 - 2) + 1  # orders show as FrontID 1 / this SessionID in /td/
        self.user: User | None = None
        self.login: ConsoleLogin | None = None
        self.token = ""
        self.trader: Trader | None = None
        self.sink = QuoteSink()
        self.watched: dict[str, BusInstrument] = {}
        self.orders_dirty = False
        self.fills_seen = -1  # fills in all (not just the rows shown), so the 201st fill still refreshes
        self.refresh_at = 0.0
        self.system_sent = (-1, 0.0)  # (version, when)
        self.quotes_at = 0.0
        self.wake = asyncio.Event()
        self.ended = False
        self._loop_task: asyncio.Task[None] | None = None
        self._refresh_task: asyncio.Task[None] | None = None

    @property
    def user_name(self) -> str:
        return self.user.name if self.user else ""

    def send(self, kind: str, **fields: Any) -> None:
        self.channel.send(p.out(kind, **fields))

    # --- input ---------------------------------------------------------------------------------

    async def handle_frame(self, frame: str | bytes) -> None:
        """One browser message; every problem is answered with an ``error`` and the socket stays up."""
        try:
            await self._handle(frame)
        except Refused as exc:
            self.send("error", message=str(exc))
        except Exception:
            log.exception("console request failed", user=self.user_name)
            self.send("error", message="internal error: the request was not completed (see the ws_edge log)")

    async def _handle(self, frame: str | bytes) -> None:
        self.edge.requests_in.inc(1.0, "console")
        if not self.bucket.take():
            self.edge.rate_limited.inc()
            raise Refused(f"too many requests: at most {self.edge.config.rate_per_s:g} per second")
        if isinstance(frame, bytes):
            raise Refused("binary frames are not supported: send JSON text")
        if len(frame) > self.edge.config.max_frame_bytes:
            raise Refused(f"message of {len(frame)} characters is too long")
        try:
            message = p.decode(frame)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise Refused(f"bad message: {exc}") from None
        except RecursionError:  # found by the fuzz test: "[[[[…" deeper than the decoder's limit
            raise Refused("bad message: nested too deeply") from None
        if self.user is None and not isinstance(message, p.BEFORE_LOGIN):
            raise Refused("log in first")
        await self._dispatch(message)

    async def _dispatch(self, message: p.ClientMessage) -> None:
        match message:
            case p.Ping():
                self.send("pong")
            case p.Login():
                await self._login(message)
            case p.Resume():
                await self._resume(message)
            case p.Logout():
                await self._logout()
            case p.WatchAdd():
                await self._watch_add(message.instrument.strip())
            case p.WatchRemove():
                await self._watch_remove(message.instrument.strip())
            case p.VerifyCode():
                await self._verify_code(message)
            case p.Place():
                await self._place(message)
            case p.Cancel():
                await self._cancel(message)

    # --- login -----------------------------------------------------------------------------------

    async def _login(self, message: p.Login) -> None:
        if self.user is not None:
            raise Refused(f"already logged in as {self.user_name}")
        user = await self.edge.authenticate(message.user, message.password, self.address)
        if user is None:
            self.send("login_failed", message=WRONG_LOGIN_TEXT)
            return
        try:
            token, login = await self.logins.issue(user.name)
        except Exception as exc:  # the login store (NATS KV) is away: no token that other instances would refuse
            log.warning("console login not stored", user=user.name, error=str(exc) or type(exc).__name__)
            self.send("login_failed", message=STORE_DOWN_TEXT)
            return
        log.info("console login", user=user.name, address=self.address)
        await self._start(user, login, token)

    async def _resume(self, message: p.Resume) -> None:
        if self.user is not None:
            raise Refused(f"already logged in as {self.user_name}")
        try:
            login = await self.logins.resume(message.token)
        except Exception as exc:
            log.warning("console resume not checked", error=str(exc) or type(exc).__name__)
            self.send("login_failed", message=STORE_DOWN_TEXT, resumed=True)
            return
        user = self.edge.users.get(login.user) if login else None
        if login is None or user is None:
            self.send("login_failed", message=ENDED_TEXT, resumed=True)
            return
        log.info("console resume", user=user.name, address=self.address)
        await self._start(user, login, message.token)

    async def _start(self, user: User, login: ConsoleLogin, token: str) -> None:
        self.user, self.login, self.token = user, login, token
        self.trader = Trader(self.edge, user, self.session_id, await self.edge.accounts_of(user))
        futures = self.edge.config.futures_venue
        accounts = [{"venue": v, "account": a, "kind": "futures" if v == futures else "stocks"}
                    for v, a in self.trader.accounts()]
        self.send("login_ok", user=user.name, token=token, expires_at=login.expires_at, accounts=accounts,
                  session_s=self.edge.config.console_session_s)
        await self.system.start()
        for venue, account in self.trader.accounts():
            feed = await self.edge.book.feed(venue, account)
            feed.targets.add(self)
        self.orders_dirty = True
        self._loop_task = asyncio.create_task(self._run(), name="console-loop")

    async def _logout(self) -> None:
        await self.logins.revoke(self.token)
        log.info("console logout", user=self.user_name, address=self.address)
        await self._end("logged_out", "You are logged out.", CLOSE_LOGOUT)

    async def _end(self, kind: str, message: str, code: int) -> None:
        """The last message of this connection, then close it."""
        self.ended = True
        self.send(kind, message=message)
        await self.release()
        with contextlib.suppress(Exception):
            await self.channel.conn.close(code, kind)

    # --- market ------------------------------------------------------------------------------------

    async def _watch_add(self, instrument_id: str) -> None:
        if instrument_id in self.watched:
            self._send_watch()
            return
        if len(self.watched) >= MAX_WATCHED:
            self.send("watch_result", ok=False, instrument=instrument_id,
                      message=f"at most {MAX_WATCHED} instruments per console: remove one first")
            return
        instrument = self.edge.instruments.resolve(instrument_id)
        if instrument is None:
            self.send("watch_result", ok=False, instrument=instrument_id,
                      message=f"unknown instrument {instrument_id!r}: {INSTRUMENT_HINT}")
            return
        problem = await self.edge.market.acquire(instrument)
        if problem:
            self.send("watch_result", ok=False, instrument=instrument_id,
                      message=f"no market data for {instrument_id}: {problem}")
            return
        self.watched[instrument_id] = instrument
        await self.edge.market.attach(self.sink, instrument)  # type: ignore[arg-type]  # a Channel-like sink
        self.send("watch_result", ok=True, instrument=instrument_id, message="")
        self._send_watch()

    async def _watch_remove(self, instrument_id: str) -> None:
        instrument = self.watched.pop(instrument_id, None)
        if instrument is not None and instrument not in self.watched.values():
            await self.edge.market.release(self.sink, instrument)  # type: ignore[arg-type]
        self._send_watch()

    def _send_watch(self) -> None:
        self.send("watch", instruments=list(self.watched))
        self.sink.dirty.update(self.watched.values())  # new rows get their quote with the next batch

    def _send_quotes(self) -> None:
        by_instrument = {inst: iid for iid, inst in self.watched.items()}
        rows = []
        for instrument in self.sink.dirty:
            tick = self.edge.market.last_tick(instrument)
            if tick is not None and instrument in by_instrument:
                rows.append(quote_row(by_instrument[instrument], tick))
        self.sink.dirty.clear()
        if rows:
            self.send("quotes", rows=rows)

    # --- system ------------------------------------------------------------------------------------

    async def _verify_code(self, message: p.VerifyCode) -> None:
        if message.instance not in self.system.opend:
            raise Refused(f"no OpenD instance {message.instance!r} is known")
        command = AuthCommand(op="verify_code", code=message.code.strip(), user=f"console:{self.user_name}")
        log.info("console verify code", user=self.user_name, instance=message.instance)  # never the code
        try:
            reply = await self.edge.bus.request(auth_cmd(message.instance), command, AUTH_DECODER,
                                                timeout=self.edge.config.request_timeout_s)
        except BusError as exc:
            self.send("verify_result", ok=False, instance=message.instance, state="",
                      message=f"auth_broker did not answer: {exc}")
            return
        if not isinstance(reply, AuthReply):
            raise Refused("unexpected answer from auth_broker")
        text = "code sent; waiting for OpenD" if reply.ok else f"refused: {reply.error}"
        self.send("verify_result", ok=reply.ok, instance=message.instance, state=reply.state.value, message=text)

    # --- trading -----------------------------------------------------------------------------------

    async def _place(self, message: p.Place) -> None:
        assert self.trader is not None
        try:
            ok, text, coid = await self.trader.place(message)
        except Refused as exc:
            ok, text, coid = False, str(exc), ""
        self.send("order_result", ok=ok, message=text, client_order_id=coid)

    async def _cancel(self, message: p.Cancel) -> None:
        assert self.trader is not None
        try:
            ok, text = await self.trader.cancel(message)
        except Refused as exc:
            ok, text = False, str(exc)
        self.send("cancel_result", ok=ok, message=text, client_order_id=message.client_order_id)

    def push_frames(self, frames: list[bytes]) -> None:
        """An AccountFeed folded an event of one of our accounts (the webctp frames are not ours)."""
        self.orders_dirty = True
        self.wake.set()

    def _send_orders(self) -> None:
        assert self.trader is not None
        orders, fills, fill_count = self.trader.orders_and_fills()
        self.send("orders", orders=orders)
        self.send("fills", fills=fills)
        if fill_count != self.fills_seen:
            self.fills_seen = fill_count
            self.refresh_at = 0.0  # a fill moves funds and positions: re-read them now

    async def _refresh_accounts(self) -> None:
        assert self.trader is not None
        if not await self._still_logged_in():
            return
        try:
            positions, funds = await asyncio.gather(self.trader.positions(), self.trader.funds())
        except Exception:
            log.exception("console account refresh failed", user=self.user_name)
            return
        if not self.ended:
            self.send("positions", positions=positions)
            self.send("funds", funds=funds)

    async def _still_logged_in(self) -> bool:
        """Whether the token still stands: a logout on another ws_edge instance (or another tab) deletes
        it from the shared bucket, and this socket then ends within ``console_refresh_s``."""
        try:
            login = await self.logins.resume(self.token)
        except Exception:  # the store is away: keep the socket; the next check decides
            return True
        if login is None and not self.ended:
            log.info("console session ended elsewhere", user=self.user_name, address=self.address)
            await self._end("logged_out", "You were logged out.", CLOSE_LOGOUT)
        return login is not None

    # --- the loop ------------------------------------------------------------------------------------

    async def _run(self) -> None:
        cfg = self.edge.config
        try:
            while not self.ended:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), cfg.console_quote_interval_s)
                self.wake.clear()
                await self._tick()
        except Exception:
            log.exception("console loop failed", user=self.user_name)
            await self._end("error", "internal error: reload the page", 1011)

    async def _tick(self) -> None:
        assert self.login is not None
        if time.time() >= self.login.expires_at:
            await self.logins.revoke(self.token)
            log.info("console session expired", user=self.user_name, address=self.address)
            await self._end("session_expired", EXPIRED_TEXT, CLOSE_EXPIRED)
            return
        now = time.monotonic()
        system = self.system
        version, sent_at = self.system_sent
        if system.version != version or now - sent_at >= SYSTEM_RESEND_S:
            self.system_sent = (system.version, now)
            self.send("system", **system.snapshot())
        if self.orders_dirty:
            self.orders_dirty = False
            self._send_orders()
        if now >= self.refresh_at and (self._refresh_task is None or self._refresh_task.done()):
            # Off the loop: a venue that is slow to answer must not hold up orders, quotes or the system panel.
            self.refresh_at = now + self.edge.config.console_refresh_s
            self._refresh_task = asyncio.create_task(self._refresh_accounts(), name="console-refresh")
        if now - self.quotes_at >= self.edge.config.console_quote_interval_s and self.sink.dirty:
            self.quotes_at = now
            self._send_quotes()

    async def release(self) -> None:
        """Give back what this session held (idempotent): market references and account-feed pushes."""
        self.edge.book.detach(self)
        for instrument in set(self.watched.values()):
            with contextlib.suppress(Exception):  # md_ingest away: it drops our reference when it sees us gone
                await self.edge.market.release(self.sink, instrument)  # type: ignore[arg-type]
        self.watched.clear()

    async def closed(self) -> None:
        """The socket is gone: release the market references and the account feeds."""
        self.ended = True
        for task in (self._loop_task, self._refresh_task):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self.release()
