"""The bus as a security boundary: each user, tried as an attacker holding its credentials.

A real nats-server runs the repo's nats.conf; every probe comes from the permission table
(``tradebus.permissions``), so a new subject family, stream or user is probed without editing this
file. For every user: every write it should not have is refused by the server; and it can still do
its job. The two exploits of issue 14 are replayed literally and shown refused.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import msgspec
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy, StreamConfig
from polling import until

from deploy.conftest import SecureNats, as_user, raw_client, violation
from tradebus.bus.flush import flush_in_order
from tradebus.bus.heartbeats import last_heartbeats
from tradebus.bus.topology import ensure_topology
from tradebus.config import StreamsConfig
from tradebus.permissions import (
    API,
    EDGE_BUCKETS,
    FAMILIES,
    HEARTBEAT_SERVICES,
    HEARTBEAT_STREAMS,
    NOBODY_SUBSCRIBES,
    OWNER_PURGES,
    STREAM_OWNERS,
    UserPermissions,
    js_admin,
    service_permissions,
)
from tradebus.schemas import HealthState, Heartbeat
from tradebus.subjects import sys_health, sys_health_stream

USERS = {p.user: p for p in service_permissions()}
QUOTED = re.compile(r'"([^"]+)"')


def _granted(perm: UserPermissions, subject: str) -> bool:
    return subject in perm.publish or any(g.endswith(".>") and subject.startswith(g[:-1]) for g in perm.publish)


def owner_may(user: str, stream: str, subject: str) -> bool:
    """The ownership rule itself (not the grants it produced): an owner creates its stream and updates
    it unless it is a heartbeat stream or an edge's bucket; nobody deletes; only an object store's owner
    purges it."""
    allowed = {f"{API}.STREAM.CREATE.{stream}"}
    if stream not in HEARTBEAT_STREAMS and stream not in EDGE_BUCKETS:
        allowed.add(f"{API}.STREAM.UPDATE.{stream}")
    if stream in OWNER_PURGES:  # an object store's owner replaces objects by purging old chunks
        allowed.add(f"{API}.STREAM.PURGE.{stream}")
    return STREAM_OWNERS[stream] == user and subject in allowed


def forbidden_publishes(perm: UserPermissions) -> list[str]:
    """Every write ``perm.user`` must not have, from the table: foreign families, stream administration
    of anything it does not own, reading streams it does not read, and ``$SYS``."""
    probes = [f.sample for f in FAMILIES if perm.user not in f.publishers]
    probes += [s for stream in STREAM_OWNERS for s in js_admin(stream) if not owner_may(perm.user, stream, s)]
    unread = [s for s in STREAM_OWNERS if s not in perm.reads and s not in perm.owns]
    probes += [f"{API}.{verb}.{stream}" for stream in unread
               for verb in ("DIRECT.GET", "STREAM.MSG.GET", "CONSUMER.CREATE", "STREAM.INFO")]
    probes += ["$SYS.REQ.SERVER.PING", "$SYS.REQ.ACCOUNT.PING.CONNZ", "$SYS.REQ.SERVER.PING.CONNZ"]
    return probes


def forbidden_subscriptions(perm: UserPermissions) -> list[str]:
    """Core subscriptions nobody has (TD_EVT, ``$SYS``), a literal order subject, and others' inboxes."""
    td_order = next(f.sample for f in FAMILIES if f.grant == "td.evt.>")
    return [*NOBODY_SUBSCRIBES, td_order, *(f"_INBOX.{u}.>" for u in USERS if u != perm.user)]


@pytest.fixture
async def topology(secure_nats: SecureNats) -> AsyncIterator[SecureNats]:
    """Every stream and bucket created by its owner, and every heartbeat stream by its service."""
    for user in {*STREAM_OWNERS.values()}:
        async with as_user(secure_nats, user) as bus:
            await ensure_topology(bus.js, StreamsConfig(), user)
    yield secure_nats


