"""Supervised child processes: start, stream their output, probe their health, restart with backoff.

What the table, ``tradebus status`` and ``/metrics`` show comes from here: a child is "running" only
while its process is alive (its exit is noticed even when a grandchild keeps its output pipe open),
and ``restarts`` counts every restart, reported through ``on_restart`` as it happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Callable

from supervisor.registry import ProcessSpec
from tradebus.backoff import Backoff
from tradebus.logs import get_logger
from tradebus.schemas.health import ChildProcess

log = get_logger("tradebus.up")

_PR_SET_PDEATHSIG = 1
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 30.0  # a child that ran this long gets its backoff reset
OUTPUT_DRAIN_S = 1.0  # after an exit, read what is left of its output this long, no more


class RestartBackoff:
    """Restart delays: doubling from BACKOFF_FIRST_S to BACKOFF_MAX_S, reset after a stable run."""

    def __init__(self) -> None:
        self._delays = Backoff(BACKOFF_FIRST_S, BACKOFF_MAX_S, jitter=0.0)

    def after_exit(self, ran_s: float) -> float:
        """The delay before the next start, given how long the process ran."""
        if ran_s > STABLE_AFTER_S:
            self._delays.reset()
        return self._delays.next()


def _die_with_parent() -> None:
    """In the child, before exec: be killed if the supervisor dies, so nothing outlives `tradebus up`."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def child_view(name: str, state: str, pid: int | None, restarts: int, healthy: bool, detail: str) -> ChildProcess:
    """One row of the table and of the supervisor's heartbeat; a process that is gone is never "running"."""
    if state == "running" and pid is None:
        state, healthy = "exited", False
    return ChildProcess(name=name, state=state, pid=pid, restarts=restarts, healthy=healthy, detail=detail)


class Supervised:
    """What every supervised process reports: its state (changes announced), restarts and health."""

    def __init__(self, name: str, state: str, on_change: Callable[[], None],
                 on_restart: Callable[[str], None]) -> None:
        self.name = name
        self.state = state
        self.detail = ""
        self.restarts = 0
        self.healthy = False
        self.on_change = on_change
        self.on_restart = on_restart

    @property
    def pid(self) -> int | None:
        raise NotImplementedError

    def view(self) -> ChildProcess:
        return child_view(self.name, self.state, self.pid, self.restarts, self.healthy, self.detail)

    def _set(self, state: str, detail: str = "") -> None:
        if (state, detail) != (self.state, self.detail):
            self.state, self.detail = state, detail
            self.on_change()

    def _restarted(self) -> None:
        self.restarts += 1
        self.on_restart(self.name)


class Child(Supervised):
    def __init__(self, spec: ProcessSpec, env: dict[str, str], on_line: Callable[[str, str], None],
                 on_change: Callable[[], None], on_restart: Callable[[str], None] = lambda _name: None) -> None:
        super().__init__(spec.name, "starting", on_change, on_restart)
        self.spec = spec
        self.env = env
        self.on_line = on_line
        self.process: asyncio.subprocess.Process | None = None
        self.stopping = False
        self._task: asyncio.Task[None] | None = None
        self._backoff = RestartBackoff()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.returncode is None else None

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"child:{self.spec.name}")

    async def _supervise(self) -> None:
        while not self.stopping:
            started = time.monotonic()
            try:
                self.process = await asyncio.create_subprocess_exec(
                    *self.spec.argv, env=self.env, stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,  # Ctrl-C reaches only us; we stop children in order
                    preexec_fn=_die_with_parent,
                )
            except OSError as exc:
                self._set("failed", f"cannot start: {exc}")
                return
            self._set("running")
            log.info("process started", process=self.spec.name, pid=self.process.pid)
            code = await self._run_until_exit(self.process)
            self.healthy = False
            if self.stopping:
                self._set("stopped", f"exit {code}")
                return
            delay = self._backoff.after_exit(time.monotonic() - started)
            log.warning("process exited; restarting", process=self.spec.name, exit_code=code, restart_in_s=delay)
            self._set("backoff", f"exit {code}, restart in {delay:g}s")
            await asyncio.sleep(delay)  # the restart backoff itself, not a race workaround
            self._restarted()

    async def _run_until_exit(self, process: asyncio.subprocess.Process) -> int:
        """Relay the output until the process exits; its exit, not the end of its output, decides.

        A grandchild (auth_broker's OpenD) may hold the pipe open after the child died; the child is
        dead all the same, so after a short drain the rest of that output is dropped.
        """
        pump = asyncio.create_task(self._pump_output(process))
        try:
            code = await process.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(pump), OUTPUT_DRAIN_S)
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        return code

    async def _pump_output(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while True:
            try:
                line = await process.stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):  # an over-long line: skip it, keep reading
                continue
            if not line:
                return
            self.on_line(self.spec.name, line.decode("utf-8", "replace").rstrip("\r\n"))

    async def probe(self) -> None:
        """Update ``healthy`` from the child's own health endpoint or its serving port."""
        if self.pid is None:
            self.healthy = False
            return
        healthy = False
        if self.spec.health_url:
            healthy = await _http_ok(self.spec.health_url)
        elif self.spec.tcp_probe:
            healthy = await _tcp_ok(*self.spec.tcp_probe)
        else:
            healthy = True
        if healthy != self.healthy:
            self.healthy = healthy
            self.on_change()

    async def stop(self, grace: float) -> None:
        """SIGTERM, wait up to ``grace``, then SIGKILL — always by pid."""
        self.stopping = True
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                log.warning("process did not stop in time; killing", process=self.spec.name, pid=process.pid)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.state = "stopped"


async def _tcp_ok(host: str, port: int) -> bool:
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True


async def _http_ok(url: str) -> bool:
    rest = url.removeprefix("http://")
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port or 80)), 1.0)
        writer.write(f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n".encode())
        status_line = await asyncio.wait_for(reader.readline(), 1.0)
        writer.close()
        return status_line.split(b" ")[1:2] == [b"200"]
    except (OSError, TimeoutError, IndexError):
        return False
