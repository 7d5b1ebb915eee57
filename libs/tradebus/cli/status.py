"""``tradebus status``: the health of every service, read over the bus.

Reads the last heartbeat of every service from its heartbeat stream (``SYS_<service>``), so the answer is
immediate, and includes the processes ``tradebus up`` supervises (from the supervisor's heartbeat),
which covers nats-server and the venue simulators that are not on the bus themselves. For a supervised
service the supervisor has the last word on its pid, whether it is alive and how often it restarted: a
heartbeat from a process that has died since is shown with the supervisor's state, never as healthy.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import msgspec

from tradebus.bus import connect
from tradebus.bus.heartbeats import last_heartbeats
from tradebus.cli.bus_access import with_operator_credentials
from tradebus.cli.render import age, table
from tradebus.config import Config, load_or_exit
from tradebus.logs import configure_logging
from tradebus.schemas import HealthState, Heartbeat
from tradebus.schemas.health import ChildProcess

STALE_AFTER_INTERVALS = 3


class Row(msgspec.Struct, frozen=True):
    service: str
    state: str
    healthy: bool
    pid: int | None
    restarts: int
    last_heartbeat_ns: int | None
    detail: str


def _fresh(beat: Heartbeat, now_ns: int) -> bool:
    return now_ns - beat.ts_event < STALE_AFTER_INTERVALS * beat.interval_s * 1e9


def _supervised(beats: dict[str, Heartbeat], now_ns: int) -> dict[str, ChildProcess]:
    """What a live supervisor says of each of its processes (restart counts, and whether each is alive)."""
    return {child.name: child for beat in beats.values() if _fresh(beat, now_ns) for child in beat.children}


def _own_row(name: str, beat: Heartbeat, child: ChildProcess | None, now_ns: int) -> Row:
    """A service's row from its own heartbeat, corrected by its supervisor: a dead process is not running."""
    fresh = _fresh(beat, now_ns)
    state = beat.state.value if fresh else "silent"
    healthy = fresh and beat.state == HealthState.OK
    problems = ", ".join(f"{k}: {v}" for k, v in beat.checks.items() if v != "ok")
    if child is None:
        return Row(name, state, healthy, beat.pid, 0, beat.ts_event, problems)
    if child.pid != beat.pid:  # its last heartbeat is from a process the supervisor no longer runs
        state, healthy = child.state, False
        problems = child.detail or problems
    return Row(name, state, healthy and child.healthy, child.pid, child.restarts, beat.ts_event, problems)


def _child_row(child: ChildProcess) -> Row:
    return Row(child.name, child.state, child.healthy, child.pid, child.restarts, None, child.detail)


def rows_from_heartbeats(beats: dict[str, Heartbeat], now_ns: int) -> list[Row]:
    supervised = _supervised(beats, now_ns)
    rows: list[Row] = []
    for name in sorted(beats):
        beat = beats[name]
        if any(child.startswith(f"{name}/") for child in supervised):
            # Several instances (`[up] <service>_instances`): the stream keeps only the last heartbeat of any
            # of them, so each instance's row is its supervisor's ("<service>/<i>", health probed), below.
            rows.extend(_child_row(child) for child_name, child in supervised.items()
                        if child_name.startswith(f"{name}/"))
            continue
        rows.append(_own_row(name, beat, supervised.get(name), now_ns))
        if _fresh(beat, now_ns):
            for child in beat.children:
                if child.name in beats or child.name.partition("/")[0] in beats:
                    continue  # it heartbeats itself (an instance: under its service, above); that row says more
                rows.append(_child_row(child))
    return rows


async def read_heartbeats(config: Config, timeout: float) -> dict[str, Heartbeat]:
    bus = await asyncio.wait_for(connect(config.nats, "tradebus-status"), timeout)
    try:
        return await asyncio.wait_for(last_heartbeats(bus), timeout)
    finally:
        await bus.close()


def status_main(argv: list[str], config_path: str | None) -> int:
    parser = argparse.ArgumentParser(prog="tradebus status", description="health of every service, over the bus")
    parser.add_argument("--nats-url", help="default: [nats] url")
    parser.add_argument("--json", action="store_true", help="print one JSON object per service")
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    config = load_or_exit(config_path)
    if args.nats_url:
        config = msgspec.structs.replace(config, nats=msgspec.structs.replace(config.nats, url=args.nats_url,
                                                                               max_reconnect_attempts=0))
    config = with_operator_credentials(config)
    # The client's own reconnect chatter goes to stderr, errors only: stdout is the answer (--json).
    configure_logging("tradebus-status", level="error", secrets=config.secrets())
    try:
        beats = asyncio.run(read_heartbeats(config, args.timeout))
    except Exception as exc:  # any failure to reach the bus is reported the same way
        print(f"tradebus status: cannot read health from NATS at {config.nats.url}: {exc or type(exc).__name__}",
              file=sys.stderr)
        return 1
    rows = rows_from_heartbeats(beats, time.time_ns())
    if args.json:
        for row in rows:
            print(msgspec.json.encode(row).decode())
    elif not rows:
        print("no service has reported yet")
    else:
        print(table(("SERVICE", "STATE", "HEALTHY", "PID", "RESTARTS", "LAST HEARTBEAT", "DETAIL"),
                    [(r.service, r.state, "yes" if r.healthy else "NO", r.pid, r.restarts,
                      age(r.last_heartbeat_ns), r.detail) for r in rows]))
    return 0 if rows and all(r.healthy for r in rows) else 1
