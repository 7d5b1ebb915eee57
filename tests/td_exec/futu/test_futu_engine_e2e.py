"""Commands over the bus → td_exec's engine (the same Engine and CommandServer ``python -m td_exec``
runs) → FutuVenue → opend_sim, and the events that land in TD_EVT."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from futu_venue_helpers import HK, LOT, SYMBOL, ServerThread, book, futu_config, resting_price

from td_exec.commands import CommandServer
from td_exec.engine import AccountStatus, Engine
from td_exec.futu_venue import FutuVenue
from tradebus.bus import Bus, connect, ensure_topology, fold_stream
from tradebus.config import NatsConfig, StreamsConfig
from tradebus.config_sections.td import TdConfig
from tradebus.runtime.metrics import Registry
from tradebus.schemas import ORDER_EVENT_DECODER, TRADE_REPLY_DECODER
from tradebus.schemas.orders import (
    CancelOrder,
    CommandAccepted,
    ModifyOrder,
    OrderEvent,
    OrderStatus,
    Side,
    SubmitOrder,
)
from tradebus.subjects import td_cmd, td_evt
from tradebus.users import UserStore

TD = TdConfig(futu=True, ctp=False, sim=False, submit_timeout_s=5.0, cancel_timeout_s=5.0, query_timeout_s=5.0,
              reconcile_timeout_s=10.0, store_timeout_s=1.0, inflight_grace_s=30.0, inflight_check_s=1.0)


async def until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class Stack:
    def __init__(self, engine: Engine, server: CommandServer, client: Bus, venue: FutuVenue, account: str) -> None:
        self.engine, self.server, self.client, self.venue, self.account = engine, server, client, venue, account

    async def request(self, cmd: Any) -> Any:
        return await self.client.request(td_cmd("futu", self.account), cmd, TRADE_REPLY_DECODER, timeout=10)

    async def kinds(self, cid: str) -> list[str]:
        def add(acc: list[OrderEvent], ev: OrderEvent, _s: str, _q: int) -> list[OrderEvent]:
            acc.append(ev)
            return acc

        events = await fold_stream(self.client.js, td_evt("futu", self.account, cid), ORDER_EVENT_DECODER, add, [],
                                   idle_timeout=1.0)
        return [type(e).__name__ for e in events]

    def status(self, cid: str) -> OrderStatus | None:
        order = self.engine.ledger.get("futu", self.account, cid)
        return None if order is None else order.status


@pytest.fixture
async def stack(opend: ServerThread, nats_server: Any, tmp_path: Path) -> AsyncIterator[Stack]:
    cfg = NatsConfig(url=nats_server.url, connect_timeout_s=2, reconnect_wait_s=0.1, request_timeout_s=5)
    client = await connect(cfg, "test-client")
    await ensure_topology(client.js, StreamsConfig())
    engine_bus = await connect(cfg, "td_exec-test")
    venue = FutuVenue(futu_config(opend.port), tmp_path / "futu", engine_bus)
    engine = Engine(engine_bus, [venue], TD, tmp_path / "td_exec", Registry(), users=UserStore(tmp_path / "u.json"))
    await engine.start()
    server = CommandServer(engine)
    await server.start()
    try:
        await until(lambda: _ready(engine), what="futu accounts ready")
        account = next(a for a in venue.accounts() if venue.account_env(a) == "REAL" and venue.account_market(a) == HK)
        yield Stack(engine, server, client, venue, account)
    finally:
        await server.stop()
        await engine.stop()
        await engine_bus.close()
        await client.close()


async def _ready(engine: Engine) -> bool:
    keys = [k for k in engine.accounts if k[0] == "futu"]
    return len(keys) == 4 and all(engine.accounts[k].status is AccountStatus.READY for k in keys)


def submit(account: str, cid: str, qty: int, price: float) -> SubmitOrder:
    return SubmitOrder(venue="futu", account=account, exchange=HK, symbol=SYMBOL, side=Side.BUY, qty=qty,
                       price=price, client_order_id=cid)


async def test_submit_partial_fill_modify_to_filled_through_the_engine(stack: Stack, opend: ServerThread) -> None:
    _, asks = book(opend)
    best_ask, volume = asks[0]
    reply = await stack.request(submit(stack.account, "E-fill-1", volume + LOT, best_ask))
    assert isinstance(reply, CommandAccepted), reply
    await until(lambda: _is(stack, "E-fill-1", OrderStatus.PARTIALLY_FILLED), what="partially filled")
    _, asks = book(opend)
    reply = await stack.request(ModifyOrder(venue="futu", account=stack.account, client_order_id="E-fill-1",
                                            price=asks[0][0]))
    assert isinstance(reply, CommandAccepted), reply
    await until(lambda: _is(stack, "E-fill-1", OrderStatus.FILLED), what="filled")
    kinds = await stack.kinds("E-fill-1")
    assert kinds[0] == "OrderSubmitted" and "OrderAccepted" in kinds and kinds.count("OrderFilled") >= 2


async def test_cancel_and_venue_reject_through_the_engine(stack: Stack, opend: ServerThread) -> None:
    price = resting_price(opend)
    assert isinstance(await stack.request(submit(stack.account, "E-cxl-1", LOT, price)), CommandAccepted)
    await until(lambda: _is(stack, "E-cxl-1", OrderStatus.ACCEPTED), what="accepted")
    reply = await stack.request(CancelOrder(venue="futu", account=stack.account, client_order_id="E-cxl-1"))
    assert isinstance(reply, CommandAccepted), reply
    await until(lambda: _is(stack, "E-cxl-1", OrderStatus.CANCELLED), what="cancelled")
    assert (await stack.kinds("E-cxl-1"))[-1] == "OrderCancelled"

    # insufficient buying power is only known at the venue: a definite reject, not a denial
    reply = await stack.request(submit(stack.account, "E-rej-1", 1_000_000 * LOT, price))
    assert isinstance(reply, CommandAccepted), reply  # passed our checks; refused by OpenD
    await until(lambda: _is(stack, "E-rej-1", OrderStatus.REJECTED), what="rejected")
    assert (await stack.kinds("E-rej-1"))[-1] == "OrderRejected"


async def _is(stack: Stack, cid: str, status: OrderStatus) -> bool:
    return stack.status(cid) is status
