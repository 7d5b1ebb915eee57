"""What the chain tests compare fmz_edge's answers with — sources that do not go through fmz_edge.

* the bus, read with the operator credentials ``tradebus up`` wrote: live ticks and order events
  (:class:`BusWatch`), and the stored 1-minute bars of stream MD (:func:`stored_bars`);
* the venue simulators themselves: ``venue_truth`` (tests/support), shared with the cluster fault tests.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from fmz_harness import Key, http, post_bytes
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from tradebus.bus import Bus
from tradebus.bus.flush import flush_in_order
from tradebus.schemas import MARKET_DATA_DECODER
from tradebus.schemas.market import Tick

WAIT_S = 10.0

# --- fmz_edge over HTTP ------------------------------------------------------------------------------------


@dataclass
class Fmz:
    """One FMZ exchange object: a key pair posting to fmz_edge, as the docker does."""

    port: int
    key: Key

    def body(self, method: str, params: Any, nonce: int | None = None, **override: Any) -> bytes:
        fields = {"access_key": self.key.access_key, "method": method, "nonce": nonce or self.key.nonce(),
                  "params": params, "secret_key": self.key.secret_key, **override}
        return json.dumps(fields).encode()

    async def post(self, path: str, raw: bytes, headers: str = "") -> dict[str, Any]:
        status, answer = await http(self.port, post_bytes(path, raw, headers))
        assert status == 200, (status, answer)  # FMZ reads the body: every answer is a 200
        decoded = json.loads(answer)
        assert isinstance(decoded, dict)
        return decoded

    async def call(self, path: str, method: str, params: Any, **override: Any) -> dict[str, Any]:
        return await self.post(path, self.body(method, params, **override))

    async def data(self, path: str, method: str, params: Any) -> Any:
        answer = await self.call(path, method, params)
        assert set(answer) == {"data", "raw"}, (method, params, answer)
        return answer["data"]


# --- the bus -------------------------------------------------------------------------------------------------


@dataclass
class BusWatch:
    """Every tick (by subject, then feed sequence) and every order event seen since :meth:`start`."""

    bus: Bus
    ticks: dict[str, dict[int, Tick]] = field(default_factory=lambda: defaultdict(dict))
    order_events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> BusWatch:
        await self.bus.nc.subscribe("md.tick.>", cb=self._on_tick)
        # TD_EVT is read through an ordered consumer on our own inbox: no user may subscribe to td.evt itself
        await self.bus.js.subscribe("td.evt.>", cb=self._on_order_event, ordered_consumer=True,
                                    deliver_policy=DeliverPolicy.NEW)
        await flush_in_order(self.bus.nc)
        return self

    async def _on_tick(self, msg: Msg) -> None:
        tick = MARKET_DATA_DECODER.decode(msg.data)
        if isinstance(tick, Tick):
            self.ticks[msg.subject][tick.seq] = tick
            self._changed.set()

    async def _on_order_event(self, msg: Msg) -> None:
        self.order_events.append((msg.subject, json.loads(msg.data)))
        self._changed.set()

    def latest(self, subject: str) -> Tick | None:
        seen = self.ticks.get(subject)
        return seen[max(seen)] if seen else None

    async def until(self, predicate: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
        """Wait (on arrivals, not a sleep) until ``predicate()`` is truthy; its value."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    self._changed.clear()  # before the check: an arrival during it is not lost
                    if result := predicate():
                        return result
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None

    def events_of(self, client_order_id: str) -> list[str]:
        return [event["type"] for subject, event in self.order_events if subject.endswith("." + client_order_id)]


async def stored(bus: Bus, subject: str) -> list[msgspec.Struct]:
    """Every message stored on ``subject`` in stream MD, oldest first."""
    sub = await bus.js.subscribe(subject, stream="MD", ordered_consumer=True,
                                 config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
    out: list[msgspec.Struct] = []
    try:
        info = await sub.consumer_info()
        # A push consumer may have sent everything before we ask: nothing pending *and* nothing sent = empty.
        if not info.num_pending and not (info.delivered and info.delivered.consumer_seq):
            return out
        while True:
            msg = await sub.next_msg(timeout=5)
            out.append(MARKET_DATA_DECODER.decode(msg.data))
            if msg.metadata.num_pending == 0:
                return out
    finally:
        await sub.unsubscribe()
