"""Which md_ingest holding a live tick comes from, and dropping those of a deposed holder.

The MD stream refuses a deposed holder's publishes (its fence), but core subscribers get ticks by subject:
an md_ingest frozen past its lease sends what nats-py had buffered when it thaws. So md_ingest stamps every
tick, bar and status with :data:`HOLDING_HEADER` = the ``ts_event`` of the :class:`FeedFence` it appended
when it took the venue (its re-fences repeat that value). A subscriber remembers per venue the newest
holding seen, from ticks and from the fences on ``md.fence.>`` (a new holder fences before it publishes
anything), and drops what comes from an older one. Wall-clock nanoseconds order holdings across instances
and survive a recreated stream (whose sequences restart); a takeover comes at least a lease period after
the old holding began, far more than any clock skew between two hosts of one deployment.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
from nats.aio.msg import Msg

from tradebus.schemas.market import FeedFence

HOLDING_HEADER = "Tradebus-Holding"
MD_FENCE_ALL = "md.fence.>"
Callback = Callable[[Msg], Awaitable[None]]
Subscribe = Callable[[str, Callback], Awaitable[Any]]  # (subject, callback) -> subscription
_decode_fence = msgspec.json.Decoder(FeedFence).decode
# The venue's token in each market-data subject family (tradebus.subjects): md.bar has its interval first.
_VENUE_TOKEN = {"tick": 2, "status": 2, "fence": 2, "bar": 3}


def venue_token(subject: str) -> str:
    """The (escaped) venue token of an ``md.*`` subject; "" for anything else."""
    tokens = subject.split(".")
    index = _VENUE_TOKEN.get(tokens[1], 0) if len(tokens) > 1 else 0
    return tokens[index] if 0 < index < len(tokens) else ""


class Holdings:
    """Per venue, the newest md_ingest holding seen; :meth:`admit` drops what an older holding sent."""

    def __init__(self) -> None:
        self.newest: dict[str, int] = {}
        self.dropped = 0  # messages of a deposed holding dropped
        self._fence_sub: Any = None
        self._following = False

    def see(self, venue: str, holding: int) -> None:
        if holding > self.newest.get(venue, 0):
            self.newest[venue] = holding

    def admit(self, venue: str, headers: Mapping[str, str] | None) -> bool:
        """False for a message whose holding is older than the newest seen of its venue. A message without
        the header (an md_ingest from before it) or with a malformed one is admitted."""
        raw = headers.get(HOLDING_HEADER) if headers else None
        if raw is None:
            return True
        try:
            holding = int(raw)
        except ValueError:
            return True
        newest = self.newest.get(venue, 0)
        if holding < newest:
            self.dropped += 1
            return False
        if holding > newest:
            self.newest[venue] = holding
        return True

    def admit_msg(self, msg: Msg) -> bool:
        return self.admit(venue_token(msg.subject), msg.headers)

    def guard(self, cb: Callback) -> Callback:
        """``cb`` behind :meth:`admit_msg`: the callback of a core subscription on md.tick/md.bar/md.status."""

        async def admitted(msg: Msg) -> None:
            if self.admit_msg(msg):
                await cb(msg)

        return admitted

    async def on_fence(self, msg: Msg) -> None:
        with contextlib.suppress(msgspec.DecodeError):
            self.see(venue_token(msg.subject), _decode_fence(msg.data).ts_event)

    async def follow(self, subscribe: Subscribe) -> None:
        """Subscribe to every venue's fence once (core; the caller's user needs ``md.fence.>``)."""
        if self._following:
            return
        self._following = True  # before the await: concurrent first callers subscribe once
        try:
            self._fence_sub = await subscribe(MD_FENCE_ALL, self.on_fence)
        except BaseException:
            self._following = False
            raise

    async def stop(self) -> None:
        sub, self._fence_sub, self._following = self._fence_sub, None, False
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
