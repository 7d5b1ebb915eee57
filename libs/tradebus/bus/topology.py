"""The JetStream streams and KV buckets tradebus relies on, declared idempotently.

``ensure_topology`` creates what is missing and updates what differs; run twice, the second run
changes nothing (no new stream, no lost message, same configuration).
"""

from __future__ import annotations

from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, ObjectStoreConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, BucketNotFoundError, NotFoundError

from tradebus.config import StreamsConfig
from tradebus.config_sections.fmz import NONCE_WINDOW_MAX_S
from tradebus.config_sections.ws import CONSOLE_SESSION_MAX_S
from tradebus.logs import get_logger
from tradebus.subjects import sys_health, sys_health_stream

log = get_logger("tradebus.bus")


@dataclass(frozen=True)
class BucketSpec:
    name: str
    history: int
    description: str
    ttl_s: float = 0.0  # the bucket's max age (0: none); keys may carry a shorter TTL of their own


BUCKETS: tuple[BucketSpec, ...] = (
    BucketSpec("orders", 5, "current state of every order, a fold of TD_EVT"),
    BucketSpec("instruments", 1, "reference data per <venue>.<exchange>.<symbol>"),
    BucketSpec("td_leases", 1, "which td_exec instance writes each <venue>.<account>: holder and epoch"),
    BucketSpec("auth", 1, "current OpenD login state per instance"),
    BucketSpec("console_sessions", 1, "web console logins by SHA-256 of their token: user and expiry",
               ttl_s=CONSOLE_SESSION_MAX_S),
    BucketSpec("md_leases", 1, "which md_ingest instance holds each venue's session: holder and epoch"),
    BucketSpec("fmz_nonces", 1, "FMZ nonces accepted by any fmz_edge, per key hash; create-only",
               ttl_s=2 * NONCE_WINDOW_MAX_S),
)


# Object stores (stream ``OBJ_<name>``): values too big for one KV message.
OBJECT_STORES: tuple[BucketSpec, ...] = (
    BucketSpec("td_snapshots", 1, "td_exec's snapshots of its order fold at a TD_EVT sequence"),
    BucketSpec("ws_edge_books", 1, "ws_edge's snapshots of its account books, per instance, at a TD_EVT sequence"),
)


