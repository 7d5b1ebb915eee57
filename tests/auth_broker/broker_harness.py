"""Run the real ``python -m auth_broker`` against the real ``opend_sim`` (spawned by the broker in a pty).

Each test gets a :class:`BrokerLauncher`; every broker it starts is stopped by pid at teardown (SIGTERM,
then SIGKILL), and so is every OpenD child the broker reported (``opend started pid=…`` in its log), so
nothing outlives a test even if the broker itself was killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tradebus.bus import Bus
from tradebus.bus.flush import flush_in_order
from tradebus.natsd import free_port
from tradebus.schemas import AUTH_DECODER
from tradebus.schemas.auth import AuthCommand, AuthReply, AuthState, AuthStateChanged
from tradebus.subjects import auth_cmd, auth_state

TEST_SPEED = "20"  # opend_sim's delays and rate-limit windows divided by this (60 s -> 3 s)
ACCOUNT = "87654321"
PASSWORD_MD5 = "5f4dcc3b5aa765d61d8327deb882cf99"
VERIFY_CODE = "472913"  # opend_sim's accepted code for these tests (not its default, to catch leaks)
WAIT = 15.0
SERVICES = Path(__file__).resolve().parents[2] / "services"

# ostai's mock OpenD and the broker's own supervision defaults (the launcher shortens them otherwise)
OSTAI_MOCK = Path(__file__).with_name("ostai_mock_opend.py")
OSTAI_DEFAULT_TIMINGS: dict[str, Any] = {"backoff_initial_s": 5.0, "backoff_max_s": 600.0, "min_spawn_gap_s": 5.0,
                                         "quick_exit_s": 60.0, "opend_args": "", "state_dir_flag": ""}

_PID_IN_LOG = re.compile(r'"event": "opend started".*?"pid": (\d+)|opend started.*?pid=(\d+)')


class WsClient:
    """An ostai client: records every frame the server sends."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.frames: list[str] = []
        self._new = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._reader())
        self.read_pos = 0

    async def _reader(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for frame in self.conn:
                self.frames.append(frame if isinstance(frame, str) else frame.decode())
                self._new.set()
        self._new.set()

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(f) for f in self.frames]

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        await self.conn.send(message if isinstance(message, str | bytes) else json.dumps(message))

    async def next(self, timeout: float = WAIT) -> dict[str, Any]:
        """The next frame not yet consumed by :meth:`next` / :meth:`expect`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.read_pos >= len(self.frames):
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or self._task.done():  # out of time, or the connection ended
                raise AssertionError(f"no frame within {timeout}s; got {self.frames}")
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), remaining)
        frame = self.frames[self.read_pos]
        self.read_pos += 1
        return json.loads(frame)

    async def expect(self, kind: str, timeout: float = WAIT) -> dict[str, Any]:
        """Consume frames up to the first of type ``kind``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            message = await self.next(max(0.01, deadline - asyncio.get_running_loop().time()))
            if message["type"] == kind:
                return message

    async def status(self, timeout: float = WAIT) -> int:
        await self.send({"type": "STATUS"})
        return int((await self.expect("STATUS", timeout))["status"])

    async def until_status(self, wanted: int, timeout: float = WAIT) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        seen = []
        while asyncio.get_running_loop().time() < deadline:
            status = await self.status()
            seen.append(status)
            if status == wanted:
                return
            await asyncio.sleep(0.05)  # polling interval of a condition with a deadline
        raise AssertionError(f"status {wanted} not reached; saw {seen[-10:]}")

    async def close(self) -> None:
        await self.conn.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class BrokerProcess:
    def __init__(self, proc: asyncio.subprocess.Process, ws_port: int, log_path: Path, state_dir: Path,
                 instance: str) -> None:
        self.proc = proc
        self.ws_port = ws_port
        self.log_path = log_path
        self.state_dir = state_dir
        self.instance = instance
        self.clients: list[WsClient] = []

    def log_text(self) -> str:
        return self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log_text().splitlines():
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
        return events

    def opend_pids(self) -> list[int]:
        return [int(e["pid"]) for e in self.log_events() if e.get("event") == "opend started"]

    def states(self) -> list[str]:
        return [e["state"] for e in self.log_events() if e.get("event") == "auth state"]

    async def wait_log(self, predicate: Any, timeout: float = WAIT, what: str = "") -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            for event in self.log_events():
                if predicate(event):
                    return event
            if self.proc.returncode is not None:
                break
            await asyncio.sleep(0.05)  # polling a log file with a deadline
        raise AssertionError(f"log never showed {what}; tail: {self.log_text()[-3000:]}")

    async def wait_state(self, state: str, count: int = 1, timeout: float = WAIT) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if self.states().count(state) >= count:
                return
            if self.proc.returncode is not None:
                break
            await asyncio.sleep(0.05)  # polling a log file with a deadline
        raise AssertionError(f"state {state} x{count} not reached; states {self.states()}; "
                             f"tail: {self.log_text()[-2500:]}")

    async def ws(self, path: str = "/") -> WsClient:
        conn = await websockets.connect(f"ws://127.0.0.1:{self.ws_port}{path}", open_timeout=WAIT)
        client = WsClient(conn)
        self.clients.append(client)
        return client

    async def wait_ws_up(self, timeout: float = WAIT) -> None:
        await self.wait_log(lambda e: e.get("event") == "websocket listening", timeout, "websocket listening")

    async def terminate(self, timeout: float = 15.0) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), timeout)

    def alive_opend_pids(self) -> list[int]:
        alive = []
        for pid in self.opend_pids():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            # A zombie is dead for our purposes (its parent, the broker, may be gone already).
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                    continue
            alive.append(pid)
        return alive


