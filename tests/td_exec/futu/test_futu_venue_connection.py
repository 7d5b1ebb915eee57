"""FutuVenue's connection life: OpenD restarts (reconnect reported, unlock and pushes resume, the
orders survive) and the auth gate (contexts exist only while auth_broker says CONNECTED)."""

from __future__ import annotations

from pathlib import Path

from futu_venue_helpers import (
    HK,
    LOT,
    RecordingSink,
    ServerThread,
    account_of,
    futu_config,
    last_status,
    new_order,
    resting_price,
)
from polling import until

from td_exec.futu_venue import FutuVenue
from tradebus.bus import Bus
from tradebus.bus.topology import ensure_topology
from tradebus.config import StreamsConfig
from tradebus.schemas.auth import AuthState, AuthStateChanged
from tradebus.schemas.base import now_ns
from tradebus.schemas.orders import OrderStatus, Side
from tradebus.subjects import auth_state

RECONNECT_WAIT = 30.0  # futu-api waits a hard-coded 6 s before its first reconnect attempt


async def test_opend_restart_is_reported_and_trading_resumes(
        venue: tuple[FutuVenue, RecordingSink], opend: ServerThread) -> None:
    adapter, sink = venue
    account = account_of(adapter, "REAL")
    resting = new_order(account, "O-before-restart", Side.BUY, LOT, resting_price(opend))
    await adapter.submit(resting)
    await sink.until(lambda: last_status(sink, "O-before-restart") is OrderStatus.ACCEPTED, what="accepted")

    port = opend.port
    opend.stop()  # OpenD goes away; the broker's state is on disk
    await sink.until(lambda: not sink.connected, what="disconnect reported")
    opend.start(port)
    await sink.until(lambda: sink.connected, timeout=RECONNECT_WAIT, what="reconnect reported")
    assert [c for c, _ in sink.connections] == [True, False, True]
    assert opend.call(lambda: opend.server.trading.unlocked)  # type: ignore[union-attr]  # futu re-unlocked

    rows = {r.client_order_id: r for r in await adapter.query_orders(account)}
    assert rows["O-before-restart"].status is OrderStatus.ACCEPTED  # reconciliation sees the order
    after = new_order(account, "O-after-restart", Side.BUY, LOT, resting_price(opend))
    await adapter.submit(after)  # a REAL order: only possible because the unlock was redone
    await sink.until(lambda: last_status(sink, "O-after-restart") is OrderStatus.ACCEPTED, what="push resumed")


async def _announce(bus: Bus, instance: str, state: AuthState, seq: int) -> None:
    event = AuthStateChanged(event_id=f"{instance}-{seq}", instance=instance, state=state, ts_event=now_ns())
    await bus.publish_event(auth_state(instance), event, event.event_id)


async def test_auth_gate_opens_and_closes_the_contexts(opend: ServerThread, bus: Bus, tmp_path: Path) -> None:
    await ensure_topology(bus.js, StreamsConfig())
    await _announce(bus, "gw-futu", AuthState.INITIALIZING, 1)
    adapter = FutuVenue(futu_config(opend.port, instance="gw-futu"), tmp_path / "td", bus)
    sink = RecordingSink()
    await adapter.start(sink)
    try:
        assert opend.call(lambda: opend.server.connection_count) == 0  # type: ignore[union-attr]
        await _announce(bus, "gw-futu", AuthState.CONNECTED, 2)
        await sink.until(lambda: sink.connected, what="opened on CONNECTED")
        assert opend.call(lambda: opend.server.connection_count) == 3  # type: ignore[union-attr]  # HK, US, quote

        await _announce(bus, "gw-futu", AuthState.CLOSED, 3)
        await sink.until(lambda: not sink.connected, what="closed on CLOSED")
        assert "closed" in sink.connections[-1][1]
        await until(lambda: opend.call(lambda: opend.server.connection_count) == 0,  # type: ignore[union-attr]
                    10.0, "contexts closed", interval=0.05)

        await _announce(bus, "gw-futu", AuthState.CONNECTED, 4)
        await sink.until(lambda: sink.connected, what="reopened on CONNECTED")
        account = account_of(adapter, "REAL", HK)
        await adapter.submit(new_order(account, "O-gated", Side.BUY, LOT, resting_price(opend)))
        await sink.until(lambda: last_status(sink, "O-gated") is OrderStatus.ACCEPTED, what="order after reopen")
        assert [c for c, _ in sink.connections] == [True, False, True]
    finally:
        await adapter.stop()
