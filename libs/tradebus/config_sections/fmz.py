"""``[fmz]``: fmz_edge (FMZ custom-protocol HTTP plug-in). See ``docs/fmz_edge.md``."""

from __future__ import annotations

from tradebus.config_sections.base import Section, check_instance

# The widest nonce window (nonce_window_s): the fmz_nonces bucket keeps no claim longer than twice it.
NONCE_WINDOW_MAX_S = 3600.0


class FmzConfig(Section, frozen=True, kw_only=True):
    host: str = "127.0.0.1"  # the FMZ docker runs on the same machine, like the seed's plug-in
    port: int = 6666
    # This instance's name (docs/fmz_edge.md "Several instances"): md.ctl requester "fmz_edge:<id>"; "" keeps
    # the requester "fmz_edge" of a single edge. Give each instance running side by side its own (and its own port).
    instance_id: str = ""
    # md_ingest references are leased for this long and renewed every third of it, so a killed instance's
    # references lapse within about this many seconds (tradebus.md_lease).
    md_lease_s: float = 30.0
    max_body_bytes: int = 64 * 1024  # a larger body is refused unread
    max_header_bytes: int = 16 * 1024
    idle_timeout_s: float = 60.0  # keep-alive connections idle this long are closed
    # A nonce (the docker's timestamp, ns) must lie within this many seconds of our clock …
    nonce_window_s: float = 60.0
    # … and may trail the highest nonce already accepted for its key by at most this much, so
    # exchange.Go's concurrent requests may arrive slightly out of order; an exact repeat is always
    # refused. 0 = strictly increasing.
    nonce_reorder_s: float = 2.0
    # Wrong key pairs (docs/security.md): one check in flight per address once it has failed; the n-th
    # failure in the window delays the next request from that address by base * 2**(n-1), capped.
    # The FMZ docker shares one address for all its exchanges: fix a wrong key rather than live with it.
    key_fail_base_delay_s: float = 0.25
    key_fail_max_delay_s: float = 5.0
    key_fail_window_s: float = 300.0
    request_timeout_s: float = 5.0  # td.cmd / md.ctl requests
    md_wait_s: float = 3.0  # after subscribing an instrument, wait this long for its first tick
    trades_lookback_s: float = 300.0  # `trades` reads ticks this far back from the last one
    trades_limit: int = 200
    records_default_limit: int = 500
    records_max_limit: int = 5000
    history_default_limit: int = 100

    def __post_init__(self) -> None:
        check_instance(self.instance_id, self.md_lease_s)
        if not 0 < self.nonce_window_s <= NONCE_WINDOW_MAX_S:
            raise ValueError(f"nonce_window_s must be > 0 and at most {NONCE_WINDOW_MAX_S:g} seconds, "
                             f"got {self.nonce_window_s:g}")
