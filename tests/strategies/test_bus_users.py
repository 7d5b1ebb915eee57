"""Bus users: a strategy trades its own accounts on a real nats-server and is refused everything else,
and adding or removing one takes effect by a configuration reload, without restarting NATS."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import bcrypt
import nats
import pytest
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig
from polling import until_async

from deploy.test_nats_permissions import violation
from strategies.conftest import BOB_PW, BusWorld, connect_as, td_exec_double
from tradebus.asyncapi import covers
from tradebus.bus.flush import flush_in_order
from tradebus.bus_users import conf_with_bus_users, permissions_for
from tradebus.permissions import FAMILIES, STREAM_OWNERS, js_admin
from tradebus.users import User, UserError, UserStore


def test_permissions_follow_the_grants() -> None:
    user = User(name="s1", password_hash="x", accounts=["ctp:000001", "futu:*", "sim:A.B"], bus_password="h")
    perms = permissions_for(user)
    assert "td.cmd.ctp.000001" in perms["publish"]["allow"]
    assert "td.cmd.futu.*" in perms["publish"]["allow"]
    assert "td.cmd.sim.A_2EB" in perms["publish"]["allow"]  # account tokens are escaped like subjects
    assert "_INBOX.s1.>" in perms["subscribe"]["allow"]
    # Order events only through consumers of TD_EVT filtered to its own accounts; no td.evt subscription.
    assert not [s for s in perms["subscribe"]["allow"] if s.startswith("td.evt")]
    consumers = sorted(p for p in perms["publish"]["allow"] if "CONSUMER" in p)
    assert consumers == ["$JS.API.CONSUMER.CREATE.TD_EVT.*.td.evt.ctp.000001.>",
                         "$JS.API.CONSUMER.CREATE.TD_EVT.*.td.evt.futu.*.>",
                         "$JS.API.CONSUMER.CREATE.TD_EVT.*.td.evt.sim.A_2EB.>"]
    # Nothing that administers JetStream, nothing on td.evt publish.
    assert not [p for p in perms["publish"]["allow"] if "STREAM" in p or p.startswith("td.evt")]


def test_conf_refuses_a_base_without_a_user_list() -> None:
    user = User(name="s1", password_hash="x", accounts=["ctp:1"], bus_password="h")
    with pytest.raises(ValueError, match="no authorization users"):
        conf_with_bus_users("listen: 0.0.0.0:4222\n", [user])


def test_bus_names_must_be_tokens_and_not_services(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "u.json")
    with pytest.raises(UserError, match="bad bus user name"):
        store.add("a.b", "password1", ["ctp:1"], bus=True)
    with pytest.raises(UserError, match="service user"):
        store.add("td_exec", "password1", ["ctp:1"], bus=True)
    store.add("a.b", "password1", ["ctp:1"])  # an edge-only user may keep the wider alphabet


async def test_bus_user_trades_its_own_accounts(world: BusWorld) -> None:
    server_side = await td_exec_double(world)
    alice = await connect_as(world, "alice")
    try:
        reply = await alice.request("td.cmd.ctp.000001", b"{}", timeout=2)
        assert reply.data == b"td.cmd.ctp.000001"
        reply = await alice.request("td.cmd.futu.281756457", b"{}", timeout=2)  # futu:* grants every account
        assert reply.data == b"td.cmd.futu.281756457"
        # its own account's order events: a consumer of TD_EVT filtered to the account, on its own inbox
        await server_side.jetstream().add_stream(name="TD_EVT", subjects=["td.evt.>"])
        events = await alice.subscribe("_INBOX.alice.events")
        await alice.jetstream().add_consumer("TD_EVT", ConsumerConfig(
            name="mine", filter_subject="td.evt.ctp.000001.>", deliver_subject="_INBOX.alice.events",
            ack_policy=AckPolicy.NONE))
        await server_side.jetstream().publish("td.evt.ctp.000002.O-9", b"{}")  # not alice's account
        await server_side.jetstream().publish("td.evt.ctp.000001.O-1", b"{}")
        assert (await events.next_msg(timeout=2)).subject == "td.evt.ctp.000001.O-1"
        # a consumer whose filter differs from the one its create subject names is refused by the server
        answer = await alice.request("$JS.API.CONSUMER.CREATE.TD_EVT.sneak.td.evt.ctp.000001.>", json.dumps(
            {"stream_name": "TD_EVT", "config": {"name": "sneak", "filter_subject": "td.evt.ctp.000002.>",
                                                 "deliver_subject": "_INBOX.alice.x", "ack_policy": "none"}}).encode(),
            timeout=2)
        assert "error" in json.loads(answer.data), answer.data
        ticks = await alice.subscribe("md.tick.>")
        await flush_in_order(alice)
        md = await connect_as(world, "md_ingest")
        await md.publish("md.tick.ctp.SHFE.rb2601", b"{}")
        await flush_in_order(md)
        assert (await ticks.next_msg(timeout=2)).subject == "md.tick.ctp.SHFE.rb2601"
        await md.close()
    finally:
        await alice.close()
        await server_side.close()


def _pub(subject: str) -> Callable[[Client], Awaitable[object]]:
    async def act(nc: Client) -> None:
        await nc.publish(subject, b"{}")

    return act


def _sub(subject: str) -> Callable[[Client], Awaitable[object]]:
    async def act(nc: Client) -> None:
        await nc.subscribe(subject)

    return act


@pytest.mark.parametrize("action", [
    _pub("td.cmd.ctp.000002"),  # another account's commands
    _pub("td.cmd.ctp.*"),
    _pub("td.evt.ctp.000001.O-1"),  # forging its own order events
    _pub("md.tick.ctp.SHFE.rb2601"),  # forging market data
    _pub("auth.opend.main.cmd"),
    _pub("sys.health.td_exec"),
    _pub("$JS.API.STREAM.CREATE.MINE"),  # stream administration
    _pub("$JS.API.STREAM.DELETE.TD_EVT"),
    _pub("$JS.API.STREAM.PURGE.MD"),
    _pub("$JS.API.CONSUMER.CREATE.TD_EVT"),  # a consumer could read every account's history
    _pub("$JS.API.CONSUMER.CREATE.TD_EVT.x.td.evt.ctp.000002.O-1"),
    _pub("$JS.API.DIRECT.GET.TD_EVT.td.evt.ctp.000002.O-1"),
    _pub("$JS.API.STREAM.INFO.TD_EVT"),
    _sub("td.evt.ctp.000002.>"),  # another account's events
    _sub("td.evt.>"),
    _sub("td.cmd.>"),  # other strategies' commands
    _sub("_INBOX.bob.>"),  # another user's replies
    _sub("_INBOX.>"),
    _sub("auth.>"),
    _sub("md.ctl.subscribe"),
], ids=lambda a: "")
async def test_bus_user_is_refused_outside_its_grants(world: BusWorld,
                                                      action: Callable[[Client], Awaitable[object]]) -> None:
    assert await violation(world.env, "alice", action) is not None


async def test_refused_command_never_reaches_td_exec(world: BusWorld) -> None:
    server_side = await td_exec_double(world)
    seen = await server_side.subscribe("td.cmd.ctp.000002")
    await flush_in_order(server_side)
    alice = await connect_as(world, "alice")
    try:
        with pytest.raises((NatsTimeoutError, NoRespondersError)):
            await alice.request("td.cmd.ctp.000002", b"{}", timeout=1)
        with pytest.raises(NatsTimeoutError):
            await seen.next_msg(timeout=0.5)
    finally:
        await alice.close()
        await server_side.close()


async def test_an_edge_only_user_has_no_bus_access(world: BusWorld) -> None:
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(world.env.url, user="edgeonly", password="edge-pass-1", allow_reconnect=False,
                           max_reconnect_attempts=0, connect_timeout=2)


async def _canconnect_as(world: BusWorld, user: str, password: str) -> bool:
    try:
        nc = await nats.connect(world.env.url, user=user, password=password, allow_reconnect=False,
                                max_reconnect_attempts=0, connect_timeout=2)
    except (nats.errors.Error, OSError):
        return False
    await nc.close()
    return True


async def test_adding_and_removing_takes_effect_without_restart(world: BusWorld) -> None:
    pid = world.env.server.pid
    assert not await _canconnect_as(world, "bob", BOB_PW)
    world.store.add("bob", BOB_PW, ["ctp:000003"], bus=True)
    assert world.sync.sync()
    await until_async(lambda: _canconnect_as(world, "bob", BOB_PW), 10, "bob admitted after the reload", interval=0.2)
    closed = asyncio.Event()

    async def on_closed() -> None:
        closed.set()

    await connect_as(world, "bob", closed_cb=on_closed)
    world.store.remove("bob")
    assert world.sync.sync()
    await until_async(lambda: _negate(_canconnect_as(world, "bob", BOB_PW)), 10, "bob refused after the reload",
                      interval=0.2)
    # The server drops a removed user's open connection too.
    await asyncio.wait_for(closed.wait(), 10)
    assert world.env.server.pid == pid  # the same nats-server process throughout
    assert not world.sync.sync()  # nothing changed since: no reload


def test_a_change_to_edge_users_alone_reloads_nothing(world: BusWorld) -> None:
    """A new edge user (no --bus) leaves nats.conf as it is: no reload, so no in-flight reply is refused."""
    world.sync.write()
    before = world.sync.conf_path.read_text()
    world.store.add("carol", "carol-password-1", ["ctp:000003"])
    assert not world.sync.sync()
    assert world.sync.conf_path.read_text() == before
    world.store.add("dave", "dave-password-1", ["ctp:000003"], bus=True)
    assert world.sync.sync()  # a bus user does change it
    assert "dave" in world.sync.conf_path.read_text()


async def _negate(check: Awaitable[bool]) -> bool:
    return not await check


def test_password_changes_keep_the_bus_hash_in_step(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "u.json")
    store.add("s1", "first-pass1", ["ctp:1"], bus=True)
    store.reset_password("s1", "second-pass2")
    user = store.get("s1")
    assert user is not None and bcrypt.checkpw(b"second-pass2", user.bus_password.encode())
    store.change_password("s1", "second-pass2", "third-pass3")
    user = store.get("s1")
    assert user is not None and bcrypt.checkpw(b"third-pass3", user.bus_password.encode())
    store.add("edge", "edge-pass1", ["ctp:1"])
    store.reset_password("edge", "edge-pass2")
    assert store.get("edge").bus_password == ""  # type: ignore[union-attr]  # never becomes a bus user


def _table_probes() -> list[str]:
    """What a bus user must not publish, from the same permission table the adversarial test of the services
    uses (tests/deploy/test_bus_adversary.py): every subject family its grants do not cover, the
    administration of every stream, and ``$SYS``. A new family or stream is probed without editing this."""
    alice = User(name="alice", password_hash="x", accounts=["ctp:000001", "futu:*"], bus_password="h")
    allowed = permissions_for(alice)["publish"]["allow"]
    probes = [f.sample for f in FAMILIES if not any(covers(g, f.sample) for g in allowed)]
    probes += [s for stream in STREAM_OWNERS for s in js_admin(stream)]
    return [*probes, "$SYS.REQ.SERVER.PING"]


@pytest.mark.parametrize("subject", _table_probes())
async def test_bus_user_is_refused_every_write_the_table_does_not_grant(world: BusWorld, subject: str) -> None:
    assert await violation(world.env, "alice", _pub(subject)) is not None, subject
