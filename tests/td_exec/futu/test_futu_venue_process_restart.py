"""A real ``python -m opend_sim`` killed with open orders and started again: FutuVenue reports the
loss and the return, its queries then equal the simulator's state, and pushes flow again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from futu_venue_helpers import LOT, RecordingSink, account_of, futu_config, last_status, new_order
from opend_process import OpenDProcess

from td_exec.futu_venue import FutuVenue
from td_exec.venue import OrderRef
from tradebus.bus import Bus
from tradebus.schemas.orders import OrderStatus, Side
from tradebus.sim import default_instruments, hk_tick_size

RECONNECT_WAIT = 40.0


@pytest.fixture
async def opend_proc(tmp_path: Path) -> AsyncIterator[OpenDProcess]:
    proc = OpenDProcess(tmp_path / "opend_state")
    await proc.start()
    try:
        yield proc
    finally:
        await proc.kill()


async def test_opend_killed_with_open_orders_then_back_reconciles_to_its_state(
        opend_proc: OpenDProcess, bus: Bus, tmp_path: Path) -> None:
    adapter = FutuVenue(futu_config(opend_proc.api_port), tmp_path / "td", bus)
    sink = RecordingSink()
    await adapter.start(sink)
    try:
        await sink.until(lambda: sink.connected, what="connected")
        account = account_of(adapter, "REAL")
        far_below = _far_below_market("HK", "00700")
        ids = []
        for n in range(3):
            cid = f"O-open-{n}"
            ids.append(await adapter.submit(new_order(account, cid, Side.BUY, LOT, far_below)))
            await sink.until(lambda c=cid: last_status(sink, c) is OrderStatus.ACCEPTED, what=f"{cid} accepted")
        await adapter.cancel(_ref(account, "O-open-0", ids[0]))
        await sink.until(lambda: last_status(sink, "O-open-0") is OrderStatus.CANCELLED, what="cancelled")
        before = {r.client_order_id: (r.status, r.qty, r.price) for r in await adapter.query_orders(account)}

        await opend_proc.kill()
        await sink.until(lambda: not sink.connected, what="loss reported")
        await opend_proc.start()  # same API port, same broker state folder
        await sink.until(lambda: sink.connected, timeout=RECONNECT_WAIT, what="return reported")

        after = {r.client_order_id: (r.status, r.qty, r.price) for r in await adapter.query_orders(account)}
        assert after == before
        assert after["O-open-1"][0] is OrderStatus.ACCEPTED and after["O-open-0"][0] is OrderStatus.CANCELLED
        await adapter.cancel(_ref(account, "O-open-1", ids[1]))  # REAL order action: unlock was redone
        await sink.until(lambda: last_status(sink, "O-open-1") is OrderStatus.CANCELLED, what="push after restart")
    finally:
        await adapter.stop()


def _far_below_market(market: str, symbol: str) -> float:
    """A buy price on the tick that the market cannot reach during the test (20 % under reference)."""
    inst = next(i for i in default_instruments() if i.market == market and i.symbol == symbol)
    price = inst.ref_price * 0.8
    tick = hk_tick_size(price)
    return round(round(price / tick) * tick, 3)


def _ref(account: str, cid: str, venue_order_id: str | None) -> OrderRef:
    return OrderRef(account=account, client_order_id=cid, venue_order_id=venue_order_id, exchange="HK",
                    symbol="00700")