@pytest.mark.parametrize("user", sorted(USERS))
async def test_every_forbidden_write_is_refused(topology: SecureNats, user: str) -> None:
    perm = USERS[user]
    publishes, subscriptions = forbidden_publishes(perm), forbidden_subscriptions(perm)
    assert len(publishes) > 30  # the table yields real probes, not an empty loop
    reports: list[str] = []
    async with raw_client(topology, user, reports) as nc:
        for subject in publishes:
            await nc.publish(subject, b"{}", reply=f"_INBOX.{user}.probe")
        for subject in subscriptions:
            await nc.subscribe(subject)
        await flush_in_order(nc)

        def refused(kind: str) -> set[str]:
            # nats-py lower-cases the server's -ERR text, so compare subjects case-insensitively.
            return {m.group(1) for r in reports if kind in r for m in QUOTED.finditer(r)}

        def all_reported() -> bool:
            return lowered(publishes) <= refused("publish") and lowered(subscriptions) <= refused("subscription")

        try:
            await until(all_reported, 10, f"every probe of {user} refused")
        except AssertionError:
            pass
    assert lowered(publishes) - refused("publish") == set(), f"{user} was allowed to publish these"
    assert lowered(subscriptions) - refused("subscription") == set(), f"{user} was allowed to subscribe to these"


def lowered(subjects: list[str]) -> set[str]:
    return {s.lower() for s in subjects}


async def test_every_service_heartbeats_into_its_own_stream_and_the_operator_reads_them(
        topology: SecureNats) -> None:
    for service in HEARTBEAT_SERVICES:
        async with as_user(topology, service) as bus:
            outcome = await ensure_topology(bus.js, StreamsConfig(), service)
            assert outcome[sys_health_stream(service)] == "unchanged"  # created by the fixture, same config
            beat = Heartbeat(service=service, instance="test", pid=1, state=HealthState.OK, started_ns=1,
                             ts_event=2, interval_s=5.0)
            await bus.publish(sys_health(service), beat)
    async with as_user(topology, "operator") as bus:
        beats = await last_heartbeats(bus)
    assert sorted(beats) == sorted(HEARTBEAT_SERVICES)
    async with as_user(topology, "ws_edge") as bus:  # the console reads them too
        assert sorted(await last_heartbeats(bus)) == sorted(HEARTBEAT_SERVICES)


async def test_exploit_a_fmz_edge_cannot_widen_a_stream_to_capture_commands(topology: SecureNats) -> None:
    """Issue 14: fmz_edge's user widened the shared SYS stream to capture ``auth.opend.*.cmd`` and
    ``td.cmd.>`` (a verify code and a command were stored; td.cmd callers got the stream's ack)."""
    wide = ["auth.opend.*.cmd", "td.cmd.>"]
    own = sys_health_stream("fmz_edge")
    for verb, stream in [("UPDATE", own), ("UPDATE", "KV_fmz_nonces"), ("CREATE", "SYS"), ("UPDATE", "SYS"),
                         ("UPDATE", sys_health_stream("md_ingest")), ("UPDATE", "MD"), ("UPDATE", "TD_EVT")]:
        config = StreamConfig(name=stream, subjects=[sys_health("fmz_edge"), *wide])
        body = msgspec.json.encode({k: v for k, v in config.as_dict().items() if v is not None})

        async def attempt(nc, subject: str = f"{API}.STREAM.{verb}.{stream}", payload: bytes = body) -> None:  # type: ignore[no-untyped-def]
            await nc.publish(subject, payload, reply="_INBOX.fmz_edge.x")

        found = await violation(topology, "fmz_edge", attempt)
        assert found is not None, f"fmz_edge could {verb} {stream}"
    async with as_user(topology, "fmz_edge") as bus:  # and through the JetStream client, as an attacker would
        with pytest.raises(Exception):  # noqa: B017 - refused: the request is dropped, nats-py times out
            await bus.js.update_stream(StreamConfig(name=own, subjects=[sys_health("fmz_edge"), *wide]))
    async with as_user(topology, "operator") as bus:
        for subject in wide:  # no stream captures a command subject
            names = await bus.nc.request(f"{API}.STREAM.NAMES", msgspec.json.encode({"subject": subject}))
            assert msgspec.json.decode(names.data).get("streams") in (None, []), subject
        assert (await bus.js.stream_info(own)).config.subjects == [sys_health("fmz_edge")]


