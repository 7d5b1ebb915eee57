"""The contract every venue adapter keeps, so the service treats Futu and CTP the same way.

An adapter owns one venue connection and nothing else: no NATS, no reference counts, no sequence
numbers. The service (``service.py``) owns those.

Required (abstract) members:

* ``venue`` — the subject token (``futu``, ``ctp``).
* ``async start(sink)`` — begin connecting in the background and return at once. From then on the
  adapter reports every connection change with ``sink.feed_state(state, reason)`` (on the event loop),
  and hands every venue push to ``sink.inbox.put(key, raw)`` from whatever thread the SDK calls it
  on — that call never blocks.
* ``normalise(key, raw, received_ns) -> Tick | None`` — runs on the event loop when the inbox is drained: turn one
  raw push into a :class:`~tradebus.schemas.market.Tick` (``seq`` is left at 0, the service sets it),
  or ``None`` when there is nothing to publish yet (e.g. a Futu order book before its first quote).
* ``async subscribe(instruments)`` / ``async unsubscribe(instruments)`` — called only while the feed
  is UP; return ``{instrument: reason}`` for every instrument the venue refused (empty = all done).
  After a reconnect the service calls ``subscribe`` again with every active instrument.
* ``async stop()`` — close every venue context/api; bounded in time.

Optional members (defaults below):

* ``validate(instrument) -> str`` — a quick local refusal (unknown exchange, not in the venue's
  instrument list); ``""`` means "ask the venue".
* ``quota`` — the most instruments the venue lets us hold at once.
* ``async wait_ready(timeout)`` — wait until ``validate`` can answer (CTP loads its instrument list).
"""

from __future__ import annotations

import abc
from typing import Any, Protocol

from md_ingest.inbox import Inbox
from tradebus.instrument import Instrument
from tradebus.schemas.market import FeedState, Tick

__all__ = ["FeedSink", "Instrument", "VenueAdapter"]


class FeedSink(Protocol):
    """What an adapter may call on the service."""

    inbox: Inbox

    def feed_state(self, venue: str, state: FeedState, reason: str = "") -> None: ...


class VenueAdapter(abc.ABC):
    venue: str = ""
    quota: int = 1_000_000

    def prepare(self) -> None:  # noqa: B027 - optional hook, most adapters have nothing to load
        """Load the venue's SDK (slow imports) before any venue lease is taken: a holder's event loop must
        never stall for long, or its lease renewals stop and a standby takes the venue over."""

    @abc.abstractmethod
    async def start(self, sink: FeedSink) -> None: ...

    @abc.abstractmethod
    def normalise(self, key: Any, raw: Any, received_ns: int) -> Tick | None: ...

    @abc.abstractmethod
    async def subscribe(self, instruments: list[Instrument]) -> dict[Instrument, str]: ...

    @abc.abstractmethod
    async def unsubscribe(self, instruments: list[Instrument]) -> dict[Instrument, str]: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    def validate(self, instrument: Instrument) -> str:
        return ""

    async def wait_ready(self, timeout: float) -> None:
        return None
