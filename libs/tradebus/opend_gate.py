"""Follow an OpenD instance's login state, so Futu adapters only use OpenD while it is CONNECTED.

auth_broker publishes every state change on ``auth.opend.<instance>.state`` (captured by stream
``AUTH``). A watcher subscribes first and then reads the last stored state, so a change that lands
between the two is never missed; states arrive in order on one asyncio queue.

An empty instance name means "no auth_broker in front of this OpenD" (a hand-started OpenD that is
already logged in): the gate reports CONNECTED at once and never changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog
from nats.aio.msg import Msg

from tradebus.bus import Bus
from tradebus.bus.replay import last_message
from tradebus.schemas import AUTH_DECODER
from tradebus.schemas.auth import AuthState, AuthStateChanged
from tradebus.subjects import auth_state

log = structlog.get_logger("tradebus.opend_gate")


async def opend_states(bus: Bus, instance: str) -> AsyncIterator[AuthState]:
    """Yield the current login state of ``instance`` and then every change (duplicates collapsed)."""
    if not instance:
        yield AuthState.CONNECTED
        await asyncio.Event().wait()  # no broker: the state never changes
        return
    queue: asyncio.Queue[AuthState] = asyncio.Queue()

    async def on_msg(msg: Msg) -> None:
        try:
            event = AUTH_DECODER.decode(msg.data)
        except Exception:  # a malformed event must not stop the watcher
            log.warning("auth state event undecodable", subject=msg.subject)
            return
        if isinstance(event, AuthStateChanged):
            queue.put_nowait(event.state)

    sub = await bus.nc.subscribe(auth_state(instance), cb=on_msg)
    try:
        last = await last_message(bus.js, "AUTH", auth_state(instance), AUTH_DECODER)
        current = last.state if isinstance(last, AuthStateChanged) else AuthState.ORIGIN
        yield current
        while True:
            state = await queue.get()
            if state != current:
                current = state
                yield state
    finally:
        await sub.unsubscribe()


async def wait_connected(bus: Bus, instance: str, *, timeout: float | None = None) -> None:
    """Return once ``instance`` is CONNECTED; raise ``TimeoutError`` after ``timeout`` seconds."""

    async def _wait() -> None:
        async for state in opend_states(bus, instance):
            if state is AuthState.CONNECTED:
                return

    await asyncio.wait_for(_wait(), timeout)