async def test_exploit_b_ws_edge_push_consumer_into_td_evt_stores_nothing(topology: SecureNats) -> None:
    """Issue 14: ws_edge created a push consumer whose deliver subject was ``td.evt.…`` so its own bytes
    (here: a forged order event in its heartbeat stream) landed in TD_EVT. nats-server does not check
    a deliver subject against its creator's permissions, but a push consumer only delivers while someone
    listens there, and nobody may subscribe to ``td.evt``: the consumer never delivers."""
    forged = b'{"type":"OrderFilled","venue":"ctp","account":"000001","client_order_id":"O-1"}'
    target = next(f.sample for f in FAMILIES if f.grant == "td.evt.>")
    own = sys_health_stream("ws_edge")
    async with as_user(topology, "td_exec") as td:
        before = (await td.js.stream_info("TD_EVT")).state.last_seq
    reports: list[str] = []
    async with raw_client(topology, "ws_edge", reports) as nc:
        js = nc.jetstream()
        await nc.publish(sys_health("ws_edge"), forged)
        await flush_in_order(nc)
        # Control: the same consumer with a deliver subject ws_edge listens on does deliver.
        control = await nc.subscribe("_INBOX.ws_edge.control")
        await js.add_consumer(own, ConsumerConfig(deliver_subject="_INBOX.ws_edge.control",
                                                  deliver_policy=DeliverPolicy.ALL))
        assert (await control.next_msg(timeout=5)).data == forged
        attack = await js.add_consumer(own, ConsumerConfig(deliver_subject=target,
                                                           deliver_policy=DeliverPolicy.ALL))
        await nc.subscribe(target)  # giving it a listener is what the attacker would try next
        await flush_in_order(nc)
        await until(lambda: any("subscription" in r and target.lower() in r for r in reports), 5,
                    "the subscription to the td.evt subject refused")
        info = await js.consumer_info(own, attack.name)
        assert info.delivered.consumer_seq == 0 and info.num_pending >= 1
    async with as_user(topology, "td_exec") as td:
        assert (await td.js.stream_info("TD_EVT")).state.last_seq == before


@pytest.mark.parametrize("user", sorted(USERS))
async def test_no_user_can_aim_a_push_consumer_into_td_evt(topology: SecureNats, user: str) -> None:
    """The same attack for every user, from a heartbeat stream it may read: the consumer is accepted,
    would deliver to a listener (control), but cannot get one on ``td.evt`` and stores nothing there."""
    source = sys_health_stream(user if user in HEARTBEAT_SERVICES else "ws_edge")
    publisher = user if user in HEARTBEAT_SERVICES else "ws_edge"
    async with as_user(topology, publisher) as bus:
        await bus.nc.publish(sys_health(publisher), b"{}")
        await flush_in_order(bus.nc)
    async with as_user(topology, "td_exec") as td:
        before = (await td.js.stream_info("TD_EVT")).state.last_seq
    target = next(f.sample for f in FAMILIES if f.grant == "td.evt.>")
    reports: list[str] = []
    async with raw_client(topology, user, reports) as nc:
        js = nc.jetstream()
        control = await nc.subscribe(f"_INBOX.{user}.control")
        await js.add_consumer(source, ConsumerConfig(deliver_subject=f"_INBOX.{user}.control",
                                                     deliver_policy=DeliverPolicy.LAST))
        await control.next_msg(timeout=5)
        attack = await js.add_consumer(source, ConsumerConfig(deliver_subject=target,
                                                              deliver_policy=DeliverPolicy.LAST))
        await nc.subscribe(target)
        await flush_in_order(nc)
        await until(lambda: any("subscription" in r and target.lower() in r for r in reports), 5,
                    f"{user}'s subscription to {target} refused")
        assert (await js.consumer_info(source, attack.name)).delivered.consumer_seq == 0
    async with as_user(topology, "td_exec") as td:
        assert (await td.js.stream_info("TD_EVT")).state.last_seq == before


async def test_no_user_may_delete_or_purge_any_stream(topology: SecureNats) -> None:
    """Nobody deletes; nobody purges, except the owner of an object store (td_exec's snapshots) its own."""
    for perm in USERS.values():
        assert f"{API}.STREAM.DELETE.>" in perm.deny_publish
        for stream in STREAM_OWNERS:
            assert not _granted(perm, f"{API}.STREAM.DELETE.{stream}"), (perm.user, "DELETE", stream)
            purge = f"{API}.STREAM.PURGE.{stream}"
            may_purge = stream in OWNER_PURGES and STREAM_OWNERS[stream] == perm.user
            assert _granted(perm, purge) is may_purge, (perm.user, "PURGE", stream)
            assert (purge in perm.deny_publish or f"{API}.STREAM.PURGE.>" in perm.deny_publish) is not may_purge
