"""A round trip to nats-server that really comes after everything sent before it.

A PING/PONG round trip is NATS's way to know the server has read what a client sent: the server reads a
connection's bytes in order, so its PONG follows every SUB and PUB written before the PING. nats-py 2.16
breaks that order in ``Client.flush()``: SUB, UNSUB and PUB wait in the client's pending buffer for its
flusher task, but ``flush()`` writes the PING to the socket at once. The server can read the PING first,
answer it, and only then read the SUB. ``flush()`` then returns before the subscription exists, and a
message another connection publishes in that window never reaches it (a CI run lost a tick this way).

:func:`flush_in_order` first hands the pending buffer to the socket and waits for that, then makes the round
trip, so its PONG covers everything queued before the call. Use it wherever "the server has it now"
matters: a subscription confirmed before asking someone else to publish, a publish that must be on the
server before another connection acts.
"""

from __future__ import annotations

import asyncio

from nats.aio.client import Client

DEFAULT_FLUSH_TIMEOUT_S = 10.0


async def flush_in_order(nc: Client, timeout: float = DEFAULT_FLUSH_TIMEOUT_S) -> None:
    """Return once nats-server has read every command queued on ``nc`` before this call.

    Raises what ``Client.flush`` raises (a flush timeout, a closed connection). While disconnected the
    pending buffer stays queued for the reconnect and only the round trip is attempted.
    """
    # nats-py has no public call for "write what is pending and wait": _flush_pending(force_flush=True)
    # is what its own publish path uses when the buffer is full. It returns at once when disconnected,
    # and it swallows a cancellation, so a stuck flusher costs at most ``timeout`` here and the round
    # trip below still reports it.
    await asyncio.wait_for(nc._flush_pending(force_flush=True), timeout)
    await nc.flush(timeout=timeout)  # type: ignore[arg-type]  # annotated int, used as seconds
