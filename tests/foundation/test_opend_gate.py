"""The OpenD login gate follows auth_broker's state events on the bus."""

from __future__ import annotations

import asyncio

from tradebus.bus import Bus
from tradebus.bus.topology import ensure_topology
from tradebus.config import StreamsConfig
from tradebus.opend_gate import opend_states, wait_connected
from tradebus.schemas.auth import AuthState, AuthStateChanged
from tradebus.schemas.base import now_ns
from tradebus.subjects import auth_state


async def _announce(bus: Bus, instance: str, state: AuthState, seq: int) -> None:
    event = AuthStateChanged(event_id=f"{instance}-{seq}", instance=instance, state=state, ts_event=now_ns())
    await bus.publish_event(auth_state(instance), event, event.event_id)


async def test_states_start_from_the_stored_one_and_follow_changes(bus: Bus) -> None:
    await ensure_topology(bus.js, StreamsConfig())
    await _announce(bus, "gw1", AuthState.REQUESTING_VERIFY_CODE, 1)
    seen: list[AuthState] = []
    first, got_two = asyncio.Event(), asyncio.Event()

    async def follow() -> None:
        async for state in opend_states(bus, "gw1"):
            seen.append(state)
            first.set()
            if len(seen) == 3:
                got_two.set()
                return

    task = asyncio.create_task(follow())
    await asyncio.wait_for(first.wait(), 5)  # the stored state arrives first
    assert seen == [AuthState.REQUESTING_VERIFY_CODE]
    await _announce(bus, "gw1", AuthState.REQUESTING_VERIFY_CODE, 2)  # a repeat is collapsed
    await _announce(bus, "gw1", AuthState.VERIFYING_CODE, 3)
    await _announce(bus, "gw1", AuthState.CONNECTED, 4)
    await asyncio.wait_for(got_two.wait(), 5)
    await task
    assert seen == [AuthState.REQUESTING_VERIFY_CODE, AuthState.VERIFYING_CODE, AuthState.CONNECTED]


async def test_wait_connected(bus: Bus) -> None:
    await ensure_topology(bus.js, StreamsConfig())
    waiter = asyncio.create_task(wait_connected(bus, "gw2", timeout=5))
    await asyncio.sleep(0)
    assert not waiter.done()
    await _announce(bus, "gw2", AuthState.CONNECTED, 1)
    await waiter
    await wait_connected(bus, "", timeout=1)  # no broker: connected at once


async def test_no_state_stored_means_origin(bus: Bus) -> None:
    await ensure_topology(bus.js, StreamsConfig())
    states = opend_states(bus, "never")
    assert await anext(states) is AuthState.ORIGIN
    await states.aclose()