class BrokerLauncher:
    def __init__(self, tmp_path: Path, nats_url: str) -> None:
        self.tmp_path = tmp_path
        self.nats_url = nats_url
        self.started: list[BrokerProcess] = []

    async def start(self, scenario: str = "sms", *, extra_args: str = "", env: dict[str, str] | None = None,
                    auth: dict[str, Any] | None = None, state_dir: Path | None = None, lang: str = "en",
                    instance: str | None = None, wait_ws: bool = True, health_port: int = 0) -> BrokerProcess:
        n = len(self.started)
        instance = instance or f"t{n}"
        state = state_dir or self.tmp_path / f"opend_state{n}"
        ws_port = free_port()
        settings: dict[str, Any] = {
            "instance": instance,
            "opend_cmd": f"{sys.executable} -m opend_sim",
            "opend_args": f"--scenario={scenario} --verify-code={VERIFY_CODE} {extra_args}".strip(),
            "lang": lang,
            "log_level": "no",
            "api_port": free_port(),
            "telnet_port": free_port(),
            "state_dir": str(state),
            "state_dir_flag": "--state-dir",
            "ws_port": ws_port,
            "backoff_initial_s": 0.3,
            "backoff_max_s": 2.0,
            "min_spawn_gap_s": 0.2,
            "sms_request_interval_s": 3.0,
            "stop_grace_s": 3.0,
            "quick_exit_s": 5.0,
            **(auth or {}),
        }
        config = self.tmp_path / f"broker{n}.toml"
        config.write_text(_toml({"nats": {"url": self.nats_url, "connect_timeout_s": 2},
                                 "log": {"format": "json", "level": "info"},
                                 "data": {"dir": str(self.tmp_path / "var")},
                                 "futu": {"login_account": ACCOUNT, "login_pwd_md5": PASSWORD_MD5},
                                 "auth": settings}))
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("FUTU_", "SERVER_PORT", "TRADEBUS_"))}
        full_env.update({"OPEND_SIM_SPEED": TEST_SPEED, "PYTHONUNBUFFERED": "1", **(env or {})})
        # The package may be newer than the editable install's module map: find it from the tree too.
        full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SERVICES), full_env.get("PYTHONPATH", "")) if p)
        log_path = self.tmp_path / f"broker{n}.log"
        with log_path.open("wb") as log_file:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "auth_broker", "--config", str(config), "--health-port", str(health_port),
                stdout=log_file, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
                env=full_env,
            )
        broker = BrokerProcess(proc, ws_port, log_path, state, instance)
        self.started.append(broker)
        if wait_ws and settings.get("ws_enabled", True):
            await broker.wait_ws_up()
        return broker

    async def start_ostai_mock(self, record: Path, **env: str) -> BrokerProcess:
        """A broker set up only through ostai's variables, as ostai's test harness sets them (its MD5 really
        is the four letters "test"), running ostai's mock OpenD; ``record`` gets a line per mock start."""
        ostai = {"FUTU_CMD": f"{sys.executable} {OSTAI_MOCK}", "FUTU_LOGIN_ACCOUNT": "test",
                 "FUTU_LOGIN_PWD_MD5": "test", "FUTU_LANG": "en", "FUTU_LOG_LEVEL": "info",
                 "FUTU_PORT": str(free_port()), "FUTU_INIT_ON_START": "no", "FUTU_SUPERVISE_PROCESS": "yes",
                 "MOCK_OPEND_RECORD": str(record), **env}
        return await self.start(env=ostai, auth=OSTAI_DEFAULT_TIMINGS)

    async def stop_all(self) -> None:
        for broker in self.started:
            for client in broker.clients:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.close(), 2)
            with contextlib.suppress(ProcessLookupError):
                if broker.proc.returncode is None:
                    broker.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(broker.proc.wait(), 12)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    broker.proc.kill()
                await broker.proc.wait()
            for pid in broker.alive_opend_pids():  # the broker should have stopped them; make sure
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _toml(tables: dict[str, dict[str, Any]]) -> str:
    lines = []
    for name, values in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
async def brokers(tmp_path: Path, nats_server: Any) -> AsyncIterator[BrokerLauncher]:
    launcher = BrokerLauncher(tmp_path, nats_server.url)
    try:
        yield launcher
    finally:
        await launcher.stop_all()


# --- bus helpers --------------------------------------------------------------------------------


class StateWatch:
    """Every AuthStateChanged on an instance's subject, in order (core subscription)."""

    def __init__(self) -> None:
        self.events: list[AuthStateChanged] = []
        self._new = asyncio.Event()

    async def on_msg(self, msg: Any) -> None:
        event = AUTH_DECODER.decode(msg.data)
        if isinstance(event, AuthStateChanged):
            self.events.append(event)
            self._new.set()

    @property
    def states(self) -> list[AuthState]:
        return [e.state for e in self.events]

    async def wait_for(self, state: AuthState, count: int = 1, timeout: float = WAIT) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while self.states.count(state) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"{state} x{count} not seen on the bus; got {self.states}")
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), remaining)


async def watch_states(bus: Bus, instance: str) -> StateWatch:
    watch = StateWatch()
    await bus.nc.subscribe(auth_state(instance), cb=watch.on_msg)
    await flush_in_order(bus.nc)
    return watch


async def command(bus: Bus, instance: str, op: str, code: str | None = None) -> AuthReply:
    reply = await bus.request(auth_cmd(instance), AuthCommand(op=op, code=code, user="test"), AUTH_DECODER,
                              timeout=5)
    assert isinstance(reply, AuthReply)
    return reply
