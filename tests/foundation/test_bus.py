from __future__ import annotations

import asyncio

import pytest
from nats.js.api import StorageType, StreamConfig
from polling import until_async

from tradebus import schemas as s
from tradebus import subjects
from tradebus.bus import Bus, RequestFailed, RequestTimeout, connect, ensure_topology, fold_stream, last_message
from tradebus.bus.flush import flush_in_order
from tradebus.bus.topology import BUCKETS, STREAMS, heartbeat_stream_config
from tradebus.config import NatsConfig, StreamsConfig

T0 = 1_763_700_000_000_000_000


def _tick(seq: int, last: float) -> s.Tick:
    return s.Tick(venue="ctp", exchange="SHFE", symbol="rb2601", seq=seq, ts_event=T0 + seq, ts_init=T0 + seq,
                  last=last)


def _accepted(coid: str, n: int) -> s.OrderAccepted:
    return s.OrderAccepted(event_id=f"acc-{coid}-{n}", venue="ctp", account="000001", client_order_id=coid,
                           ts_event=T0 + n, ts_init=T0 + n)


async def test_ensure_topology_creates_streams_and_buckets_then_changes_nothing(bus: Bus) -> None:
    first = await ensure_topology(bus.js, StreamsConfig())
    assert {first[name] for name in STREAMS} == {"created"}
    assert {first[b.name] for b in BUCKETS} == {"created"}
    await bus.publish_event(subjects.td_evt("ctp", "000001", "O-1"), _accepted("O-1", 1), "m1")
    infos_before = {name: await bus.js.stream_info(name) for name in STREAMS}

    second = await ensure_topology(bus.js, StreamsConfig())

    assert set(second.values()) == {"unchanged"}
    for name in STREAMS:
        after = await bus.js.stream_info(name)
        assert after.created == infos_before[name].created
        assert after.config == infos_before[name].config
        assert after.state.messages == infos_before[name].state.messages
    assert (await bus.js.stream_info("TD_EVT")).state.messages == 1


async def test_ensure_topology_updates_a_stream_whose_limits_changed(bus: Bus) -> None:
    await ensure_topology(bus.js, StreamsConfig())
    outcome = await ensure_topology(bus.js, StreamsConfig(md_max_msgs_per_subject=5))
    assert outcome["MD"] == "updated"
    assert (await bus.js.stream_info("MD")).config.max_msgs_per_subject == 5


async def test_each_service_gets_its_own_heartbeat_stream_which_a_restricted_owner_never_updates(bus: Bus) -> None:
    first = await ensure_topology(bus.js, StreamsConfig(), heartbeat_of="md_ingest")
    assert first["SYS_md_ingest"] == "created"
    info = await bus.js.stream_info("SYS_md_ingest")
    assert info.config.subjects == ["sys.health.md_ingest"] and info.config.max_msgs_per_subject == 1
    assert (await ensure_topology(bus.js, StreamsConfig(), heartbeat_of="md_ingest"))["SYS_md_ingest"] == "unchanged"
    # A restricted owner (per-service users) may create its heartbeat stream but not change it.
    widened = heartbeat_stream_config("md_ingest", StreamsConfig())
    widened.subjects = ["sys.health.md_ingest", "td.cmd.>"]
    await bus.js.update_stream(widened)  # changed behind its back (here by an unrestricted user)
    outcome = await ensure_topology(bus.js, StreamsConfig(), "md_ingest")
    assert outcome["SYS_md_ingest"] == "differs"  # reported, left for an administrator
    assert (await bus.js.stream_info("SYS_md_ingest")).config.subjects == ["sys.health.md_ingest", "td.cmd.>"]
    # An unrestricted (development) bus puts it back.
    assert (await ensure_topology(bus.js, StreamsConfig(), heartbeat_of="md_ingest"))["SYS_md_ingest"] == "updated"


async def test_an_old_shared_sys_stream_does_not_stop_a_service_from_starting(bus: Bus) -> None:
    await bus.js.add_stream(StreamConfig(name="SYS", subjects=["sys.health.>"], storage=StorageType.MEMORY))
    outcome = await ensure_topology(bus.js, StreamsConfig(), heartbeat_of="td_exec")
    assert outcome["SYS_td_exec"] == "failed" and outcome["TD_EVT"] == "created"


async def test_serve_never_answers_onto_a_subject_that_is_not_an_inbox(bus: Bus) -> None:
    """A requester chooses the reply subject; pointed into td.evt.… our answer would be stored in TD_EVT."""
    await ensure_topology(bus.js, StreamsConfig())
    handled: list[str] = []

    async def handler(msg) -> None:  # type: ignore[no-untyped-def]
        handled.append(msg.reply)
        await msg.respond(b"answer")

    await bus.serve("svc.ask", handler)
    await bus.nc.publish("svc.ask", b"{}", reply=subjects.td_evt("ctp", "000001", "O-1"))
    assert (await bus.nc.request("svc.ask", b"{}", timeout=2)).data == b"answer"  # after the forged one
    assert len(handled) == 1 and handled[0].startswith("_INBOX.")
    # Handlers that answer with Bus.reply (td_exec's command endpoint) are held to the same rule.
    forged = await bus.nc.subscribe("svc.ask2")
    await bus.nc.publish("svc.ask2", b"{}", reply=subjects.td_evt("ctp", "000001", "O-2"))
    await bus.reply(await forged.next_msg(timeout=2), s.CommandDenied(code="x", reason="y"))
    await flush_in_order(bus.nc)
    assert (await bus.js.stream_info("TD_EVT")).state.messages == 0


