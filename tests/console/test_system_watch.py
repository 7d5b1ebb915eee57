"""The console's System panel reads every service's heartbeat from the service's own stream.

Heartbeats live in one stream per service (``SYS_<service>``): the watch shows the stored beats the
moment it starts, follows live beats (the newer wins), and ignores a beat that names a service other
than the one whose subject it came on (a service may publish only its own ``sys.health.<name>``).
"""

from __future__ import annotations

import time

from polling import until

from tradebus.bus import Bus, ensure_topology
from tradebus.config import StreamsConfig
from tradebus.schemas import HealthState, Heartbeat
from tradebus.subjects import sys_health
from ws_edge.console.system import SystemWatch


def _beat(service: str, ts_event: int, state: HealthState = HealthState.OK) -> Heartbeat:
    return Heartbeat(service=service, instance="test", pid=1, state=state, started_ns=ts_event - 1,
                     ts_event=ts_event, interval_s=5.0)


async def test_stored_beats_at_start_then_live_beats_and_forged_names_ignored(bus: Bus) -> None:
    now = time.time_ns()
    for service in ("md_ingest", "td_exec"):
        await ensure_topology(bus.js, StreamsConfig(), heartbeat_of=service)
        await bus.publish(sys_health(service), _beat(service, now))
    watch = SystemWatch(bus)
    await watch.start()
    try:
        assert sorted(watch.beats) == ["md_ingest", "td_exec"]  # stored: there before any live beat
        await bus.publish(sys_health("md_ingest"), _beat("md_ingest", now + 1, HealthState.DEGRADED))
        await until(lambda: watch.beats["md_ingest"].state is HealthState.DEGRADED, 5, "the live beat")
        # ws_edge's subject, td_exec's name: forged, ignored. A stale beat never replaces a newer one.
        await bus.publish(sys_health("ws_edge"), _beat("td_exec", now + 2, HealthState.STOPPING))
        await bus.publish(sys_health("md_ingest"), _beat("md_ingest", now - 5))
        await bus.publish(sys_health("fmz_edge"), _beat("fmz_edge", now + 3))
        await until(lambda: "fmz_edge" in watch.beats, 5, "a later beat, so the earlier ones were handled")
        assert watch.beats["td_exec"].state is HealthState.OK
        assert watch.beats["md_ingest"].state is HealthState.DEGRADED
        assert "ws_edge" not in watch.beats
    finally:
        await watch.stop()
