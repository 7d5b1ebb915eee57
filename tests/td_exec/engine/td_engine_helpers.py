"""A td_exec engine on a real nats-server with the in-process sim venue, and ways to look at it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from nats.js.errors import KeyNotFoundError
from polling import until

from td_exec.commands import CommandServer
from td_exec.engine import AccountStatus, Engine
from td_exec.projections import ORDERS_BUCKET, order_key
from td_exec.sim_venue import SimVenue
from tradebus.bus import Bus, connect, ensure_topology, fold_stream
from tradebus.config import NatsConfig, StreamsConfig
from tradebus.config_sections.td import TdConfig
from tradebus.runtime.metrics import Registry
from tradebus.schemas import ORDER_EVENT_DECODER, TRADE_REPLY_DECODER
from tradebus.schemas.base import BusMessage
from tradebus.schemas.orders import OrderEvent, OrderView, SubmitOrder
from tradebus.subjects import td_cmd, td_evt
from tradebus.users import UserStore

VIEW = msgspec.json.Decoder(OrderView)

TEST_TD = TdConfig(futu=False, ctp=False, sim=True, sim_tick_s=0.0, submit_timeout_s=1.0, cancel_timeout_s=1.0,
                   query_timeout_s=2.0, reconcile_timeout_s=2.0, store_timeout_s=0.5, inflight_grace_s=30.0,
                   inflight_check_s=0.2)




async def bus_for(url: str, name: str) -> Bus:
    return await connect(NatsConfig(url=url, connect_timeout_s=2, reconnect_wait_s=0.1, request_timeout_s=5), name)


class Harness:
    """One engine (replaceable: ``restart``), one sim venue that outlives it, one client connection."""

    def __init__(self, url: str, data_dir: Path, *, cfg: TdConfig = TEST_TD, venue: SimVenue | None = None) -> None:
        self.url = url
        self.data_dir = data_dir
        self.cfg = cfg
        self.venue = venue or SimVenue(seed=11)
        self.users = UserStore(data_dir / "users.json")
        self.engine: Engine | None = None
        self.engine_bus: Bus | None = None
        self.direct_bus: Bus | None = None  # the command server's second connection (td_exec.commands)
        self.server: CommandServer | None = None
        self.client: Bus | None = None
        self.metrics = Registry()

    async def start(self, *, wait_ready: bool = True) -> Harness:
        self.client = await bus_for(self.url, "test-client")
        await ensure_topology(self.client.js, StreamsConfig())
        await self.start_engine(wait_ready=wait_ready)
        return self

    async def start_engine(self, *, wait_ready: bool = True) -> Engine:
        self.metrics = Registry()
        self.engine_bus = await bus_for(self.url, "td_exec-test")
        self.engine = Engine(self.engine_bus, [self.venue], self.cfg, self.data_dir / "td_exec", self.metrics,
                             users=self.users)
        await self.engine.start()
        self.direct_bus = await bus_for(self.url, "td_exec-test-direct")
        self.server = CommandServer(self.engine, self.direct_bus)
        await self.server.start()
        if wait_ready:
            await self.ready()
        return self.engine

    async def ready(self, account: str = "SIM-FUT", timeout: float = 5.0) -> None:
        engine = self.engine
        assert engine is not None
        await until(lambda: (("sim", account) in engine.accounts
                             and engine.accounts[("sim", account)].status is AccountStatus.READY),
                    timeout, f"{account} ready")

    async def crash_engine(self) -> None:
        """The process dies: no stop(), no drain, its connection simply goes away."""
        assert self.engine is not None and self.engine_bus is not None
        self.engine.crash()
        await self.engine_bus.nc.close()
        if self.direct_bus is not None:
            await self.direct_bus.nc.close()
        self.engine = self.server = self.engine_bus = self.direct_bus = None

    async def stop_engine(self) -> None:
        if self.server is not None:
            await self.server.stop()
        if self.engine is not None:
            await self.engine.stop()
        if self.engine_bus is not None:
            await self.engine_bus.close()
        if self.direct_bus is not None:
            await self.direct_bus.close()
        self.engine = self.server = self.engine_bus = self.direct_bus = None

    async def close(self) -> None:
        await self.stop_engine()
        await self.venue.stop()
        if self.client is not None:
            await self.client.close()

    # --- talking to it ---------------------------------------------------------------------------------

    async def request(self, cmd: Any, timeout: float = 5.0) -> BusMessage:
        assert self.client is not None
        return await self.client.request(td_cmd(cmd.venue, cmd.account), cmd, TRADE_REPLY_DECODER, timeout=timeout)

    async def events(self, client_order_id: str, account: str = "SIM-FUT") -> list[OrderEvent]:
        assert self.client is not None

        def add(acc: list[OrderEvent], ev: OrderEvent, _s: str, _q: int) -> list[OrderEvent]:
            acc.append(ev)
            return acc

        return await fold_stream(self.client.js, td_evt("sim", account, client_order_id), ORDER_EVENT_DECODER,
                                 add, [], idle_timeout=2.0)

    async def kinds(self, client_order_id: str, account: str = "SIM-FUT") -> list[str]:
        return [type(e).__name__ for e in await self.events(client_order_id, account)]

    async def kv_view(self, client_order_id: str, account: str = "SIM-FUT") -> OrderView | None:
        assert self.client is not None
        kv = await self.client.js.key_value(ORDERS_BUCKET)
        try:
            entry = await kv.get(order_key("sim", account, client_order_id))
        except KeyNotFoundError:
            return None
        return VIEW.decode(entry.value) if entry.value else None

    def order(self, client_order_id: str, account: str = "SIM-FUT") -> Any:
        assert self.engine is not None
        return self.engine.ledger.get("sim", account, client_order_id)


def fut_order(coid: str, *, side: str = "buy", qty: int = 1, price: float | None = None, offset: str = "open",
              order_type: str = "limit", symbol: str = "rb2601", exchange: str = "SHFE", **extra: Any) -> SubmitOrder:
    return msgspec.convert({"venue": "sim", "account": "SIM-FUT", "exchange": exchange, "symbol": symbol,
                            "side": side, "qty": qty, "price": price, "offset": offset, "order_type": order_type,
                            "client_order_id": coid, **extra}, SubmitOrder)
