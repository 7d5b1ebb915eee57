"""The bus contract, machine-readable: an AsyncAPI 3.0 document built from the code.

* **Channels** take their addresses from the subject builders of :mod:`tradebus.subjects`: each builder
  is called with sentinel values and the sentinels become ``{parameters}``, so a changed builder
  changes the document.
* **Messages** are the msgspec types, their JSON Schemas from :func:`msgspec.json.schema_components`
  (every payload is a tagged struct: the ``type`` field names it).
* **Operations** are what a client does on each channel; request/reply pairs carry a ``reply`` whose
  address is the requester's inbox (the message's reply subject).
* **Who may do what**: each operation lists, in ``x-tradebus-users``, the users of the generated
  ``nats.conf`` allowed to do it (from :mod:`tradebus.permissions` and :mod:`tradebus.bus_users`).

``tradebus asyncapi`` prints it; ``docs/asyncapi.yaml`` is that output, and a test fails when it is stale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from tradebus import subjects
from tradebus.bus_users import permissions_for
from tradebus.permissions import service_permissions
from tradebus.schemas import (
    AuthCommand,
    AuthReply,
    AuthStateChanged,
    Bar,
    FeedFence,
    FeedStatus,
    Heartbeat,
    HistoryRefused,
    OrderEvent,
    SubscribeRequest,
    SubscriptionReply,
    Tick,
    TradeCommand,
    TradeReply,
    UnsubscribeRequest,
)
from tradebus.schemas.history import BarsPage, BarsQuery, TicksPage, TicksQuery
from tradebus.schemas.orders import AccountFence
from tradebus.users import User

VERSION = "0.1.0"
SCHEMA_REF = "#/components/schemas/{name}"
BUS_USER = "bus users"  # tradebus user add NAME --bus; on td.* only for their own accounts
_SENTINELS = {"venue": "sim", "exchange": "PXEXCHANGE", "symbol": "PXSYMBOL", "account": "PXACCOUNT",
              "client_order_id": "PXCOID", "interval": "PXINTERVAL", "instance": "PXINSTANCE",
              "service": "PXSERVICE", "holder": "PXHOLDER"}
_PARAM_TEXT = {
    "venue": ("the venue", list(subjects.VENUES)),
    "exchange": ("exchange or market (SHFE, HK, US…), escaped as a subject token", None),
    "symbol": ("venue symbol (rb2601, 00700, AAPL), escaped as a subject token: letters, digits and '-' stand "
               "for themselves, every other character is '_' and the hex of its UTF-8 bytes", None),
    "account": ("venue account id, escaped as a subject token", None),
    "client_order_id": ("the order's client order id, escaped as a subject token", None),
    "interval": ("bar interval", ["1m"]),
    "instance": ("OpenD instance name", None),
    "holder": ("a td_exec instance id ([td] instance_id)", None),
    "service": ("service name", None),
}


@dataclass(frozen=True)
class Channel:
    key: str
    builder: Callable[..., str] | str
    params: tuple[str, ...]
    messages: tuple[Any, ...]
    description: str


@dataclass(frozen=True)
class Operation:
    key: str
    action: str  # "send" | "receive", from the point of view of a client of the bus
    channel: str
    summary: str
    reply: tuple[Any, ...] = ()  # reply message types (request/reply)


CHANNELS = (
    Channel("mdTick", subjects.md_tick, ("venue", "exchange", "symbol"), (Tick,),
            "Normalised ticks (L1 + 5 levels); stored in stream MD."),
    Channel("mdBar", subjects.md_bar, ("venue", "exchange", "symbol", "interval"), (Bar,),
            "1-minute bars built by md_ingest from ticks; stored in stream MD."),
    Channel("mdStatus", subjects.md_status, ("venue",), (FeedStatus,), "Feed up / down / stale; stream MD."),
    Channel("mdFence", subjects.md_fence, ("venue",), (FeedFence,),
            "Which md_ingest instance holds the venue's session (epoch); stream MD. Not market data: skip it."),
    Channel("mdCtlSubscribe", subjects.MD_CTL_SUBSCRIBE, (), (SubscribeRequest,),
            "Ask md_ingest to hold a venue subscription (reference-counted per requester)."),
    Channel("mdCtlUnsubscribe", subjects.MD_CTL_UNSUBSCRIBE, (), (UnsubscribeRequest,),
            "Release a subscription reference."),
    Channel("mdCtlHistory", subjects.MD_CTL_HISTORY, (), (BarsQuery, TicksQuery),
            "History: bars and ticks of the past, bounded pages (md_ingest)."),
    Channel("tdCmd", subjects.td_cmd, ("venue", "account"), tuple(TradeCommand.__args__),
            "Commands and queries for one account; td_exec always replies."),
    Channel("tdEvt", subjects.td_evt, ("venue", "account", "client_order_id"), tuple(OrderEvent.__args__),
            "Immutable order events, the event store (stream TD_EVT); only td_exec publishes here."),
    Channel("tdFence", subjects.td_fence, ("venue", "account", "holder"), (AccountFence,),
            "A td_exec instance took the account over (stream TD_EVT); only td_exec publishes here."),
    Channel("tdFwd", subjects.td_fwd, ("holder",), tuple(TradeCommand.__args__),
            "A command forwarded by a standby td_exec to the instance holding its account (headers "
            "Tradebus-Cmd-Subject: the original td.cmd subject, Tradebus-Cmd-Reply: the original reply "
            "subject); the holder's reply is the answer, or empty with the header Tradebus-Cmd-Answered when "
            "it answered the requester directly; td_exec instances only."),
    Channel("authState", subjects.auth_state, ("instance",), (AuthStateChanged,), "OpenD login state; stream AUTH."),
    Channel("authCmd", subjects.auth_cmd, ("instance",), (AuthCommand,),
            "Commands for auth_broker (verify codes)."),
    Channel("sysHealth", subjects.sys_health, ("service",), (Heartbeat,),
            "Heartbeats of every service; stream SYS."),
)

OPERATIONS = (
    Operation("receiveTicks", "receive", "mdTick", "Read ticks."),
    Operation("receiveBars", "receive", "mdBar", "Read 1-minute bars."),
    Operation("receiveFeedStatus", "receive", "mdStatus", "Read feed status."),
    Operation("receiveFeedFence", "receive", "mdFence", "See which md_ingest instance holds each venue."),
    Operation("subscribeInstrument", "send", "mdCtlSubscribe", "Hold a venue subscription.", (SubscriptionReply,)),
    Operation("unsubscribeInstrument", "send", "mdCtlUnsubscribe", "Release it.", (SubscriptionReply,)),
    Operation("requestHistory", "send", "mdCtlHistory", "Ask for bars or ticks of the past.",
              (BarsPage, TicksPage, HistoryRefused)),
    Operation("sendTradeCommand", "send", "tdCmd",
              "Submit, cancel, modify or query. Resubmitting a client_order_id returns the existing order.",
              tuple(TradeReply.__args__)),
    Operation("receiveOrderEvents", "receive", "tdEvt", "Follow an account's orders."),
    Operation("receiveFences", "receive", "tdFence", "Follow which td_exec instance writes an account."),
    Operation("forwardTradeCommand", "send", "tdFwd", "Between td_exec instances: pass a command to the holder.",
              tuple(TradeReply.__args__)),
    Operation("receiveAuthState", "receive", "authState", "Follow the OpenD login."),
    Operation("sendAuthCommand", "send", "authCmd", "Give OpenD a verify code.", (AuthReply,)),
    Operation("receiveHealth", "receive", "sysHealth", "Read heartbeats."),
)


def _address(channel: Channel) -> str:
    if isinstance(channel.builder, str):
        return channel.builder
    subject = channel.builder(*(_SENTINELS[p] for p in channel.params))
    by_value = {_SENTINELS[p]: p for p in channel.params}
    return ".".join(f"{{{by_value[t]}}}" if t in by_value else t for t in subject.split("."))


def _wildcard(address: str) -> str:
    return ".".join("*" if t.startswith("{") else t for t in address.split("."))


def covers(pattern: str, subject: str) -> bool:
    """Whether NATS permission ``pattern`` allows every subject ``subject`` (which may hold ``*``) stands for."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)