async def test_publish_event_with_same_msg_id_is_stored_once(bus: Bus) -> None:
    await ensure_topology(bus.js, StreamsConfig())
    subject = subjects.td_evt("ctp", "000001", "O-7")
    first = await bus.publish_event(subject, _accepted("O-7", 1), "same-id")
    again = await bus.publish_event(subject, _accepted("O-7", 1), "same-id")
    assert not first.duplicate and again.duplicate
    assert (await bus.js.stream_info("TD_EVT")).state.messages == 1


async def test_publish_event_expecting_first_on_subject_refuses_second_writer(bus: Bus) -> None:
    await ensure_topology(bus.js, StreamsConfig())
    subject = subjects.td_evt("ctp", "000001", "O-8")
    await bus.publish_event(subject, _accepted("O-8", 1), "w1", expected_last_subject_seq=0)
    with pytest.raises(Exception, match="wrong last sequence"):
        await bus.publish_event(subject, _accepted("O-8", 2), "w2", expected_last_subject_seq=0)


async def test_request_without_responder_says_nobody_listens(bus: Bus) -> None:
    with pytest.raises(RequestFailed, match="no service is listening"):
        await bus.request("td.cmd.ctp.nobody", s.QueryFunds(venue="ctp", account="x"), s.SYSTEM_DECODER, timeout=1)


async def test_request_to_silent_responder_times_out_with_subject_in_message(bus: Bus) -> None:
    async def ignore(_msg) -> None:  # type: ignore[no-untyped-def]
        return None

    await bus.nc.subscribe("td.cmd.ctp.silent", cb=ignore)
    with pytest.raises(RequestTimeout, match=r"no reply on td\.cmd\.ctp\.silent within 0\.3s"):
        await bus.request("td.cmd.ctp.silent", s.QueryFunds(venue="ctp", account="x"), s.SYSTEM_DECODER,
                          timeout=0.3)


async def test_serve_answers_and_survives_a_failing_handler(bus: Bus) -> None:
    async def handler(msg) -> None:  # type: ignore[no-untyped-def]
        command = s.TRADE_COMMAND_DECODER.decode(msg.data)
        if command.account == "boom":
            raise RuntimeError("handler bug")
        await bus.reply(msg, s.CommandDenied(code="unknown_account", reason=f"no account {command.account}"))

    await bus.serve("td.cmd.ctp.*", handler)
    decoder = s.TRADE_COMMAND_DECODER.__class__(s.CommandDenied)
    with pytest.raises(RequestFailed, match="internal error"):
        await bus.request("td.cmd.ctp.boom", s.QueryFunds(venue="ctp", account="boom"), decoder)
    reply = await bus.request("td.cmd.ctp.x", s.QueryFunds(venue="ctp", account="x"), decoder)
    assert reply.reason == "no account x"


async def test_fold_stream_replays_every_event_in_order(bus: Bus) -> None:
    await ensure_topology(bus.js, StreamsConfig())
    for n in range(50):
        coid = f"O-{n % 5}"
        await bus.publish_event(subjects.td_evt("ctp", "000001", coid), _accepted(coid, n), f"id-{n}")
    await bus.publish_event(subjects.td_evt("ctp", "000002", "O-x"), _accepted("O-x", 99), "other-account")

    def fold(state: list[tuple[str, int]], event: s.OrderEvent, subject: str, seq: int) -> list[tuple[str, int]]:
        return [*state, (event.client_order_id, seq)]

    seen = await fold_stream(bus.js, subjects.td_evt_account("ctp", "000001"), s.ORDER_EVENT_DECODER, fold, [])
    assert [coid for coid, _ in seen] == [f"O-{n % 5}" for n in range(50)]
    assert [seq for _, seq in seen] == sorted(seq for _, seq in seen)


async def test_fold_stream_of_nothing_returns_initial(bus: Bus) -> None:
    await ensure_topology(bus.js, StreamsConfig())
    result = await fold_stream(bus.js, "td.evt.ctp.empty.*", s.ORDER_EVENT_DECODER, lambda st, *_: st + 1, 0)
    assert result == 0


async def test_last_message_returns_the_newest_tick_captured_from_core_publish(bus: Bus) -> None:
    await ensure_topology(bus.js, StreamsConfig())
    subject = subjects.md_tick("ctp", "SHFE", "rb2601")
    assert await last_message(bus.js, "MD", subject, s.MARKET_DATA_DECODER) is None
    for seq in range(1, 4):
        await bus.publish(subject, _tick(seq, 3100.0 + seq))
    await flush_in_order(bus.nc)

    async def third() -> s.Tick | None:
        tick = await last_message(bus.js, "MD", subject, s.MARKET_DATA_DECODER)
        return tick if tick is not None and tick.seq == 3 else None

    # Core publishes reach the stream asynchronously; poll the store with a deadline.
    tick = await until_async(third, 5, "the third tick in the MD stream", interval=0.01)
    assert tick.last == 3103.0


async def test_client_reconnects_after_server_restart(nats_server) -> None:  # type: ignore[no-untyped-def]
    reconnected = asyncio.Event()

    async def on_reconnect() -> None:
        reconnected.set()

    bus = await connect(NatsConfig(url=nats_server.url, reconnect_wait_s=0.1), "t", on_reconnect=on_reconnect)
    try:
        await ensure_topology(bus.js, StreamsConfig())
        received: asyncio.Queue[bytes] = asyncio.Queue()

        async def on_msg(msg) -> None:  # type: ignore[no-untyped-def]
            await received.put(msg.data)

        await bus.nc.subscribe("sys.test", cb=on_msg)
        await asyncio.to_thread(nats_server.restart)
        await asyncio.wait_for(reconnected.wait(), 10)
        await bus.nc.publish("sys.test", b"after")
        assert await asyncio.wait_for(received.get(), 5) == b"after"
        assert (await bus.js.stream_info("TD_EVT")).config.name == "TD_EVT"  # file store survived
    finally:
        await bus.close()
