"""``[ws]``: ws_edge (the webctp protocol over WebSocket). See ``docs/ws_edge.md``."""

from __future__ import annotations

from typing import Literal

from tradebus.config_sections.base import Secret, Section, check_instance

# The longest a console login may last (console_session_s): the console_sessions bucket keeps no entry,
# nor a logout's delete marker, longer; each login's key carries the login's own lifetime as its TTL.
CONSOLE_SESSION_MAX_S = 7 * 86_400.0


class WsConfig(Section, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    md_port: int = 8080  # /md/ (and /td/ too when combined)
    td_port: int = 8081  # /td/; 0 = no separate trading port
    # Serve /md/ and /td/ on md_port (webctp's "dev" mode, which its demo page expects). td_port, when
    # non-zero, still serves /td/ on its own.
    combined: bool = True
    # This instance's name (docs/ws_edge.md "Several instances"): md.ctl requester "ws_edge:<id>", heartbeat
    # identity. Give each instance running side by side its own (and its own ports). Default: random per process.
    instance_id: str = ""
    # md_ingest references are leased for this long and renewed every third of it, so a killed instance's
    # references lapse within about this many seconds (tradebus.md_lease).
    md_lease_s: float = 30.0
    token: Secret = Secret("")  # when set, ?token= must match or the handshake is refused (HTTP 403)
    # A /md/ ReqUserLogin with empty UserID and Password (webctp's market-data login needs none) is taken from
    # loopback clients only ("loopback"), from anyone ("all") or from nobody ("none"). Exchange data can
    # carry licence terms that forbid passing it on: widen this only where you may. /td/ always needs a user.
    anonymous_md: Literal["loopback", "all", "none"] = "loopback"
    # Frames: larger than max_frame_bytes get a -400 reply; larger than hard_max_frame_bytes close the
    # socket (1009) before they are read into memory.
    max_frame_bytes: int = 65_536
    hard_max_frame_bytes: int = 1_048_576
    # Per-connection request rate (token bucket): beyond it a request gets CTP's -3 reply.
    rate_per_s: float = 50.0
    rate_burst: int = 100
    # Per-client outbound queue of frames that must not be dropped (replies, RtnOrder, RtnTrade).
    # A client this far behind is disconnected with a reason; market data is conflated instead.
    queue_max_frames: int = 5_000
    # Socket write buffer above which a client counts as behind (its ticks are conflated).
    write_buffer_high: int = 262_144
    # Logins (webctp, console, password changes; docs/security.md): one check in flight per address
    # (more are refused unchecked); the n-th failure in the window delays the next attempt from that
    # address, and of that user from that address, by base * 2**(n-1), capped; one check at a time per
    # user name, at most login_max_waiting queued behind it. Failures never slow another address.
    login_fail_base_delay_s: float = 0.25
    login_fail_max_delay_s: float = 30.0
    login_fail_window_s: float = 600.0
    login_max_waiting: int = 8
    # Which bus venue serves CTP-style instruments (rb2601) and which serves HK./US./SH./SZ. codes.
    futures_venue: str = "ctp"
    stocks_venue: str = "futu"
    broker_id: str = "9999"  # BrokerID shown in RspUserLogin / bodies
    request_timeout_s: float = 5.0  # td.cmd / md.ctl requests
    # The web console (docs/console.md): a page at / on the combined port, its WebSocket at /console/ws.
    console: bool = True
    # Absolute lifetime of a console login (8 h); then log in again. Logins are kept in the KV bucket
    # console_sessions, so every instance accepts them; at most 7 days (the bucket's own age limit).
    console_session_s: float = 28_800.0
    console_quote_interval_s: float = 0.25  # at most one quote update per instrument per browser this often
    console_refresh_s: float = 15.0  # funds and positions are re-read this often (and after every fill)
    # The account books (orders and trades of ReqQryOrder/ReqQryTrade, folded from TD_EVT): a closed
    # order leaves them this long after its last event (default: a day, so a trading day's orders stay).
    book_keep_closed_s: float = 86_400.0
    # With an instance_id, a snapshot of an account's book (object store ws_edge_books) once it folded this
    # many events since the last one, so a restart replays only the tail. 0 = never.
    book_snapshot_every_events: int = 10_000
    book_snapshot_check_s: float = 30.0  # how often books are swept and that count is looked at

    def __post_init__(self) -> None:
        check_instance(self.instance_id, self.md_lease_s)
        if not 1 <= self.console_session_s <= CONSOLE_SESSION_MAX_S:
            raise ValueError(f"console_session_s must be from 1 to {CONSOLE_SESSION_MAX_S:g} seconds (the "
                             f"console_sessions bucket keeps nothing longer), got {self.console_session_s:g}")
