"""auth_broker for an OpenD it does not run (``[auth] opend = "external"``).

The OpenD runs elsewhere (another host, a container, a desktop OpenD) and is logged in there. The
broker spawns nothing: it follows the login through OpenD's API (:class:`tradebus.opend_login.
OpenDLoginWatch`) and reports it exactly as the supervising broker does — ``auth.opend.<instance>.state``
(stream AUTH, KV ``auth``), its heartbeat's ``opend`` row, and the ostai WebSocket's STATUS — so the
Futu adapters' login gate, ``tradebus status`` and the web console work unchanged. Codes cannot be
given to an OpenD through its API, so INIT and VERIFY_CODE are refused with that reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

from auth_broker.bus_link import BusLink
from auth_broker.machine import WS_STATUS
from auth_broker.ws_server import OstaiServer
from tradebus.config import Config
from tradebus.logs import get_logger
from tradebus.opend_login import OpenDLoginWatch
from tradebus.runtime import Service
from tradebus.schemas.auth import AuthState
from tradebus.schemas.health import ChildProcess

log = get_logger("auth_broker")

NOT_OURS = "OpenD is external (auth.opend = external): complete its login where it runs"


async def start_websocket(ws: OstaiServer, config: Config) -> None:
    """Listen for ostai clients; a port that cannot be had stops the broker with the key to change."""
    auth = config.auth
    try:
        await ws.start()
    except OSError as exc:
        log.error("websocket cannot listen; change auth.ws_port (SERVER_PORT) or auth.ws_host",
                  host=auth.ws_host, port=auth.ws_port, problem=exc.strerror or str(exc))
        raise SystemExit(1) from None


class ExternalOpenDBroker(Service):
    name = "auth_broker"

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        futu = config.futu
        self.where = f"{futu.host}:{futu.port}"
        self.watch = OpenDLoginWatch(futu.host, futu.port,
                                     futu_home=os.path.join(config.data.dir, "auth_broker", "futu_home"))
        self.state = AuthState.ORIGIN
        self.reason = "broker started"
        self.ws = OstaiServer(config.auth, self)
        self.link: BusLink | None = None
        self._follow: asyncio.Task[None] | None = None
        self._states = self.metrics.counter("auth_state_changes_total", "login state changes", ("state",))
        self.metrics.gauge("auth_status", "ostai STATUS number of the login", source=lambda: float(self.ws_status()))

    async def start(self) -> None:
        refuse = lambda code, user: (False, NOT_OURS)  # noqa: E731 - one shared answer
        self.link = BusLink(self.bus, self.config.auth.instance, lambda: self.state,
                            {"status": lambda code, user: (True, ""), "init": refuse, "verify_code": refuse,
                             "verify_pic_code": refuse})
        await self.link.start()
        self.link.announce(None, AuthState.ORIGIN, f"broker started; following external OpenD at {self.where}")
        if self.config.auth.ws_enabled:
            await start_websocket(self.ws, self.config)
        self._follow = asyncio.create_task(self._follow_opend(), name="opend-login-watch")

    async def stop(self) -> None:
        if self._follow is not None:
            self._follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follow
        await self.ws.close()
        if self.link is not None:
            await self.link.flush(1.5)
            await self.link.close()

    async def _follow_opend(self) -> None:
        async for view in self.watch.views():
            previous, self.state, self.reason = self.state, view.state, view.reason
            log.info("auth state", state=view.state.value, previous=previous.value, reason=view.reason,
                     opend=self.where)
            self._states.inc(1.0, view.state.value)
            assert self.link is not None
            self.link.announce(previous, view.state, f"external OpenD at {self.where}: {view.reason}")
            if view.state is AuthState.CONNECTED:
                self.ws.broadcast({"type": "CONNECTED"})

    def checks(self) -> dict[str, str]:
        return {"opend": "ok"}  # OpenD's own state is its row below; the broker itself is doing its job

    def children(self) -> tuple[ChildProcess, ...]:
        return (ChildProcess(name="opend", state=f"external, {self.state.value}", pid=None, restarts=0,
                             healthy=self.state is AuthState.CONNECTED, detail=f"{self.where}: {self.reason}"),)

    # ------------------------------------------------------------------ the ostai WebSocket
    def ws_status(self) -> int:
        return WS_STATUS[self.state]

    def ws_on_connect(self) -> list[dict[str, object]]:
        return [{"type": "CONNECTED"}] if self.state is AuthState.CONNECTED else []

    def ws_init(self, client: str) -> None:
        log.info("INIT ignored", client=client, reason=NOT_OURS)

    def ws_verify_code(self, code: str, client: str) -> None:
        log.info("verify code ignored", client=client, reason=NOT_OURS)

    def ws_verify_pic_code(self, code: str, client: str) -> None:
        log.info("picture code ignored", client=client, reason=NOT_OURS)
