"""Reading the streams back: fold a stream into a projection, fetch the last message of a subject."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import TypeVar

import msgspec
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, RawStreamMsg
from nats.js.errors import NotFoundError

S = TypeVar("S")
T = TypeVar("T")


async def fold_stream(
    js: JetStreamContext,
    subject_filter: str,
    decoder: msgspec.json.Decoder[T],
    fold: Callable[[S, T, str, int], S],
    initial: S,
    *,
    idle_timeout: float = 5.0,
) -> S:
    """Replay every stored message matching ``subject_filter`` in stream order and fold it.

    ``fold(state, message, subject, stream_seq) -> state``. Uses an ordered push consumer (about 4×
    faster than pull fetches on this kind of machine) and stops at the messages that existed when the
    replay started, so a busy stream cannot keep it running forever.
    """
    state = initial
    async for seq, subject, data in read_stream(js, None, subject_filter, idle_timeout=idle_timeout):
        state = fold(state, decoder.decode(data), subject, seq)
    return state


async def last_stored(
    js: JetStreamContext, stream: str, subject: str, *, direct: bool = True, timeout: float = 2.0
) -> RawStreamMsg | None:
    """The newest stored message on ``subject``, or None. ``direct`` lets any replica answer (the stream
    allows direct gets); a ``subject`` with wildcards is for ``direct=False``: the stream's leader answers."""
    try:
        return await asyncio.wait_for(js.get_last_msg(stream, subject, direct=direct), timeout)
    except NotFoundError:
        return None


async def last_message(
    js: JetStreamContext, stream: str, subject: str, decoder: msgspec.json.Decoder[T], *, timeout: float = 2.0
) -> T | None:
    """The newest stored message on ``subject`` (e.g. the last known tick), or None."""
    raw = await last_stored(js, stream, subject, timeout=timeout)
    if raw is None or raw.data is None:
        return None
    return decoder.decode(raw.data)


async def last_seq(js: JetStreamContext, stream: str, subject: str, *, timeout: float = 5.0) -> int:
    """The stream sequence of the newest message on ``subject`` (wildcards allowed); 0 if there is none."""
    raw = await last_stored(js, stream, subject, direct=False, timeout=timeout)
    return int(raw.seq or 0) if raw is not None else 0


async def read_stream(
    js: JetStreamContext,
    stream: str | None,
    subject_filter: str,
    *,
    start_seq: int | None = None,
    start_ns: int | None = None,
    idle_timeout: float = 5.0,
) -> AsyncIterator[tuple[int, str, bytes]]:
    """(stream sequence, subject, payload) of every stored message matching ``subject_filter``, in stream order, from
    ``start_seq`` or from the first stored at or after ``start_ns`` (else from the beginning), up to the
    messages that existed when the read started. The caller stops early by leaving the loop; a read that
    stalls for ``idle_timeout`` raises ``TimeoutError``.

    A push consumer may have delivered everything into our buffer before ``consumer_info`` answers,
    leaving ``num_pending`` at 0: only "nothing pending and nothing delivered" means an empty read."""
    if start_seq is not None:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=max(1, start_seq))
    elif start_ns is not None:
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=datetime.fromtimestamp(start_ns / 1e9, tz=UTC)
        )
    else:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
    sub = await js.subscribe(subject_filter, stream=stream, ordered_consumer=True, config=config)
    try:
        info = await sub.consumer_info()
        delivered = info.delivered.consumer_seq if info.delivered else 0
        if not info.num_pending and not delivered:
            return
        while True:
            msg = await sub.next_msg(timeout=idle_timeout)
            meta = msg.metadata
            yield meta.sequence.stream, msg.subject, msg.data
            if meta.num_pending == 0:
                return
    finally:
        await sub.unsubscribe()
