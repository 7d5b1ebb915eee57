"""The last stored heartbeat of every service, read from each service's own heartbeat stream.

Each service keeps its heartbeats in a stream of its own (``SYS_<service>``, see
:mod:`tradebus.permissions`); the streams are found by subject (``$JS.API.STREAM.NAMES`` filtered on
``sys.health.>``) so a service not in the permission table (a development bus) is found too.
"""

from __future__ import annotations

import asyncio

import msgspec

from tradebus.bus.connection import Bus
from tradebus.bus.replay import last_message
from tradebus.logs import get_logger
from tradebus.schemas import SYSTEM_DECODER, Heartbeat
from tradebus.subjects import SYS_HEALTH_ALL, service_of_health_stream, sys_health

log = get_logger("tradebus.bus")


class _StreamNames(msgspec.Struct):
    streams: list[str] | None = None


_names = msgspec.json.Decoder(_StreamNames)


async def heartbeat_streams(bus: Bus, *, timeout: float = 2.0) -> list[str]:
    """Names of the streams that keep heartbeats (``sys.health.*``)."""
    reply = await bus.nc.request("$JS.API.STREAM.NAMES", msgspec.json.encode({"subject": SYS_HEALTH_ALL}),
                                 timeout=timeout)
    return sorted(n for n in _names.decode(reply.data).streams or () if service_of_health_stream(n))


async def last_heartbeats(bus: Bus, *, timeout: float = 2.0) -> dict[str, Heartbeat]:
    """service → its last stored heartbeat; a stream whose last message is not a heartbeat is skipped."""

    async def one(stream: str) -> Heartbeat | None:
        service = service_of_health_stream(stream)
        assert service is not None
        try:
            beat = await last_message(bus.js, stream, sys_health(service), SYSTEM_DECODER, timeout=timeout)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
            log.warning("undecodable stored heartbeat", stream=ascii(stream))
            return None
        return beat if isinstance(beat, Heartbeat) and beat.service == service else None

    streams = await heartbeat_streams(bus, timeout=timeout)
    beats = await asyncio.gather(*(one(stream) for stream in streams))
    return {beat.service: beat for beat in beats if beat is not None}
