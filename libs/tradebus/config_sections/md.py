"""``[md]``: md_ingest (Futu and CTP quotes normalised onto ``md.*``). See ``docs/md_ingest.md``."""

from __future__ import annotations

from tradebus.config_sections.base import Section, check_instance_id

# A lease shorter than this is renewed more often than a loaded box answers reliably; longer, a failover waits
# over a minute.
MIN_LEASE_S = 0.5
MAX_LEASE_S = 60.0


class MdConfig(Section, frozen=True, kw_only=True):
    # This instance's name when several md_ingest run side by side (``tradebus up --md-ingest-instances N``
    # gives 1…N): its heartbeat identity and its data folder ``<data dir>/md_ingest-<id>``. "" = the only one.
    instance_id: str = ""
    # Instruments subscribed at start-up and never released: "<venue>.<exchange>.<symbol>".
    subscriptions: list[str] = []
    futu: bool = True  # run the Futu quote feed
    ctp: bool = True  # run the CTP quote feed
    # Futu subscription types per instrument (futu SubType names); each one costs one unit of quota.
    futu_sub_types: tuple[str, ...] = ("QUOTE", "ORDER_BOOK", "TICKER")
    futu_quota: int = 100  # OpenD's subscription quota (per sub type per security)
    ctp_max_subscriptions: int = 1000  # CTP has no quota; a bound so a runaway client cannot flood the front
    # A subscription with no tick for this long (during its exchange's trading hours) is reported
    # stale and resubscribed.
    stale_after_s: float = 30.0
    stale_hours: str = "sessions"  # "sessions": only inside the exchange's hours; "always": any time
    backoff_initial_s: float = 0.5  # reconnect / relogin backoff: doubles up to max, ±20 % jitter
    backoff_max_s: float = 30.0
    inbox_max_keys: int = 20_000  # distinct instrument pushes waiting for the event loop (bounded)
    bars: bool = True  # publish 1-minute bars on md.bar.1m.…
    bar_grace_s: float = 2.0  # a bar is closed this long after its minute ends (late ticks still count)
    status_backlog: int = 256  # status events kept while NATS is away, published on reconnect
    subscribe_timeout_s: float = 10.0  # venue subscribe call; also the wait for CTP's instrument list
    # The venue-session lease (KV md_leases): the holder renews it every lease_s / 3; a standby takes the
    # venue over once the lease has not moved for lease_s, so this is also roughly the failover time.
    lease_s: float = 3.0

    def __post_init__(self) -> None:
        check_instance_id(self.instance_id)
        if not MIN_LEASE_S <= self.lease_s <= MAX_LEASE_S:
            raise ValueError(
                f"[md] lease_s must be between {MIN_LEASE_S:g} and {MAX_LEASE_S:g} seconds "
                f"(renewed every third of it; a standby takes over after it), got {self.lease_s:g}"
            )
