"""Projection of the venues' instrument lists into KV ``instruments`` (what ws_edge answers from).

Key ``<venue>.<exchange>.<symbol>`` (each part escaped like a subject token), value the encoded
:class:`InstrumentInfo`. Written after every venue connection from the venue's list (CTP: the
ReqQryInstrument results with the day's limits; Futu: the static information of the instruments
it has looked up) and whenever a lookup learns a new or changed instrument. Only changed values are
put; a failed put is logged and written again on the next connection or lookup, never retried in a
loop: reference data can wait, trading cannot.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
from nats.js.kv import KeyValue

from td_exec.projections import kv_key
from tradebus.bus import Bus
from tradebus.logs import get_logger
from tradebus.runtime.metrics import Registry
from tradebus.schemas.account import InstrumentInfo

log = get_logger("td_exec.instruments_kv")
_encoder = msgspec.json.Encoder()

INSTRUMENTS_BUCKET = "instruments"


def instrument_key(venue: str, exchange: str, symbol: str) -> str:
    return kv_key(venue, exchange, symbol)


class InstrumentsProjection:
    def __init__(self, bus: Bus, metrics: Registry) -> None:
        self.bus = bus
        self._kv: KeyValue | None = None
        self._written: dict[str, bytes] = {}  # key -> the value last put
        self.puts = metrics.counter("td_kv_instruments_puts_total", "instruments written to KV instruments")

    def is_new(self, info: InstrumentInfo) -> bool:
        """True when ``info`` differs from what was last written for its key."""
        return self._written.get(instrument_key(info.venue, info.exchange, info.symbol)) != _encoder.encode(info)

    async def publish(self, infos: Iterable[InstrumentInfo]) -> int:
        """Write what changed; how many were put."""
        put = 0
        for info in infos:
            key, value = instrument_key(info.venue, info.exchange, info.symbol), _encoder.encode(info)
            if self._written.get(key) == value:
                continue
            try:
                if self._kv is None:
                    self._kv = await self.bus.js.key_value(INSTRUMENTS_BUCKET)
                await self._kv.put(key, value)
            except Exception as exc:
                log.warning("KV instruments put failed; written again at the next connection or lookup",
                            key=key, error=f"{type(exc).__name__}: {exc}")
                return put
            self._written[key] = value
            self.puts.inc()
            put += 1
        return put