def stream_configs(cfg: StreamsConfig) -> list[StreamConfig]:
    return [
        StreamConfig(
            name="MD",
            description="market data: ticks, bars, feed status (last tick of any instrument at once)",
            subjects=["md.tick.>", "md.bar.>", "md.status.>", "md.fence.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=cfg.md_max_age_s,
            max_bytes=cfg.md_max_bytes,
            max_msgs_per_subject=cfg.md_max_msgs_per_subject,
            discard=DiscardPolicy.OLD,
            duplicate_window=120.0,
            allow_direct=True,
            num_replicas=cfg.replicas,
        ),
        StreamConfig(
            name="TD_EVT",
            description="the order event store",
            subjects=["td.evt.>", "td.fence.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_bytes=cfg.td_evt_max_bytes,
            max_age=0.0,  # kept until an operator decides otherwise
            # Never silently drop order history: refuse new writes when full, and say so loudly.
            discard=DiscardPolicy.NEW,
            duplicate_window=cfg.td_evt_duplicate_window_s,
            allow_direct=True,
            deny_delete=True,
            num_replicas=cfg.replicas,
        ),
        StreamConfig(
            name="AUTH",
            description="OpenD login state changes",
            subjects=["auth.opend.*.state"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=cfg.auth_max_age_s,
            duplicate_window=120.0,
            allow_direct=True,
            num_replicas=cfg.replicas,
        ),
    ]


STREAMS: tuple[str, ...] = ("MD", "TD_EVT", "AUTH")


def heartbeat_stream_config(service: str, cfg: StreamsConfig) -> StreamConfig:
    """``service``'s own heartbeat stream: its last heartbeat, on its one subject.

    One stream per service (not one shared by all) because whoever may update a stream may change its
    subjects: a shared, writable-by-all stream let any service widen it to capture others' traffic.
    """
    return StreamConfig(
        name=sys_health_stream(service),
        description=f"the last heartbeat of {service}",
        subjects=[sys_health(service)],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.MEMORY,
        max_msgs_per_subject=1,
        max_age=3600.0,
        duplicate_window=60.0,
        allow_direct=True,
        num_replicas=cfg.replicas,
    )

# Fields we set, compared against the server's view to decide whether an update is needed.
_COMPARED = ("subjects", "retention", "storage", "max_age", "max_bytes", "max_msgs_per_subject", "discard",
             "duplicate_window", "allow_direct", "deny_delete", "description", "num_replicas")


def _differs(want: StreamConfig, have: StreamConfig) -> list[str]:
    changed = []
    for name in _COMPARED:
        wanted = getattr(want, name)
        if wanted is None:
            continue
        current = getattr(have, name)
        if name == "subjects":
            wanted, current = sorted(wanted), sorted(current or [])
        if isinstance(wanted, float) and isinstance(current, float | int):
            if abs(wanted - current) > 1e-6:
                changed.append(name)
        elif wanted != current:
            changed.append(name)
    return changed


def _mine(stream: str, owner: str | None) -> bool:
    """Whether ``owner`` sets up ``stream`` (None: set up everything, as an unrestricted user may)."""
    from tradebus.permissions import STREAM_OWNERS

    return owner is None or STREAM_OWNERS.get(stream) == owner


async def ensure_stream(js: JetStreamContext, want: StreamConfig, *, update: bool = True) -> str:
    """Create or update one stream: "created", "updated", "unchanged" (or "differs", left as it is,
    when ``update`` is False: its user may create the stream but not change it)."""
    try:
        info = await js.stream_info(want.name or "")
    except NotFoundError:
        await js.add_stream(want)
        log.info("stream created", stream=want.name)
        return "created"
    changed = _differs(want, info.config)
    if not changed:
        return "unchanged"
    if not update:
        log.warning("stream differs from its declaration; only an administrator may change it", stream=want.name,
                    fields=changed)
        return "differs"
    await js.update_stream(want)
    log.info("stream updated", stream=want.name, fields=changed)
    return "updated"


async def ensure_streams(js: JetStreamContext, cfg: StreamsConfig, owner: str | None = None) -> dict[str, str]:
    """Create or update each stream; returns what was done per stream ("created"/"updated"/"unchanged").

    With ``owner``, only that service's streams are touched; the others are left to their owners
    ("not_mine"), because the bus permissions let only the owner create or update them.
    """
    outcome: dict[str, str] = {}
    for want in stream_configs(cfg):
        assert want.name is not None
        outcome[want.name] = await ensure_stream(js, want) if _mine(want.name, owner) else "not_mine"
    return outcome


async def ensure_buckets(js: JetStreamContext, cfg: StreamsConfig, owner: str | None = None) -> dict[str, str]:
    """KV buckets and object stores: each created when missing (never updated: their limits are fixed)."""

    async def create_kv(spec: BucketSpec) -> object:
        return await js.create_key_value(bucket=spec.name, history=spec.history, description=spec.description,
                                         storage=StorageType.FILE, replicas=cfg.replicas, ttl=spec.ttl_s or None)

    async def create_object_store(spec: BucketSpec) -> object:
        return await js.create_object_store(spec.name, ObjectStoreConfig(
            description=spec.description, storage=StorageType.FILE, replicas=cfg.replicas))

    kinds = (("KV_", BUCKETS, js.key_value, create_kv, "bucket created"),
             ("OBJ_", OBJECT_STORES, js.object_store, create_object_store, "object store created"))
    outcome: dict[str, str] = {}
    for prefix, specs, open_bucket, create, created in kinds:
        for spec in specs:
            if not _mine(f"{prefix}{spec.name}", owner):
                outcome[spec.name] = "not_mine"
                continue
            try:
                await open_bucket(spec.name)
                outcome[spec.name] = "unchanged"
            except BucketNotFoundError:
                await create(spec)
                outcome[spec.name] = "created"
                log.info(created, bucket=spec.name)
    return outcome


async def ensure_topology(js: JetStreamContext, cfg: StreamsConfig, owner: str | None = None, *,
                          heartbeat_of: str | None = None) -> dict[str, str]:
    """The shared streams and buckets (``owner``'s only, under per-service users), plus the heartbeat
    stream of ``heartbeat_of`` (default: ``owner``), which its service creates for itself but, under
    per-service users, may not update: an update may change subjects, and a service able to widen a
    stream it reads could capture anyone's traffic (see docs/security.md)."""
    outcome = {**await ensure_streams(js, cfg, owner), **await ensure_buckets(js, cfg, owner)}
    service = heartbeat_of or owner
    if service:
        want = heartbeat_stream_config(service, cfg)
        try:
            outcome[str(want.name)] = await ensure_stream(js, want, update=owner is None)
        except APIError as exc:
            # e.g. the shared SYS stream of earlier versions still holds sys.health.> (subjects overlap).
            # It was a memory stream: restarting nats-server removes it. Heartbeats still go out live.
            log.error("heartbeat stream not created; restart nats-server once if an old SYS stream holds "
                      "sys.health.>", stream=want.name, error=exc.description or str(exc))
            outcome[str(want.name)] = "failed"
    return outcome
