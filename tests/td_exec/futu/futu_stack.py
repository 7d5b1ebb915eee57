"""The td_exec engine stack of the Futu end-to-end tests: commands over a real NATS → the same Engine
and CommandServer ``python -m td_exec`` runs → FutuVenue → an OpenD (opend_sim or the core OpenD)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from futu_venue_helpers import HK, futu_config
from polling import until_async

from td_exec.commands import CommandServer
from td_exec.engine import AccountStatus, Engine
from td_exec.futu_venue import FutuVenue
from tradebus.bus import Bus, connect, ensure_topology, fold_stream
from tradebus.config import NatsConfig, StreamsConfig
from tradebus.config_sections.td import TdConfig
from tradebus.runtime.metrics import Registry
from tradebus.schemas import ORDER_EVENT_DECODER, TRADE_REPLY_DECODER
from tradebus.schemas.orders import OrderEvent, OrderStatus
from tradebus.subjects import td_cmd, td_evt
from tradebus.users import UserStore

TD = TdConfig(futu=True, ctp=False, sim=False, submit_timeout_s=5.0, cancel_timeout_s=5.0, query_timeout_s=5.0,
              reconcile_timeout_s=10.0, store_timeout_s=1.0, inflight_grace_s=30.0, inflight_check_s=1.0)


async def until(predicate: Callable[[], Awaitable[Any]], timeout: float = 10.0, what: str = "condition") -> Any:
    """The shared poll (``polling.until_async``) with this stack's default deadline."""
    return await until_async(predicate, timeout, what)


class Stack:
    def __init__(self, engine: Engine, server: CommandServer, client: Bus, venue: FutuVenue, account: str) -> None:
        self.engine, self.server, self.client, self.venue, self.account = engine, server, client, venue, account

    async def request(self, cmd: Any) -> Any:
        return await self.client.request(td_cmd("futu", self.account), cmd, TRADE_REPLY_DECODER, timeout=10)

    async def events(self, cid: str) -> list[OrderEvent]:
        def add(acc: list[OrderEvent], ev: OrderEvent, _s: str, _q: int) -> list[OrderEvent]:
            acc.append(ev)
            return acc

        return await fold_stream(self.client.js, td_evt("futu", self.account, cid), ORDER_EVENT_DECODER, add, [],
                                 idle_timeout=1.0)

    async def kinds(self, cid: str) -> list[str]:
        return [type(e).__name__ for e in await self.events(cid)]

    def status(self, cid: str) -> OrderStatus | None:
        order = self.engine.ledger.get("futu", self.account, cid)
        return None if order is None else order.status


def _ready(engine: Engine, accounts: int) -> Callable[[], Any]:
    async def check() -> bool:
        keys = [k for k in engine.accounts if k[0] == "futu"]
        return len(keys) == accounts and all(engine.accounts[k].status is AccountStatus.READY for k in keys)

    return check


@contextlib.asynccontextmanager
async def futu_stack(port: int, nats_url: str, data: Path, *, markets: tuple[str, ...] = ("HK", "US"),
                     accounts: int = 4) -> AsyncIterator[Stack]:
    """A started engine on the OpenD at ``port``, every one of its ``accounts`` READY; the stack's
    account is the REAL HK one. ``data`` keeps td_exec's state, so a second stack on the same folder
    is a restarted td_exec."""
    cfg = NatsConfig(url=nats_url, connect_timeout_s=2, reconnect_wait_s=0.1, request_timeout_s=5)
    client = await connect(cfg, "test-client")
    await ensure_topology(client.js, StreamsConfig())
    engine_bus = await connect(cfg, "td_exec-test")
    venue = FutuVenue(futu_config(port), data / "futu", engine_bus, markets=markets)
    engine = Engine(engine_bus, [venue], TD, data / "td_exec", Registry(), users=UserStore(data / "u.json"))
    await engine.start()
    server = CommandServer(engine)
    await server.start()
    try:
        await until(_ready(engine, accounts), what="futu accounts ready")
        account = next(a for a in venue.accounts() if venue.account_env(a) == "REAL" and venue.account_market(a) == HK)
        yield Stack(engine, server, client, venue, account)
    finally:
        await server.stop()
        await engine.stop()
        await engine_bus.close()
        await client.close()
