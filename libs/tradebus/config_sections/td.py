"""``[td]``: td_exec (order execution, the event store, reconciliation). See ``docs/td_exec.md``."""

from __future__ import annotations

from tradebus.config_sections.base import Section, check_instance_id


class TdConfig(Section, frozen=True, kw_only=True):
    # This instance's name when several td_exec run side by side (``tradebus up --td-exec-instances N``
    # gives 1…N): its heartbeat identity, its data folder ``<data dir>/td_exec-<id>``, its name in the lease
    # (KV td_leases) and its forwarding subject td.fwd.<id>. "" = the only one ("default" in leases).
    instance_id: str = ""
    futu: bool = True  # run the Futu trade adapter
    ctp: bool = True  # run the CTP trade adapter
    sim: bool = False  # run the in-process simulated venue "sim" (tests, demos)
    sim_tick_s: float = 1.0  # sim venue: market step interval (0 = the market only moves when told)
    # Venue call budgets. A call that overruns leaves the order UNKNOWN until a push or a query
    # settles it; it is never treated as a rejection. Keep submit below the callers' request timeout.
    submit_timeout_s: float = 3.0
    cancel_timeout_s: float = 3.0
    query_timeout_s: float = 5.0
    reconcile_timeout_s: float = 20.0  # one account's query_orders + query_fills on (re)connect
    store_timeout_s: float = 2.0  # JetStream ack wait for one event before it goes to the local spool
    # An order still SUBMITTED/UNKNOWN this long after it was stored, and absent from a complete venue
    # order list, is marked rejected (code "absent_at_venue"): an insert cannot be in flight that long.
    inflight_grace_s: float = 60.0
    inflight_check_s: float = 5.0  # how often in-flight orders are checked against the venue
    # The largest quantity one order (or a modification) may have; larger is denied ("qty_too_large").
    # Never above 2**31-1 whatever is set here: CTP's volume field is a 32-bit int. The default only
    # stops typing accidents (HK penny stocks trade in lots of 10 000+ shares); set your own risk limit.
    max_order_qty: int = 1_000_000_000
    spool_max_bytes: int = 64 << 20  # local spool of venue events while NATS is away
    # A snapshot of the fold (object store td_snapshots) once this many events were appended since the
    # last one, so a restart replays only the events after it. 0 = never.
    snapshot_every_events: int = 100_000
    snapshot_check_s: float = 10.0  # how often that count is looked at
    # A closed order whose last event is older than this leaves memory (td_exec.closed): its id goes into
    # a Bloom filter of retired_filter_mib MiB, and a lookup that hits it reads the order back from TD_EVT.
    keep_closed_s: float = 300.0
    retired_filter_mib: float = 8.0
    closed_sweep_s: float = 30.0  # how often closed orders are looked for
    # Active/standby (docs/td_exec.md "Several instances"): each account is served by the instance that
    # holds its lease in KV td_leases; the others stand by and take over once it lapses.
    lease_s: float = 3.0  # renewed every third of it; a standby takes over after it saw no renewal this long
    prefer: list[str] = []  # "<venue>:<account>" this instance takes first; others wait one more lease
    forward_timeout_s: float = 5.0  # a command forwarded to the holder waits this long for its answer

    def __post_init__(self) -> None:
        check_instance_id(self.instance_id)
        if self.max_order_qty < 1:
            raise ValueError(f"max_order_qty must be at least 1, got {self.max_order_qty}")
        if self.keep_closed_s < 0 or self.closed_sweep_s <= 0 or not 0 < self.retired_filter_mib <= 1024:
            raise ValueError("keep_closed_s >= 0, closed_sweep_s > 0 and 0 < retired_filter_mib <= 1024 required")
        if not 0.3 <= self.lease_s <= 600:
            raise ValueError(f"lease_s must be between 0.3 and 600 seconds, got {self.lease_s:g}")
        if not 0 < self.forward_timeout_s <= 60:
            raise ValueError(f"forward_timeout_s must be > 0 and at most 60 seconds, got {self.forward_timeout_s:g}")
        for item in self.prefer:
            if item.count(":") != 1 or not all(item.split(":")):
                raise ValueError(f"prefer entry {item!r}: write <venue>:<account>, e.g. \"ctp:000001\"")

    @property
    def holder_id(self) -> str:
        """This instance's name in leases and fences, and the token of its ``td.fwd.<id>``."""
        return self.instance_id or "default"
