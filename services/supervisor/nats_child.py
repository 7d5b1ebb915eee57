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

from supervisor.children import RestartBackoff, Supervised
from tradebus.logs import get_logger
from tradebus.natsd import NatsServer, NatsServerError

log = get_logger("tradebus.up")

NAME = "nats"
WATCH_EVERY_S = 0.5  # how often the server's pid is checked; a restart is at most this late


class NatsChild(Supervised):
    """One nats-server: the single node (``nats``), or one node of a cluster (``nats-1``… with its URL as
    detail, so ``tradebus status`` shows which node is which)."""

    def __init__(self, server: NatsServer, on_change: Callable[[], None],
                 on_restart: Callable[[str], None], name: str = NAME, running_detail: str = "") -> None:
        super().__init__(name, "running", on_change, on_restart)
        self.server = server
        self.running_detail = running_detail
        self.detail = running_detail
        self.healthy = True  # started and answering before the supervisor exists
        self.stopping = False
        self._backoff = RestartBackoff()
        self._started = time.monotonic()

    @property
    def pid(self) -> int | None:
        process = self.server.process
        return process.pid if process is not None and process.poll() is None else None

    async def watch(self) -> None:
        """Restart the server whenever it exits, until ``stop``."""
        while not self.stopping:
            process = self.server.process
            code = process.poll() if process is not None else -1
            if code is None:
                await asyncio.sleep(WATCH_EVERY_S)  # polling a child's exit status
                continue
            self.healthy = False
            delay = self._backoff.after_exit(time.monotonic() - self._started)
            log.warning("nats-server exited; restarting", process=self.name, exit_code=code, restart_in_s=delay)
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
            log.error("nats-server did not come back", process=self.name, problem=str(exc))
            self._set("backoff", str(exc))
            return
        self.healthy = True
        self._restarted()
        log.info("process started", process=self.name, pid=self.pid)
        self._set("running", self.running_detail)
