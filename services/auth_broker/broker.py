"""auth_broker: supervise OpenD, drive its login, and tell the WebSocket and the bus.

The :class:`AuthMachine` decides; this class does the timing and the I/O: spawning OpenD in a pty,
reading its console, writing commands (console or telnet), restart backoff, the start/verify timers,
SMS request spacing, the state-folder lock, and shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from collections import deque
from collections.abc import Callable

from auth_broker.bus_link import BusLink
from auth_broker.console_lines import LineAssembler
from auth_broker.external import start_websocket
from auth_broker.machine import (
    CODE_RE,
    STOPPED,
    AuthMachine,
    Broadcast,
    Changed,
    Credentials,
    Effect,
    KillChild,
    Reason,
    RequestSms,
    Write,
)
from auth_broker.markers import classify, classify_prompt
from auth_broker.opend_process import OpenDChild
from auth_broker.settings import ostai_retry_base, resolve
from auth_broker.state_lock import StateDirLock, StateDirLocked
from auth_broker.telnet_sink import send_telnet
from auth_broker.ws_server import OstaiServer
from tradebus.backoff import Backoff
from tradebus.config import Config, ConfigError
from tradebus.logs import get_logger
from tradebus.redact import REDACTOR
from tradebus.runtime import Service
from tradebus.schemas.auth import AuthState
from tradebus.schemas.health import ChildProcess

log = get_logger("auth_broker")

# Variables OpenD has no use for and must not inherit: the credentials travel on its command line.
_CHILD_ENV_DROP = re.compile(r"^(FUTU_LOGIN_PWD(_MD5)?|TRADEBUS_.*(PASSWORD|PWD|TOKEN|SECRET|AUTH_CODE).*)$")
ECHO_MEMORY = 8


class AuthBroker(Service):
    name = "auth_broker"

    def __init__(self, config: Config) -> None:
        try:
            config, self.settings = resolve(config, os.environ)
        except ConfigError as exc:
            print(f"auth_broker: configuration error: {exc}", flush=True)
            raise SystemExit(2) from None
        super().__init__(config)
        for secret in self.settings.credentials.secret_values() + config.secrets():
            REDACTOR.add_secret(secret)
        auth = self.settings.auth
        creds = self.settings.credentials
        if not creds.md5_is_hex:
            log.warning("futu.login_pwd_md5 (FUTU_LOGIN_PWD_MD5) is not 32 hex digits; passed to opend as given, "
                        "which will refuse the login unless it expects this value")
        self.machine = AuthMachine(Credentials(creds.account, creds.pwd.reveal()), pic_codes=auth.pic_codes,
                                   supervise=auth.supervise)
        self.machine.pic_path = str(self.settings.state_dir / "F3CNN" / "PicVerifyCode.png")
        self.ws = OstaiServer(auth, self)
        self.link: BusLink | None = None
        self.lock = StateDirLock(self.settings.state_dir)
        self.child: OpenDChild | None = None
        self._lines = LineAssembler()
        self._prompt_partial = ""
        self._echo: deque[str] = deque(maxlen=ECHO_MEMORY)
        self._stopping = False
        self._backoff = Backoff(auth.backoff_initial_s, auth.backoff_max_s, jitter=0.0)
        self._quick_exits = 0  # quick exits in a row without a login: a crash loop at max_quick_exits
        self._fast_exits = 0  # quick exits in a row, logged in or not: restarts back off past instant_restarts
        self._restarts = 0
        self._last_spawn = -1e9
        self._connected_at: float | None = None
        self._last_sms_request = -1e9
        self._sms_blocked_until = -1e9
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._watch: asyncio.Task[None] | None = None
        self._states = self.metrics.counter("auth_state_changes_total", "login state changes", ("state",))
        self._spawns = self.metrics.counter("opend_spawns_total", "OpenD processes started")
        self.metrics.gauge("auth_status", "ostai STATUS number of the login", source=lambda: float(self.ws_status()))
        self.metrics.gauge("ws_clients", "connected WebSocket clients", source=lambda: float(self.ws.client_count))

    # ================================================================== service lifecycle
    async def start(self) -> None:
        auth = self.settings.auth
        self.link = BusLink(self.bus, auth.instance, lambda: self.machine.state, {
            "status": lambda code, user: (True, ""),
            "init": lambda code, user: self.init(f"bus:{user}"),
            "verify_code": lambda code, user: self.verify_code(code or "", f"bus:{user}"),
            "verify_pic_code": lambda code, user: self.verify_pic_code(code or "", f"bus:{user}"),
        })
        await self.link.start()
        self.link.announce(None, AuthState.ORIGIN, "broker started")  # a crashed run's CONNECTED is stale
        if auth.ws_enabled:
            await start_websocket(self.ws, self.config)
        if auth.init_on_start:
            self._spawn_after(0.0)
        else:
            log.info("waiting for INIT before starting opend (init_on_start is off)")

    async def stop(self) -> None:
        self._stopping = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self.child is not None and self.child.running:
            log.info("stopping opend", pid=self.child.pid)
            await self.child.stop(self.settings.auth.stop_grace_s)
        if self._watch is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._watch, 2.0)
        await self.ws.close()
        if self.link is not None:
            await self.link.flush(1.5)
            await self.link.close()
        for task in list(self._tasks):
            task.cancel()
        self.lock.release()

    def checks(self) -> dict[str, str]:
        # Waiting for a code or restarting is the broker doing its job; only a halt needs an operator.
        state = self.machine.state
        return {"opend": f"stopped until INIT: {self.machine.reason}" if state is AuthState.FAILED else "ok"}

    def children(self) -> tuple[ChildProcess, ...]:
        child = self.child
        running = child is not None and child.running
        return (ChildProcess(name="opend", state="running" if running else self.machine.state.value,
                             pid=child.pid if running and child else None, restarts=self._restarts,
                             healthy=self.machine.state is AuthState.CONNECTED, detail=self.machine.reason),)

    # ================================================================== client requests
    def ws_status(self) -> int:
        return self.machine.ws_status

    def ws_on_connect(self) -> list[dict[str, object]]:
        return self.machine.on_connect_messages()

    def ws_init(self, client: str) -> None:
        self.init(client)

    def ws_verify_code(self, code: str, client: str) -> None:
        self.verify_code(code, client)

    def ws_verify_pic_code(self, code: str, client: str) -> None:
        self.verify_pic_code(code, client)

    def init(self, client: str) -> tuple[bool, str]:
        state = self.machine.state
        if state not in STOPPED or (self.child is not None and self.child.running):
            log.info("INIT ignored: opend is already running", client=client, state=state.value)
            return False, f"opend is already running (state {state.value})"
        if state is AuthState.FAILED:
            self._backoff.reset()
            self._quick_exits = self._fast_exits = 0
        gap = max(0.0, self.settings.auth.min_spawn_gap_s - (time.monotonic() - self._last_spawn))
        log.info("INIT: starting opend", client=client, in_s=round(gap, 2))
        self._spawn_after(gap)
        return True, ""

    def verify_code(self, code: str, client: str) -> tuple[bool, str]:
        if self.machine.state is AuthState.REQUESTING_PIC_CODE and client.startswith("bus:"):
            return self.verify_pic_code(code, client)  # on the bus, "the code OpenD asks for"
        return self._code(self.machine.on_verify_code, code, client, "verify code")

    def verify_pic_code(self, code: str, client: str) -> tuple[bool, str]:
        return self._code(self.machine.on_verify_pic_code, code, client, "picture code")

    def _code(self, accept: Callable[[str], tuple[list[Effect], str]], code: str, client: str,
              what: str) -> tuple[bool, str]:
        if CODE_RE.match(code):
            REDACTOR.add_secret(code)  # whatever happens next, this value never reaches a log line
        effects, problem = accept(code)
        if problem:
            log.warning(f"{what} not used", client=client, problem=problem, state=self.machine.state.value)
            return False, problem
        log.info(f"{what} received", client=client, state=self.machine.state.value)
        self._apply(effects)
        return True, ""

    # ================================================================== the OpenD process
    def _spawn_after(self, delay: float) -> None:
        self._cancel("respawn")
        if delay <= 0:
            self._track(self._spawn())
        else:
            self._timers["respawn"] = asyncio.get_running_loop().call_later(
                delay, lambda: self._track(self._spawn()))

    async def _spawn(self) -> None:
        if self._stopping or (self.child is not None and self.child.running):
            return
        try:
            self.lock.acquire()
        except (StateDirLocked, OSError) as exc:
            log.error("opend not started: state folder locked", problem=str(exc))
            self._apply(self.machine.on_not_started(Reason.STATE_LOCKED))
            return
        self._lines = LineAssembler()
        self._prompt_partial = ""
        child = OpenDChild(self.settings.opend_argv(), self._child_env(), self._on_output)
        self._last_spawn = time.monotonic()
        try:
            await child.spawn()
        except OSError as exc:
            log.error("opend could not be started", problem=exc.strerror or str(exc),
                      argv=self.settings.printable_argv())
            self._apply(self.machine.on_not_started(f"{Reason.START_FAILED}: {exc.strerror or exc}"))
            return
        self.child = child
        self._spawns.inc()
        self._connected_at = None
        log.info("opend started", pid=child.pid, argv=self.settings.printable_argv())
        self._apply(self.machine.on_spawned())
        self._start_timer("start", self.settings.auth.start_timeout_s, self._on_start_timeout)
        self._watch = asyncio.create_task(self._watch_child(child), name="opend-watch")

    def _child_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not _CHILD_ENV_DROP.match(k)}
        # ostai's restart counter, starting from the FUTU_RETRY it was given (its tests preset it)
        env["FUTU_RETRY"] = str(ostai_retry_base(os.environ) + self._restarts)
        env.setdefault("TERM", "xterm-color")
        return env

    async def _watch_child(self, child: OpenDChild) -> None:
        code = await child.wait()
        for line in self._lines.flush():
            self._on_line(line)
        lifetime = time.monotonic() - child.started
        self._cancel("start", "verify", "sms")
        desc = f"exit code {code}" if code >= 0 else f"signal {signal.Signals(-code).name}"
        log.warning("opend exited", pid=child.pid, how=desc, after_s=round(lifetime, 2))
        self._count_exit(lifetime)
        crash_loop = self._quick_exits >= self.settings.auth.max_quick_exits
        effects, verdict = self.machine.on_exit(crash_loop=crash_loop,
                                               exit_desc=Reason.STOPPING if self._stopping else desc)
        self._apply(effects)
        if self._stopping:
            return
        if verdict.fatal:
            log.error("opend stopped and stays stopped until INIT", reason=verdict.reason)
            return
        delay = self._restart_delay(lifetime)
        self._restarts += 1
        log.info("opend restart scheduled", in_s=round(delay, 2), restarts=self._restarts)
        self._spawn_after(delay)

    def _count_exit(self, lifetime: float) -> None:
        """Update the two exit streaks: quick exits (for the delay) and quick exits without a login
        (for the crash-loop stop)."""
        auth = self.settings.auth
        quick = lifetime < auth.quick_exit_s
        long_logged_in = self._connected_at is not None and \
            time.monotonic() - self._connected_at >= auth.backoff_reset_after_s
        if not quick or long_logged_in:
            self._fast_exits = 0
            self._backoff.reset()
        else:
            self._fast_exits += 1
        if self._connected_at is not None or not quick:
            self._quick_exits = 0
        else:
            self._quick_exits += 1

    def _restart_delay(self, lifetime: float) -> float:
        """ostai restarts at once; so do we, except in a streak of quick exits past ``instant_restarts``,
        where the delay doubles from ``backoff_initial_s`` (Futu rate-limits logins and SMS)."""
        auth = self.settings.auth
        if self._fast_exits <= auth.instant_restarts:
            return 0.0
        return max(self._backoff.next(), auth.min_spawn_gap_s - lifetime)

    def _on_start_timeout(self) -> None:
        if self.machine.state is AuthState.INITIALIZING and self.child is not None and self.child.running:
            log.warning("opend gave no login result in time; restarting it",
                        timeout_s=self.settings.auth.start_timeout_s)
            self._track(self.child.stop(self.settings.auth.stop_grace_s))

    # ================================================================== console
    def _on_output(self, chunk: bytes) -> None:
        try:
            self._on_chunk(chunk)
        except Exception:  # a bug in handling one line must not stop us reading OpenD
            log.exception("opend console line not handled")

    def _on_chunk(self, chunk: bytes) -> None:
        for line in self._lines.feed(chunk):
            self._on_line(line)
        partial = self._lines.partial
        if partial and partial != self._prompt_partial:
            marker = classify_prompt(partial)
            if marker is not None:
                self._prompt_partial = partial
                log.info("opend console", line=partial)
                self._apply(self.machine.on_marker(marker))

    def _on_line(self, line: str) -> None:
        if line in self._echo:  # OpenD (or a terminal) repeating what we typed: not news, maybe a code
            self._echo.remove(line)
            return
        if line == self._prompt_partial:  # the prompt we already answered, now ended by a newline
            self._prompt_partial = ""
            return
        log.info("opend console", line=line)
        marker = classify(line)
        if marker is not None:
            self._apply(self.machine.on_marker(marker))

    # ================================================================== effects
    def _apply(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Changed):
                self._on_changed(effect)
            elif isinstance(effect, Broadcast):
                log.info("websocket broadcast", type=effect.message["type"], clients=self.ws.client_count)
                self.ws.broadcast(effect.message)
            elif isinstance(effect, Write):
                self._write(effect)
            elif isinstance(effect, RequestSms):
                self._request_sms(effect)
            elif isinstance(effect, KillChild):
                log.error("stopping opend", reason=effect.reason)
                if self.child is not None:
                    self._track(self.child.stop(self.settings.auth.stop_grace_s))

    def _on_changed(self, change: Changed) -> None:
        state = change.state
        log.info("auth state", state=state.value, previous=change.previous.value, reason=change.reason,
                 status=self.machine.ws_status)
        self._states.inc(1.0, state.value)
        if state in (AuthState.VERIFYING_CODE, AuthState.VERIFYING_PIC_CODE):
            self._start_timer("verify", self.settings.auth.verify_timeout_s,
                              lambda: self._apply(self.machine.on_verify_timeout()))
        else:
            self._cancel("verify")
        if state is not AuthState.INITIALIZING:
            self._cancel("start")
        if state is AuthState.CONNECTED:
            self._connected_at = time.monotonic()
            self._cancel("sms")
        if self.link is not None:
            self.link.announce(change.previous, state, change.reason)

    def _write(self, write: Write) -> None:
        shown = "(answer to a login prompt)" if write.prompt_answer else write.command
        use_telnet = self.settings.auth.code_channel == "telnet" and not write.prompt_answer
        if not use_telnet:
            try:
                self._console_write(write.command)
                log.info("command typed at opend console", command=shown)
                return
            except OSError as exc:
                if not self.settings.auth.telnet_port or write.prompt_answer:
                    log.error("could not type at opend console", command=shown, problem=str(exc))
                    return
                log.warning("console write failed; using telnet", problem=str(exc))
        self._track(self._telnet_write(write.command, shown))

    def _console_write(self, command: str) -> None:
        if self.child is None or not self.child.running:
            raise OSError("opend is not running")
        self._echo.append(command)
        self.child.write(command)

    async def _telnet_write(self, command: str, shown: str) -> None:
        auth = self.settings.auth
        try:
            reply = await send_telnet(auth.telnet_ip, auth.telnet_port, command)
        except (OSError, TimeoutError) as exc:
            log.error("could not send command over telnet", command=shown, problem=str(exc) or type(exc).__name__)
            return
        log.info("command sent to opend over telnet", command=shown, reply=reply[:3])

    def _request_sms(self, request: RequestSms) -> None:
        auth = self.settings.auth
        now = time.monotonic()
        if request.retry_later:
            self._sms_blocked_until = now + auth.sms_request_interval_s
        if not auth.sms_auto_request:
            log.info("opend wants the SMS requested; automatic request is off")
            return
        due = max(self._last_sms_request + auth.sms_request_interval_s, self._sms_blocked_until)
        if due <= now:
            self._send_sms_request()
        elif "sms" not in self._timers:
            log.info("SMS request scheduled (OpenD allows one per interval)", in_s=round(due - now, 2))
            self._start_timer("sms", due - now, self._send_sms_request)

    def _send_sms_request(self) -> None:
        self._timers.pop("sms", None)
        if self.machine.state is not AuthState.REQUESTING_VERIFY_CODE:
            return
        self._last_sms_request = time.monotonic()
        self._write(Write("req_phone_verify_code"))

    # ================================================================== small helpers
    def _start_timer(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        self._cancel(name)

        def fire() -> None:
            self._timers.pop(name, None)
            callback()

        self._timers[name] = asyncio.get_running_loop().call_later(delay, fire)

    def _cancel(self, *names: str) -> None:
        for name in names:
            handle = self._timers.pop(name, None)
            if handle is not None:
                handle.cancel()

    def _track(self, coro: object) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)  # type: ignore[arg-type]
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)  # type: ignore[arg-type]
        if not task.cancelled() and task.exception() is not None:
            log.error("broker task failed", error=repr(task.exception()))

