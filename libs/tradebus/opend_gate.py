"""Follow an OpenD instance's login state, so Futu adapters only use OpenD while it is CONNECTED.

auth_broker publishes every state change on ``auth.opend.<instance>.state`` (captured by stream
``AUTH``); the watcher reads them through an ordered JetStream consumer from the last stored one on.

An empty instance name means "no auth_broker in front of this OpenD" (a hand-started OpenD that is
already logged in): the gate reports CONNECTED at once and never changes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from nats.js.api import DeliverPolicy

from tradebus.bus import Bus
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
    # An ordered consumer starting at the last stored state delivers it and every later one, in
    # order, with no window between "read the current state" and "listen for changes".
    sub = await bus.js.subscribe(auth_state(instance), ordered_consumer=True,
                                 deliver_policy=DeliverPolicy.LAST_PER_SUBJECT)
    try:
        info = await sub.consumer_info()
        delivered = info.delivered.consumer_seq if info.delivered else 0
        current: AuthState | None = None
        if not info.num_pending and not delivered:
            current = AuthState.ORIGIN  # nothing stored yet: the broker has not announced anything
            yield current
        while True:
            msg = await sub.next_msg(timeout=None)
            try:
                event = AUTH_DECODER.decode(msg.data)
            except Exception:  # a malformed event must not stop the watcher
                log.warning("auth state event undecodable", subject=msg.subject)
                continue
            if isinstance(event, AuthStateChanged) and event.state != current:
                current = event.state
                yield current
    finally:
        with contextlib.suppress(Exception):  # the connection may already be closed
            await sub.unsubscribe()


async def wait_connected(bus: Bus, instance: str, *, timeout: float | None = None) -> None:
    """Return once ``instance`` is CONNECTED; raise ``TimeoutError`` after ``timeout`` seconds."""

    async def _wait() -> None:
        async for state in opend_states(bus, instance):
            if state is AuthState.CONNECTED:
                return

    await asyncio.wait_for(_wait(), timeout)