def _example_bus_user() -> dict[str, dict[str, list[str]]]:
    # Any one account: the grant shape, not the account, decides which channels a bus user reaches.
    user = User(name="strategy", password_hash="", accounts=["sim:A1"], bus_password="x")
    return permissions_for(user)


def _users(operation: Operation, address: str) -> list[str]:
    side = "publish" if operation.action == "send" else "subscribe"
    subject = _wildcard(address)
    found = [p.user for p in service_permissions()
             if any(covers(allowed, subject) for allowed in (p.publish if side == "publish" else p.subscribe))]
    bus = _example_bus_user()[side]["allow"]
    own = subject.replace("td.cmd.*.*", "td.cmd.sim.A1").replace("td.evt.*.*", "td.evt.sim.A1")
    if any(covers(allowed, own) for allowed in bus):
        found.append(f"{BUS_USER} (own accounts only)" if own != subject else BUS_USER)
    return found


def _message(kind: Any) -> dict[str, Any]:
    name = kind.__name__
    doc = (kind.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    out: dict[str, Any] = {"name": name, "payload": {"$ref": SCHEMA_REF.format(name=name)}}
    if doc and not doc.startswith(("A base", "Base of")):
        out["summary"] = " ".join(doc.split())
    return out


def build() -> dict[str, Any]:
    kinds: dict[str, Any] = {}
    for channel in CHANNELS:
        kinds.update({k.__name__: k for k in channel.messages})
    for operation in OPERATIONS:
        kinds.update({k.__name__: k for k in operation.reply})
    _, schemas = msgspec.json.schema_components(sorted(kinds.values(), key=lambda k: k.__name__),
                                                ref_template=SCHEMA_REF)
    channels: dict[str, Any] = {}
    addresses: dict[str, str] = {}
    for channel in CHANNELS:
        address = addresses[channel.key] = _address(channel)
        entry: dict[str, Any] = {"address": address, "description": channel.description,
                                 "messages": {k.__name__: {"$ref": f"#/components/messages/{k.__name__}"}
                                              for k in channel.messages}}
        if channel.params:
            entry["parameters"] = {}
            for param in channel.params:
                text, values = _PARAM_TEXT[param]
                entry["parameters"][param] = {"description": text, **({"enum": values} if values else {})}
        channels[channel.key] = entry
    operations: dict[str, Any] = {}
    for operation in OPERATIONS:
        entry = {"action": operation.action, "channel": {"$ref": f"#/channels/{operation.channel}"},
                 "summary": operation.summary,
                 "messages": [{"$ref": f"#/channels/{operation.channel}/messages/{k.__name__}"}
                              for k in next(c for c in CHANNELS if c.key == operation.channel).messages],
                 "x-tradebus-users": _users(operation, addresses[operation.channel])}
        if operation.reply:
            reply_key = f"{operation.channel}Reply"
            channels[reply_key] = {"address": None, "description": "The requester's inbox (_INBOX.<user>.…).",
                                   "messages": {k.__name__: {"$ref": f"#/components/messages/{k.__name__}"}
                                                for k in operation.reply}}
            entry["reply"] = {"address": {"location": "$message.header#/replyTo",
                                          "description": "NATS reply subject of the request"},
                              "channel": {"$ref": f"#/channels/{reply_key}"},
                              "messages": [{"$ref": f"#/channels/{reply_key}/messages/{k.__name__}"}
                                           for k in operation.reply]}
        operations[operation.key] = entry
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "tradebus bus contract", "version": VERSION,
                 "description": "Subjects, payloads and request/reply pairs of the tradebus NATS bus. Generated "
                                "from libs/tradebus (tradebus asyncapi); see docs/strategies.md and "
                                "docs/schemas.md. Payloads are JSON; the `type` field names every message."},
        "defaultContentType": "application/json",
        "servers": {"local": {"host": "127.0.0.1:4222", "protocol": "nats",
                              "description": "tradebus up's embedded nats-server; each user logs in with "
                                             "user name and password"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": {name: _message(kinds[name]) for name in sorted(kinds)},
                       "schemas": schemas},
    }


def render() -> str:
    import yaml  # the document's only writer; yaml is a test/doc dependency, not a runtime one

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True  # write shared values out in full: no &anchors for a person to chase

    header = "# Generated by `tradebus asyncapi` from libs/tradebus; edit the code, not this file.\n"
    return header + yaml.dump(build(), Dumper=Dumper, sort_keys=False, allow_unicode=True, width=110)
