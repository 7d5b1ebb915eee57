"""A quote kept current: the last tick of one instrument, and a way to wait for the next."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import msgspec
from nats.aio.msg import Msg

from tradebus.bus.replay import last_message
from tradebus.client.link import BusLink
from tradebus.instrument import Instrument
from tradebus.schemas import MARKET_DATA_DECODER
from tradebus.schemas.market import Tick
from tradebus.subjects import md_tick

MD_STREAM = "MD"


class Quote:
    """``tick`` is the newest :class:`~tradebus.schemas.market.Tick` (None before the first); ``last``,
    ``bid`` and ``ask`` read it. :meth:`wait_update` returns the next tick."""

    def __init__(self, client: BusLink, instrument: Instrument) -> None:
        self.client = client
        self.instrument = instrument
        self.subject = md_tick(*instrument)
        self.tick: Tick | None = None
        self._changed = asyncio.Condition()
        self._sub: Any = None

    async def start(self) -> None:
        self._sub = await self.client.subscribe_md(self.subject, self._on_tick)
        # The newest stored tick, so a quiet instrument still has a price (direct get: no consumer).
        with contextlib.suppress(Exception):
            stored = await last_message(self.client.bus.js, MD_STREAM, self.subject, MARKET_DATA_DECODER,
                                        timeout=self.client.timeout)
            if isinstance(stored, Tick):
                await self._offer(stored)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def _on_tick(self, msg: Msg) -> None:
        try:
            tick = MARKET_DATA_DECODER.decode(msg.data)
        except msgspec.DecodeError:
            return
        if isinstance(tick, Tick):
            await self._offer(tick)

    async def _offer(self, tick: Tick) -> None:
        current = self.tick
        if current is not None and (tick.ts_event, tick.seq) <= (current.ts_event, current.seq):
            return  # the stored tick arrived after a live one
        async with self._changed:
            self.tick = tick
            self._changed.notify_all()

    async def wait_update(self, timeout: float | None = None) -> Tick:
        """The next tick; :class:`TimeoutError` when none comes within ``timeout`` (default: the client's)."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait(), timeout or self.client.timeout)
            assert self.tick is not None
            return self.tick

    @property
    def last(self) -> float | None:
        return self.tick.last if self.tick else None

    @property
    def bid(self) -> float | None:
        return self.tick.bids[0].price if self.tick and self.tick.bids else None

    @property
    def ask(self) -> float | None:
        return self.tick.asks[0].price if self.tick and self.tick.asks else None

    def __repr__(self) -> str:
        return f"Quote({self.instrument}, last={self.last}, bid={self.bid}, ask={self.ask})"
