"""Who may publish and subscribe to what on the bus, derived from one ownership table.

This table is the single source of the repo's ``nats.conf`` (``tradebus nats-conf`` prints it and a
test checks the committed file matches), of the configuration ``tradebus up --secure-bus`` gives its
embedded nats-server, and of the probes of the adversarial test (``tests/deploy/test_bus_adversary.py``):
a subject family or stream added here is probed for every user automatically.

Ownership:

* every stream and KV bucket has exactly one owner (:data:`STREAM_OWNERS`); only the owner may create
  or update it, nobody may delete or purge it over the bus (that is an administrator's job);
* every subject family has its publishers (:data:`FAMILIES`); every other user is denied it explicitly;
* heartbeats: one stream per service (``SYS_<service>``, subject ``sys.health.<service>``) which that
  service may create but not update, so no service can touch another's stream, nor widen its own to
  capture other subjects;
* readers get stream info, direct gets and consumers of the streams they read, and their replies on
  ``_INBOX.<user>.>`` only;
* nobody may subscribe to ``td.evt.>``: a push consumer only delivers while someone listens on its
  deliver subject, so a consumer pointed into ``td.evt.…`` never delivers (nats-server does not check
  a push consumer's deliver subject against its creator's permissions);
* ``$SYS`` is denied to everyone.

Passwords are not here: ``nats.conf`` reads them from environment variables
(``$TRADEBUS_NATS_PW_<USER>``), which compose fills from its env file and ``tradebus up`` generates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tradebus.subjects import sys_health, sys_health_stream

API = "$JS.API"
# Every service that runs on the runtime heartbeats on sys.health.<itself> into its own stream.
HEARTBEAT_SERVICES = ("md_ingest", "td_exec", "auth_broker", "ws_edge", "fmz_edge", "supervisor")
OPERATOR = "operator"

# Stream (or KV bucket stream) → the one user that creates and updates it.
STREAM_OWNERS: dict[str, str] = {
    "MD": "md_ingest",
    "KV_md_leases": "md_ingest",  # which md_ingest instance holds each venue's session
    "TD_EVT": "td_exec",
    "KV_orders": "td_exec",
    "KV_instruments": "td_exec",
    "KV_td_leases": "td_exec",  # one writer per account: the lease of each (services/td_exec/lease.py)
    "OBJ_td_snapshots": "td_exec",
    "AUTH": "auth_broker",
    "KV_auth": "auth_broker",
    "KV_console_sessions": "ws_edge",  # web console logins, shared by every ws_edge instance
    "KV_fmz_nonces": "fmz_edge",  # FMZ nonces accepted by any fmz_edge instance (replay protection)
    "OBJ_ws_edge_books": "ws_edge",  # snapshots of each ws_edge instance's account books
    **{sys_health_stream(service): service for service in HEARTBEAT_SERVICES},
}
HEARTBEAT_STREAMS = tuple(sys_health_stream(service) for service in HEARTBEAT_SERVICES)
# The edges' own buckets (state their instances share). The edges face the network, so, like heartbeat
# streams, these are create-only: an update may change a stream's subjects, and an edge able to widen
# its bucket could capture td.cmd.> or auth.opend.*.cmd (issue 14's exploit).
EDGE_BUCKETS = ("KV_console_sessions", "KV_fmz_nonces", "OBJ_ws_edge_books")
CREATE_ONLY_STREAMS = (*HEARTBEAT_STREAMS, *EDGE_BUCKETS)
# Streams whose owner may purge them: an object store replaces an object by purging the old object's
# chunks: td_exec replaces its snapshot (services/td_exec/snapshot.py), ws_edge those of its account books
# (services/ws_edge/book_snapshots.py). Nobody else purges anything.
OWNER_PURGES = ("OBJ_td_snapshots", "OBJ_ws_edge_books")


@dataclass(frozen=True)
class Family:
    """A subject family: its grant, one concrete subject of it (for probes) and who may publish it."""

    grant: str
    sample: str
    publishers: frozenset[str]


def _family(grant: str, sample: str, *publishers: str) -> Family:
    return Family(grant, sample, frozenset(publishers))


FAMILIES: tuple[Family, ...] = (
    _family("md.tick.>", "md.tick.ctp.SHFE.rb2601", "md_ingest"),
    _family("md.bar.>", "md.bar.ctp.SHFE.rb2601.1m", "md_ingest"),
    _family("md.status.>", "md.status.ctp", "md_ingest"),
    _family("md.fence.>", "md.fence.ctp", "md_ingest"),
    _family("md.ctl.subscribe", "md.ctl.subscribe", "ws_edge", "fmz_edge", OPERATOR),
    _family("md.ctl.unsubscribe", "md.ctl.unsubscribe", "ws_edge", "fmz_edge", OPERATOR),
    _family("md.ctl.history", "md.ctl.history", OPERATOR),  # and bus users (tradebus.bus_users)
    _family("td.evt.>", "td.evt.ctp.000001.O-1", "td_exec"),
    _family("td.fence.>", "td.fence.ctp.000001.default", "td_exec"),
    _family("td.fwd.*", "td.fwd.default", "td_exec"),
    _family("td.cmd.>", "td.cmd.ctp.000001", "ws_edge", "fmz_edge"),
    _family("auth.opend.*.state", "auth.opend.default.state", "auth_broker"),
    _family("auth.opend.*.cmd", "auth.opend.default.cmd", "ws_edge", OPERATOR),
    _family("$KV.orders.>", "$KV.orders.ctp.000001.O-1", "td_exec"),
    _family("$KV.instruments.>", "$KV.instruments.ctp.SHFE.rb2601", "td_exec"),
    _family("$KV.td_leases.>", "$KV.td_leases.ctp.000001", "td_exec"),
    _family("$KV.auth.>", "$KV.auth.default", "auth_broker"),
    _family("$KV.md_leases.>", "$KV.md_leases.ctp", "md_ingest"),
    _family("$KV.console_sessions.>", "$KV.console_sessions.0f3a", "ws_edge"),
    _family("$KV.fmz_nonces.>", "$KV.fmz_nonces.0f3a.1730275031047002000", "fmz_edge"),
    _family("$O.td_snapshots.>", "$O.td_snapshots.C.x", "td_exec"),
    _family("$O.ws_edge_books.>", "$O.ws_edge_books.C.x", "ws_edge"),
    *(_family(sys_health(s), sys_health(s), s) for s in HEARTBEAT_SERVICES),
)
# Core subscriptions nobody gets: TD_EVT is read through consumers only (see the module docstring).
NOBODY_SUBSCRIBES = ("td.evt.>", "td.fence.>", "$SYS.>")


def inbox(user: str) -> str:
    """Replies to ``user``: :func:`tradebus.bus.connect` uses ``_INBOX.<user>`` as its inbox prefix."""
    return f"_INBOX.{user}.>"


def js_read(stream: str) -> list[str]:
    """What reading a stream needs: its info, direct gets, and (ordered) consumers."""
    return [
        f"{API}.STREAM.INFO.{stream}",
        f"{API}.DIRECT.GET.{stream}",
        f"{API}.DIRECT.GET.{stream}.>",
        f"{API}.STREAM.MSG.GET.{stream}",
        f"{API}.CONSUMER.CREATE.{stream}",
        f"{API}.CONSUMER.CREATE.{stream}.>",
        f"{API}.CONSUMER.DELETE.{stream}.>",
        f"{API}.CONSUMER.INFO.{stream}.>",
    ]


def js_own(stream: str) -> list[str]:
    """What the owner may do: read, create and (data streams only) update. A heartbeat stream's or an
    edge bucket's owner may create it but never change it, so it cannot widen it to capture others' subjects."""
    update = [] if stream in CREATE_ONLY_STREAMS else [f"{API}.STREAM.UPDATE.{stream}"]
    purge = [f"{API}.STREAM.PURGE.{stream}"] if stream in OWNER_PURGES else []
    return [*js_read(stream), f"{API}.STREAM.CREATE.{stream}", *update, *purge]


def js_admin(stream: str) -> list[str]:
    """The administration subjects of a stream, every one of which only its owner may (partly) use."""
    return [f"{API}.STREAM.{verb}.{stream}" for verb in ("CREATE", "UPDATE", "DELETE", "PURGE")]


@dataclass(frozen=True)
class UserPermissions:
    user: str
    publish: list[str]
    subscribe: list[str]
    serves_requests: bool = False  # allow_responses: reply to whoever asked, without a publish grant
    note: str = ""
    deny_publish: list[str] = field(default_factory=list)
    deny_subscribe: list[str] = field(default_factory=list)
    reads: tuple[str, ...] = ()  # streams it reads (besides its own)

    @property
    def password_env(self) -> str:
        return f"TRADEBUS_NATS_PW_{self.user.upper()}"

    @property
    def owns(self) -> tuple[str, ...]:
        return tuple(stream for stream, owner in STREAM_OWNERS.items() if owner == self.user)


def _user(user: str, subscribe: list[str], *, reads: tuple[str, ...] = (), serves: bool = False,
          note: str = "") -> UserPermissions:
    """One user's grants: its families, its streams, the streams it reads; every other write denied."""
    owned = [stream for stream, owner in STREAM_OWNERS.items() if owner == user]
    own_grants = {grant for stream in owned for grant in js_own(stream)}
    publish = [
        *(f.grant for f in FAMILIES if user in f.publishers),
        *(grant for stream in owned for grant in js_own(stream)),
        *(grant for stream in reads if stream not in owned for grant in js_read(stream)),
        "$JS.FC.>", f"{API}.INFO", f"{API}.STREAM.NAMES",
    ]
    deny_publish = [
        "$SYS.>", f"{API}.STREAM.DELETE.>",
        *([f"{API}.STREAM.PURGE.{stream}" for stream in STREAM_OWNERS if stream not in owned or
           stream not in OWNER_PURGES] if any(s in OWNER_PURGES for s in owned) else [f"{API}.STREAM.PURGE.>"]),
        *(f"{API}.STREAM.{verb}.{stream}" for stream in STREAM_OWNERS
          for verb in ("CREATE", "UPDATE") if f"{API}.STREAM.{verb}.{stream}" not in own_grants),
        *(f.grant for f in FAMILIES if user not in f.publishers),
    ]
    return UserPermissions(user, publish, [*subscribe, inbox(user)], serves, note, deny_publish,
                           list(NOBODY_SUBSCRIBES), reads)


