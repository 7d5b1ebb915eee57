"""The repo's nats.conf: each service's user can do its job and is refused outside it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import nats.errors
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from deploy.conftest import REPO, SecureNats, as_user, raw_client, violation
from tradebus.bus.flush import flush_in_order
from tradebus.bus.pipelined import PipelinedPublisher
from tradebus.bus.replay import fold_stream, last_message
from tradebus.bus.topology import ensure_topology
from tradebus.config import StreamsConfig
from tradebus.permissions import render_nats_conf
from tradebus.schemas import MARKET_DATA_DECODER, ORDER_EVENT_DECODER
from tradebus.schemas.base import encode
from tradebus.schemas.market import Tick
from tradebus.schemas.orders import OrderAccepted
from tradebus.subjects import md_tick, td_evt


def test_committed_nats_conf_is_generated_from_the_table() -> None:
    assert (REPO / "nats.conf").read_text() == render_nats_conf(), "run: tradebus nats-conf > nats.conf"


def _tick(seq: int = 1) -> Tick:
    return Tick(venue="ctp", exchange="SHFE", symbol="rb2601", seq=seq, ts_event=1, ts_init=1, last=3500.0)


async def _publish(subject: str) -> Callable[[Client], Awaitable[object]]:
    async def act(nc: Client) -> None:
        await nc.publish(subject, b"{}")

    return act


@pytest.mark.parametrize(("user", "subject"), [
    ("ws_edge", "md.tick.ctp.SHFE.rb2601"),
    ("fmz_edge", "md.tick.ctp.SHFE.rb2601"),
    ("md_ingest", "td.evt.ctp.000001.O-1"),
    ("ws_edge", "td.evt.ctp.000001.O-1"),
    ("fmz_edge", "td.evt.ctp.000001.O-1"),
    ("auth_broker", "td.evt.ctp.000001.O-1"),
    ("operator", "td.evt.ctp.000001.O-1"),
    ("ws_edge", "auth.opend.default.state"),
    ("md_ingest", "sys.health.td_exec"),
    ("ws_edge", "$JS.API.STREAM.CREATE.MD"),
    ("ws_edge", "$JS.API.STREAM.DELETE.TD_EVT"),
    ("md_ingest", "$JS.API.STREAM.UPDATE.TD_EVT"),
    ("td_exec", "md.tick.ctp.SHFE.rb2601"),
])
async def test_forbidden_publish_is_refused(secure_nats: SecureNats, user: str, subject: str) -> None:
    found = await violation(secure_nats, user, await _publish(subject))
    assert found is not None and "publish" in found.lower(), f"{user} could publish {subject}"


@pytest.mark.parametrize(("user", "subject"), [
    ("ws_edge", "_INBOX.td_exec.>"),
    ("fmz_edge", "td.cmd.>"),
    ("md_ingest", "td.cmd.>"),
    ("ws_edge", "md.ctl.subscribe"),
])
async def test_forbidden_subscribe_is_refused(secure_nats: SecureNats, user: str, subject: str) -> None:
    async def act(nc: Client) -> None:
        await nc.subscribe(subject)

    found = await violation(secure_nats, user, act)
    assert found is not None and "subscription" in found.lower(), f"{user} could subscribe to {subject}"


async def test_owners_set_up_their_streams_and_others_cannot(secure_nats: SecureNats) -> None:
    for owner in ("md_ingest", "td_exec", "auth_broker"):
        async with as_user(secure_nats, owner) as bus:
            outcome = await ensure_topology(bus.js, StreamsConfig(), owner)
            assert "created" in outcome.values() or "unchanged" in outcome.values()
    async with as_user(secure_nats, "ws_edge") as bus:
        outcome = await ensure_topology(bus.js, StreamsConfig(), "ws_edge")
        assert outcome["MD"] == "not_mine" and outcome["TD_EVT"] == "not_mine"
        assert outcome["SYS_ws_edge"] in {"created", "unchanged"}


async def test_each_service_does_its_job(secure_nats: SecureNats) -> None:
    async with as_user(secure_nats, "td_exec") as td, as_user(secure_nats, "md_ingest") as md:
        await ensure_topology(td.js, StreamsConfig(), "td_exec")
        await ensure_topology(md.js, StreamsConfig(), "md_ingest")
        # md_ingest publishes ticks (captured by MD) and answers md.ctl requests.
        await md.publish(md_tick("ctp", "SHFE", "rb2601"), _tick())

        async def ctl(msg: Msg) -> None:
            await msg.respond(b'{"type":"SubscriptionReply","ok":true,"venue":"ctp","exchange":"SHFE","symbol":"x"}')

        await md.nc.subscribe("md.ctl.subscribe", cb=ctl)
        # td_exec appends events and keeps KV orders, and serves td.cmd.
        event = OrderAccepted(event_id="e1", venue="ctp", account="000001", client_order_id="O-1", ts_event=1,
                              ts_init=1)
        ack = await td.publish_event(td_evt("ctp", "000001", "O-1"), event, "e1")
        assert ack.seq >= 1
        kv = await td.js.key_value("orders")
        await kv.put("ctp.000001.O-1", b"{}")
        # ... pipelines its appends (acks on its own inbox), and keeps its fold's snapshot: a second put
        # purges the first one's chunks.
        second = OrderAccepted(event_id="e2", venue="ctp", account="000001", client_order_id="O-2", ts_event=2,
                               ts_init=2)
        piped = await PipelinedPublisher(td.nc).publish(td_evt("ctp", "000001", "O-2"), encode(second),
                                                        {"Nats-Msg-Id": "e2"})
        assert (await asyncio.wait_for(piped, 2)).seq >= 2
        snapshots = await td.js.object_store("td_snapshots")
        await snapshots.put("ledger.ctp", b"first" * 50_000)
        await snapshots.put("ledger.ctp", b"second")
        assert (await snapshots.get("ledger.ctp")).data == b"second"

        async def cmd(msg: Msg) -> None:
            await msg.respond(b"ok")

        await td.nc.subscribe("td.cmd.>", cb=cmd)
        await flush_in_order(md.nc)
        await flush_in_order(td.nc)
        # The edges request and read.
        for edge in ("ws_edge", "fmz_edge"):
            async with as_user(secure_nats, edge) as bus:
                reply = await bus.nc.request("td.cmd.ctp.000001", b"{}", timeout=2)
                assert reply.data == b"ok"
                ctl_reply = await bus.nc.request("md.ctl.subscribe", b"{}", timeout=2)
                assert b"SubscriptionReply" in ctl_reply.data
                last = await last_message(bus.js, "MD", md_tick("ctp", "SHFE", "rb2601"), MARKET_DATA_DECODER)
                assert isinstance(last, Tick) and last.last == 3500.0
                events = await fold_stream(bus.js, "td.evt.>", ORDER_EVENT_DECODER,
                                           lambda acc, m, _s, _q: [*acc, m], [])
                assert [e.event_id for e in events] == ["e1", "e2"]
                order = await (await bus.js.key_value("orders")).get("ctp.000001.O-1")
                assert order.value == b"{}"
                got: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

                async def on_tick(msg: Msg, fut: asyncio.Future[bytes] = got) -> None:
                    if not fut.done():
                        fut.set_result(msg.data)

                await bus.nc.subscribe("md.tick.>", cb=on_tick)
                await flush_in_order(bus.nc)
                await md.publish(md_tick("ctp", "SHFE", "rb2601"), _tick(2))
                await flush_in_order(md.nc)  # on the server before the deadline starts: the wait is for delivery only
                assert b'"seq":2' in await asyncio.wait_for(got, 10)


def test_generated_passwords_are_plain_strings_to_nats() -> None:
    from tradebus.cli.bus_access import BusAccess

    for _ in range(200):
        for password in BusAccess.generate().passwords.values():
            assert password[0].isalpha() and password.isalnum()


def test_security_doc_has_the_generated_permission_table() -> None:
    from tradebus.permissions import render_permission_table

    doc = (REPO / "docs" / "security.md").read_text()
    begin, end = "<!-- permission-table:begin -->\n", "<!-- permission-table:end -->"
    assert doc[doc.index(begin) + len(begin):doc.index(end)] == render_permission_table(), \
        "paste tradebus.permissions.render_permission_table() into docs/security.md"


async def test_a_request_that_reaches_one_connection_twice_cannot_be_answered_on_it(secure_nats: SecureNats) -> None:
    """The nats-server fact behind td_exec's second connection (td_exec.commands): a responder allowed to
    answer (``allow_responses``) that gets one request twice on one connection has its reply refused; with
    the copies on two connections, the first copy's connection answers. If nats-server changes this, the
    first half fails and the second connection may go."""

    async def answered(second_on_own_connection: bool) -> tuple[int, list[str]]:
        reports: list[str] = []
        async with raw_client(secure_nats, "td_exec", reports) as queue_side, \
                raw_client(secure_nats, "td_exec", reports) as direct_side, \
                raw_client(secure_nats, "ws_edge", reports) as edge:
            seen: set[str] = set()

            async def answer(msg: Msg) -> None:
                if msg.reply not in seen:
                    seen.add(msg.reply)
                    await msg._client.publish(msg.reply, b"ok")

            await queue_side.subscribe("td.cmd.ctp.*", queue="td_exec", cb=answer)
            twin = direct_side if second_on_own_connection else queue_side
            await twin.subscribe("td.cmd.ctp.000001", cb=answer)
            await flush_in_order(queue_side)
            await flush_in_order(direct_side)
            count = 0
            for _ in range(5):
                try:
                    await edge.request("td.cmd.ctp.000001", b"{}", timeout=1)
                    count += 1
                except nats.errors.TimeoutError:
                    pass
            return count, reports

    refused, reports = await answered(second_on_own_connection=False)
    assert refused == 0 and any("permissions violation for publish" in r.lower() for r in reports), reports
    assert (await answered(second_on_own_connection=True)) == (5, [])
