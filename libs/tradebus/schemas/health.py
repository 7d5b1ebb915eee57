"""Service health, published as a heartbeat on ``sys.health.<service>``."""

from __future__ import annotations

from enum import StrEnum

import msgspec

from tradebus.schemas.base import BusMessage


class HealthState(StrEnum):
    STARTING = "starting"
    OK = "ok"
    DEGRADED = "degraded"
    STOPPING = "stopping"


class ChildProcess(msgspec.Struct, frozen=True, kw_only=True):
    """One process as ``tradebus up`` sees it (reported inside the supervisor's heartbeat)."""

    name: str
    state: str  # "starting" | "running" | "backoff" | "stopped" | "failed"
    pid: int | None = None
    restarts: int = 0
    healthy: bool = False
    detail: str = ""


class Heartbeat(BusMessage, frozen=True, kw_only=True):
    service: str
    instance: str  # host:pid, so two replicas are told apart
    pid: int
    state: HealthState
    started_ns: int
    ts_event: int
    interval_s: float
    version: str = ""
    checks: dict[str, str] = {}  # check name → "ok" or what is wrong
    children: tuple[ChildProcess, ...] = ()  # only the supervisor fills this


SystemMessage = Heartbeat