def service_permissions() -> list[UserPermissions]:
    return [
        _user("md_ingest", ["md.ctl.subscribe", "md.ctl.unsubscribe", "md.ctl.history", "auth.opend.*.state"],
              reads=("AUTH",), serves=True, note="publishes market data, serves md.ctl.*"),
        _user("td_exec", ["td.cmd.>", "td.fwd.*", "auth.opend.*.state"], reads=("AUTH", "MD"), serves=True,
              note="the only writer of TD_EVT; serves td.cmd.* and, between instances, td.fwd.*"),
        _user("auth_broker", ["auth.opend.*.cmd"], serves=True, note="OpenD login state; serves auth.opend.*.cmd"),
        _user("ws_edge", ["md.tick.>", "md.bar.>", "md.status.>", "md.fence.>", "auth.opend.*.state", "sys.health.>"],
              reads=("MD", "TD_EVT", "KV_orders", "KV_instruments", "AUTH", *HEARTBEAT_STREAMS),
              note="webctp WebSocket edge and web console: requests and reads only"),
        _user("fmz_edge", ["md.tick.>", "md.bar.>", "md.fence.>"],
              reads=("MD", "TD_EVT", "KV_orders", "KV_instruments"),
              note="FMZ plug-in: requests and reads only"),
        _user("supervisor", ["sys.health.>"], reads=HEARTBEAT_STREAMS,
              note="tradebus up: its own heartbeat with the children table"),
        _user(OPERATOR, ["md.>", "auth.>", "sys.>"],
              reads=("MD", "TD_EVT", "AUTH", "KV_orders", "KV_instruments", "KV_auth", *HEARTBEAT_STREAMS),
              note="tradebus status / tail / verify-code: reads everything, may finish a login"),
    ]


