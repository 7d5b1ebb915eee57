"""``ws_edge`` on the shared runtime: listeners per ``[ws]`` and one :class:`Edge` for all of them."""

from __future__ import annotations

import os

from tradebus.config import Config
from tradebus.logs import get_logger
from tradebus.md_lease import requester_name
from tradebus.runtime import Service
from tradebus.users import UserStore
from ws_edge.console import Console
from ws_edge.edge import Edge
from ws_edge.server import Listener

log = get_logger("ws_edge")


class WsEdge(Service):
    name = "ws_edge"

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.edge: Edge | None = None
        self.listeners: list[Listener] = []
        self.ports: dict[str, int] = {}  # "md" / "td" / "combined" → bound port
        self.console: Console | None = None  # the web console, on the combined port
        self.instance_id = config.ws.instance_id

    def _plan(self) -> list[tuple[str, int, frozenset[str]]]:
        ws = self.config.ws
        if ws.combined:
            plan = [("combined", ws.md_port, frozenset({"md", "td"}))]
            if ws.td_port:
                plan.append(("td", ws.td_port, frozenset({"td"})))
            return plan
        return [("md", ws.md_port, frozenset({"md"})), ("td", ws.td_port, frozenset({"td"}))]

    async def start(self) -> None:
        ws = self.config.ws
        # An unnamed instance gets a random name per process, as before instances had names: its
        # references from a previous life lapse at md_ingest by their lease (tradebus.md_lease).
        requester = requester_name(self.name, self.instance_id or os.urandom(3).hex())
        self.edge = Edge(self.bus, ws, UserStore.for_config(self.config), self.metrics, requester=requester)
        await self.edge.start()
        if ws.console:
            self.console = Console(self.edge)
        for name, port, endpoints in self._plan():
            console = self.console if name == "combined" else None
            listener = Listener(self.edge, endpoints, console=console,
                                http_handler=console.http if console is not None else None)
            self.ports[name] = await listener.start(ws.host, port)
            self.listeners.append(listener)
        log.info("listening", host=ws.host, **{f"{k}_port": v for k, v in self.ports.items()})

    async def stop(self) -> None:
        for listener in self.listeners:
            await listener.stop()
        if self.console is not None:
            await self.console.stop()
        if self.edge is not None:
            await self.edge.stop()

    def checks(self) -> dict[str, str]:
        return {"listeners": "ok" if self.listeners else "not listening"}
