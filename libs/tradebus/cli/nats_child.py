"""The embedded nats-server as a supervised process of ``tradebus up``.

It is started before everything else (the supervisor itself talks over it), then watched like every
other child: when it exits it is started again after the same backoff, with the same ``nats.conf``, the
same per-run passwords (kept by ``tradebus up`` for its whole life) and the same JetStream folder, so
streams, KV buckets and every service's user survive the restart. Services reconnect by themselves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from tradebus.cli.children import Backoff, child_view
from tradebus.logs import get_logger
from tradebus.natsd import NatsServer, NatsServerError
from tradebus.schemas.health import ChildProcess

log = get_logger("tradebus.up")

NAME = "nats"
WATCH_EVERY_S = 0.5  # how often the server's pid is checked; a restart is at most this late


class NatsChild:
    def __init__(self, server: NatsServer, on_change: Callable[[], None],
                 on_restart: Callable[[str], None]) -> None:
        self.server = server
        self.on_change = on_change
        self.on_restart = on_restart
        self.restarts = 0
        self.state = "running"
        self.detail = ""
        self.stopping = False
        self._backoff = Backoff()
        self._started = time.monotonic()

    @property
    def name(self) -> str:
        return NAME

    @property
    def pid(self) -> int | None:
        process = self.server.process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def healthy(self) -> bool:
        return self.pid is not None

    def view(self) -> ChildProcess:
        return child_view(NAME, self.state, self.pid, self.restarts, self.healthy, self.detail)

    def _set(self, state: str, detail: str = "") -> None:
        if (state, detail) != (self.state, self.detail):
            self.state, self.detail = state, detail
            self.on_change()

    async def watch(self) -> None:
        """Restart the server whenever it exits, until ``stop``."""
        while not self.stopping:
            process = self.server.process
            code = process.poll() if process is not None else -1
            if code is None:
                await asyncio.sleep(WATCH_EVERY_S)  # polling a child's exit status
                continue
            delay = self._backoff.after_exit(time.monotonic() - self._started)
            log.warning("nats-server exited; restarting", exit_code=code, restart_in_s=delay)
            self._set("backoff", f"exit {code}, restart in {delay:g}s")
            await asyncio.sleep(delay)  # the restart backoff itself
            if self.stopping:
                return
            await self._restart()

    async def _restart(self) -> None:
        self.server.process = None
        self._started = time.monotonic()
        try:
            await asyncio.to_thread(self.server.start)
        except NatsServerError as exc:
            log.error("nats-server did not come back", problem=str(exc))
            self._set("backoff", str(exc))
            return
        self.restarts += 1
        self.on_restart(NAME)
        log.info("process started", process=NAME, pid=self.pid)
        self._set("running")

    async def stop(self, timeout: float) -> None:
        self.stopping = True
        await asyncio.to_thread(self.server.stop, timeout)
        self._set("stopped")
