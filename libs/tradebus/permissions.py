"""Who may publish and subscribe to what on the bus: one NATS user per service.

This table is the single source of the repo's ``nats.conf`` (``tradebus nats-conf`` prints it and a
test checks the committed file matches) and of the configuration ``tradebus up --secure-bus`` gives its
embedded nats-server, so the permissions docker compose runs with are the ones exercised locally.

Principles:

* a service publishes only its own facts: md_ingest ``md.*``, td_exec ``td.evt.*`` (nobody else can
  append to TD_EVT), auth_broker ``auth.opend.*.state``; edges only *request* (``md.ctl.*``,
  ``td.cmd.*``, ``auth.opend.*.cmd``) and read;
* JetStream administration is per stream: only a stream's owner may create or update it; readers get
  info, direct gets and consumers;
* replies travel on ``_INBOX.<user>.>`` (``allow_responses`` for servers; each requester reads only its
  own inbox, so no service can read another's replies).

Passwords are not here: ``nats.conf`` reads them from environment variables
(``$TRADEBUS_NATS_PW_<USER>``), which compose fills from its env file and ``tradebus up`` generates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

API = "$JS.API"

# Stream (or KV bucket stream) → the service that creates and updates it. SYS is shared: every
# service publishes its heartbeat there and may create it, so whoever starts first does.
STREAM_OWNERS: dict[str, str] = {
    "MD": "md_ingest",
    "TD_EVT": "td_exec",
    "KV_orders": "td_exec",
    "KV_instruments": "td_exec",
    "AUTH": "auth_broker",
    "KV_auth": "auth_broker",
}
SHARED_STREAMS = ("SYS",)


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
    return [*js_read(stream), f"{API}.STREAM.CREATE.{stream}", f"{API}.STREAM.UPDATE.{stream}"]


@dataclass(frozen=True)
class UserPermissions:
    user: str
    publish: list[str]
    subscribe: list[str]
    serves_requests: bool = False  # allow_responses: reply to whoever asked, without a publish grant
    note: str = ""
    deny_publish: list[str] = field(default_factory=list)

    @property
    def password_env(self) -> str:
        return f"TRADEBUS_NATS_PW_{self.user.upper()}"


def _common(service: str) -> tuple[list[str], list[str]]:
    """Every service: its heartbeat, the shared SYS stream, flow control of its consumers, its inbox."""
    publish = [f"sys.health.{service}", *js_own("SYS"), "$JS.FC.>", f"{API}.INFO", f"{API}.STREAM.NAMES"]
    return publish, [inbox(service)]


def _own_streams(service: str) -> list[str]:
    return [grant for stream, owner in STREAM_OWNERS.items() if owner == service for grant in js_own(stream)]


def _service(service: str, publish: list[str], subscribe: list[str], *, serves: bool, note: str,
             reads: tuple[str, ...] = ()) -> UserPermissions:
    common_pub, common_sub = _common(service)
    read_grants = [grant for stream in reads for grant in js_read(stream)]
    return UserPermissions(service, [*publish, *common_pub, *_own_streams(service), *read_grants],
                           [*subscribe, *common_sub], serves, note)


def service_permissions() -> list[UserPermissions]:
    return [
        _service("md_ingest", ["md.tick.>", "md.bar.>", "md.status.>"],
                 ["md.ctl.subscribe", "md.ctl.unsubscribe", "md.ctl.history", "auth.opend.*.state"], serves=True,
                 reads=("AUTH",), note="publishes market data, serves md.ctl.*"),
        _service("td_exec", ["td.evt.>", "$KV.orders.>", "$KV.instruments.>"],
                 ["td.cmd.>", "auth.opend.*.state"], serves=True, reads=("AUTH", "MD"),
                 note="the only writer of TD_EVT; serves td.cmd.*"),
        _service("auth_broker", ["auth.opend.*.state", "$KV.auth.>"], ["auth.opend.*.cmd"], serves=True,
                 note="OpenD login state; serves auth.opend.*.cmd"),
        _service("ws_edge", ["md.ctl.subscribe", "md.ctl.unsubscribe", "td.cmd.>", "auth.opend.*.cmd"],
                 ["md.tick.>", "md.bar.>", "md.status.>", "td.evt.>", "auth.opend.*.state", "sys.health.>"],
                 serves=False, reads=("MD", "TD_EVT", "KV_orders", "KV_instruments", "AUTH", "SYS"),
                 note="webctp WebSocket edge and web console: requests and reads only"),
        _service("fmz_edge", ["md.ctl.subscribe", "md.ctl.unsubscribe", "td.cmd.>"],
                 ["md.tick.>", "md.bar.>", "td.evt.>"], serves=False,
                 reads=("MD", "TD_EVT", "KV_orders", "KV_instruments"),
                 note="FMZ plug-in: requests and reads only"),
        _service("supervisor", [], ["sys.health.>"], serves=False, reads=("SYS",),
                 note="tradebus up: its own heartbeat with the children table"),
        UserPermissions(
            "operator",
            ["auth.opend.*.cmd", "md.ctl.subscribe", "md.ctl.unsubscribe", "$JS.FC.>", f"{API}.STREAM.NAMES",
             *(g for s in ("MD", "TD_EVT", "AUTH", "SYS", "KV_orders", "KV_instruments", "KV_auth")
               for g in js_read(s))],
            ["md.>", "td.evt.>", "auth.>", "sys.>", inbox("operator")], False,
            "tradebus status / tail / verify-code: reads everything, may finish a login",
        ),
    ]


def _quoted(items: list[str], indent: str) -> str:
    inner = "".join(f'{indent}  "{item}"\n' for item in items)
    return f"[\n{inner}{indent}]"


def render_nats_conf() -> str:
    """The ``nats.conf`` for docker compose (listen, JetStream, monitoring, one user per service)."""
    lines = [
        "# Generated from libs/tradebus/permissions.py by `tradebus nats-conf`; edit the table, not this file.",
        "# One user per service; passwords come from the environment ($TRADEBUS_NATS_PW_<USER>).",
        "",
        "listen: 0.0.0.0:4222",
        "http: 0.0.0.0:8222  # monitoring: reachable inside the compose network only, never published",
        "max_payload: 1MB",
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
        lines.append(f"      publish: {{allow: {_quoted(perm.publish, '      ')}}}")
        lines.append(f"      subscribe: {{allow: {_quoted(perm.subscribe, '      ')}}}")
        if perm.serves_requests:
            lines.append("      allow_responses: true")
        lines.append("    }}")
    lines += ["  ]", "}", ""]
    return "\n".join(lines)
