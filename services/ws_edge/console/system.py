"""What the System panel shows: every service's heartbeat, each venue's feed, each OpenD's login state.

One :class:`SystemWatch` per ws_edge process, shared by every console. It reads three things, each
starting from what is stored, so a console is right the moment it logs in and then follows every change:

* ``sys.health.>`` (a core subscription, then each service's last stored beat from its own stream
  ``SYS_<service>``; the newer beat wins): one Heartbeat per service; the ``tradebus up`` supervisor's
  also lists its children (the simulators have no heartbeat of their own);
* ``auth.opend.*.state`` (stream AUTH, an ordered consumer from the last state per subject):
  auth_broker's state changes per OpenD instance;
* ``md.status.>`` (core subscription): venue-level feed changes as they happen. The MD stream keeps
  per-instrument statuses on the same subjects, so the starting point of a feed comes from
  md_ingest's heartbeat checks (``feed_<venue>``) instead, which every heartbeat repeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import msgspec
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from tradebus.bus import Bus
from tradebus.bus.heartbeats import last_heartbeats
from tradebus.logs import get_logger
from tradebus.schemas import AUTH_DECODER, MARKET_DATA_DECODER, SYSTEM_DECODER
from tradebus.schemas.auth import STATUS_NUMBER, AuthState, AuthStateChanged
from tradebus.schemas.health import Heartbeat
from tradebus.schemas.market import FeedStatus
from tradebus.subjects import AUTH_STATE_ALL, MD_STATUS_ALL, SYS_HEALTH_ALL

log = get_logger("ws_edge.console.system")
MISSING_AFTER_BEATS = 3.0  # a service whose heartbeat is this many intervals late shows as missing
MISSING_FLOOR_S = 2.0
SYS_HEALTH_PREFIX = SYS_HEALTH_ALL.removesuffix(">")
FEED_CHECK_PREFIX = "feed_"
# OpenD states in which a person must type something: the page shows a banner with a code field.
CODE_PROMPTS: dict[AuthState, str] = {
    AuthState.REQUESTING_VERIFY_CODE: "sms",
    AuthState.REQUESTING_PIC_CODE: "picture",
}
STATE_COLOUR: dict[str, str] = {  # what the page colours a state: up (green), wait (amber), down (red)
    "ok": "up", "running": "up", "up": "up", "connected": "up",
    "starting": "wait", "degraded": "wait", "stale": "wait", "connecting": "wait", "backoff": "wait",
    "initializing": "wait", "origin": "wait", "requesting_verify_code": "wait", "verifying_code": "wait",
    "requesting_pic_code": "wait", "verifying_pic_code": "wait",
    "stopping": "down", "stopped": "down", "failed": "down", "down": "down", "closed": "down", "missing": "down",
}


@dataclass(slots=True)
class FeedRow:
    state: str
    reason: str
    ts: float  # wall clock of the news


@dataclass(slots=True)
class OpendRow:
    state: AuthState
    reason: str
    ts: float


def colour(state: str) -> str:
    return STATE_COLOUR.get(state, "wait")


class SystemWatch:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.beats: dict[str, Heartbeat] = {}
        self.feeds: dict[str, FeedRow] = {}
        self.opend: dict[str, OpendRow] = {}
        self.version = 0  # bumped on every change: consoles resend their snapshot when it moves
        self._subs: list[Any] = []
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Idempotent; the first console login starts the watch (an edge without consoles reads nothing)."""
        async with self._lock:
            if self._subs:
                return
            # Live first, then the stored beats: a beat arriving in between is kept if it is newer.
            self._subs.append(await self.bus.nc.subscribe(SYS_HEALTH_ALL, cb=self._on_beat))
            try:
                stored = await last_heartbeats(self.bus)
            except Exception as exc:  # the live beats still arrive within one interval
                log.warning("stored heartbeats unreadable", error=str(exc) or type(exc).__name__)
                stored = {}
            for beat in stored.values():
                self._take_beat(beat)
            self._subs.append(await self.bus.js.subscribe(
                AUTH_STATE_ALL, stream="AUTH", ordered_consumer=True,
                deliver_policy=DeliverPolicy.LAST_PER_SUBJECT, cb=self._on_auth))
            self._subs.append(await self.bus.nc.subscribe(MD_STATUS_ALL, cb=self._on_feed))

    async def stop(self) -> None:
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs.clear()

    def _bump(self) -> None:
        self.version += 1

    # --- inputs ----------------------------------------------------------------------------------

    async def _on_beat(self, msg: Msg) -> None:
        try:
            beat = SYSTEM_DECODER.decode(msg.data)
        except msgspec.DecodeError:
            log.warning("undecodable heartbeat", subject=msg.subject)
            return
        # A service may publish only on its own sys.health.<name>: a beat naming another is forged.
        if isinstance(beat, Heartbeat) and msg.subject == f"{SYS_HEALTH_PREFIX}{beat.service}":
            self._take_beat(beat)

    def _take_beat(self, beat: Heartbeat) -> None:
        current = self.beats.get(beat.service)
        if current is not None and current.ts_event > beat.ts_event:
            return
        self.beats[beat.service] = beat
        for check, value in beat.checks.items():
            if check.startswith(FEED_CHECK_PREFIX):
                self._feed_from_check(check.removeprefix(FEED_CHECK_PREFIX), value, beat.ts_event / 1e9)
        self._bump()

    def _feed_from_check(self, venue: str, value: str, ts: float) -> None:
        current = self.feeds.get(venue)
        if current is not None and current.ts >= ts:
            return  # a live md.status is newer than this heartbeat
        state, _, reason = ("up", "", "") if value == "ok" else value.partition(": ")
        self.feeds[venue] = FeedRow(state, reason, ts)

    async def _on_feed(self, msg: Msg) -> None:
        try:
            status = MARKET_DATA_DECODER.decode(msg.data)
        except msgspec.DecodeError:
            return
        if not isinstance(status, FeedStatus) or status.exchange or status.symbol:
            return  # one instrument's subscription: the venue row is about the feed as a whole
        self.feeds[status.venue] = FeedRow(status.state.value, status.reason, status.ts_event / 1e9)
        self._bump()

    async def _on_auth(self, msg: Msg) -> None:
        try:
            event = AUTH_DECODER.decode(msg.data)
        except msgspec.DecodeError:
            return
        if isinstance(event, AuthStateChanged):
            self.opend[event.instance] = OpendRow(event.state, event.reason, event.ts_event / 1e9)
            self._bump()

    # --- the snapshot a page renders -------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        now = time.time()
        return {"services": self._service_rows(now), "feeds": self._feed_rows(), "opend": self._opend_rows(),
                "now": now}

    def _service_rows(self, now: float) -> list[dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        for name, beat in self.beats.items():
            age = now - beat.ts_event / 1e9  # a stored beat of a dead service is old from the start
            missing = age > max(MISSING_FLOOR_S, MISSING_AFTER_BEATS * beat.interval_s)
            state = "missing" if missing else beat.state.value
            problems = {k: v for k, v in beat.checks.items() if v != "ok"}
            rows[name] = {"name": name, "state": state, "colour": colour(state), "pid": beat.pid,
                          "uptime_s": max(0.0, beat.ts_event - beat.started_ns) / 1e9, "age_s": age,
                          "detail": "; ".join(f"{k}: {v}" for k, v in sorted(problems.items()))}
        supervisor = self.beats.get("supervisor")
        for child in supervisor.children if supervisor else ():
            if child.name in rows:
                continue  # the service's own heartbeat says more than the supervisor's view of it
            state = "running" if child.state == "running" and child.healthy else child.state
            rows[child.name] = {"name": child.name, "state": state, "colour": colour(state), "pid": child.pid,
                                "uptime_s": None, "age_s": None, "detail": child.detail}
        return [rows[name] for name in sorted(rows)]

    def _feed_rows(self) -> list[dict[str, Any]]:
        return [{"venue": venue, "state": row.state, "colour": colour(row.state), "reason": row.reason}
                for venue, row in sorted(self.feeds.items())]

    def _opend_rows(self) -> list[dict[str, Any]]:
        return [{"instance": name, "state": row.state.value, "status": STATUS_NUMBER.get(row.state),
                 "colour": colour(row.state.value), "reason": row.reason, "prompt": CODE_PROMPTS.get(row.state, "")}
                for name, row in sorted(self.opend.items())]