def _quoted(items: list[str], indent: str) -> str:
    inner = "".join(f'{indent}  "{item}"\n' for item in items)
    return f"[\n{inner}{indent}]"


# How soon nats-server gives up on a client that stopped reading (render_nats_conf): a live client's loop
# answers a ping within milliseconds, so only a frozen or wedged process is dropped.
SERVER_PING_INTERVAL_S = 5
SERVER_PING_MAX = 2


def render_nats_conf() -> str:
    """The ``nats.conf`` for docker compose (listen, JetStream, monitoring, one user per service)."""
    lines = [
        "# Generated from libs/tradebus/permissions.py by `tradebus nats-conf`; edit the table, not this file.",
        "# One user per service; passwords come from the environment ($TRADEBUS_NATS_PW_<USER>).",
        "",
        "listen: 0.0.0.0:4222",
        "# Monitoring (/connz lists users and subscriptions, unauthenticated): loopback only. In compose",
        "# the health check runs inside the nats container; `tradebus up` sets the port with -m.",
        "http: 127.0.0.1:8222",
        "max_payload: 1MB",
        "# A client that stops answering the server's pings (a frozen process: SIGSTOP, a paused VM) is dropped",
        f"# once {SERVER_PING_MAX} pings sent {SERVER_PING_INTERVAL_S} s apart went unanswered (10-15 s), not "
        "after nats-server's default minutes:",
        "# until then its queue subscriptions (a td_exec's share of td.cmd) take requests nobody answers.",
        f'ping_interval: "{SERVER_PING_INTERVAL_S}s"',
        f"ping_max: {SERVER_PING_MAX}",
        "",
        "# store_dir comes from the command line (-sd): /data in compose, the data folder under tradebus up.",
        "jetstream {",
        "  max_memory_store: 256MB",
        "  max_file_store: 20GB",
        "}",
        "",
        "authorization {",
        "  users: [",
    ]
    for perm in service_permissions():
        lines.append(f"    # {perm.user}: {perm.note}")
        lines.append(f"    {{user: {perm.user}, password: ${perm.password_env}, permissions: {{")
        lines.append(f"      publish: {{allow: {_quoted(perm.publish, '      ')}, "
                     f"deny: {_quoted(perm.deny_publish, '      ')}}}")
        lines.append(f"      subscribe: {{allow: {_quoted(perm.subscribe, '      ')}, "
                     f"deny: {_quoted(perm.deny_subscribe, '      ')}}}")
        if perm.serves_requests:
            lines.append("      allow_responses: true")
        lines.append("    }}")
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def _cell(items: list[str] | tuple[str, ...]) -> str:
    return ", ".join(f"`{item}`" for item in items) or "—"


def render_permission_table() -> str:
    """The permission table of docs/security.md (a test keeps the document equal to this)."""
    rows = ["| user | publishes | owns (creates) | reads (info, direct get, consumers) | subscribes | answers |",
            "|---|---|---|---|---|---|"]
    for perm in service_permissions():
        families = [f.grant for f in FAMILIES if perm.user in f.publishers]
        owns = [s if s in CREATE_ONLY_STREAMS else f"{s} (+update)" for s in perm.owns]
        subscribes = [s for s in perm.subscribe if s != inbox(perm.user)]
        answers = "requests, on `_INBOX.` replies only" if perm.serves_requests else "no"
        rows.append(f"| {perm.user} | {_cell(families)} | {_cell(owns)} | {_cell(perm.reads)} | "
                    f"{_cell(subscribes)} + own inbox | {answers} |")
    return "\n".join(rows) + "\n"
