"""Pipelined appends: the writer does not wait for each ack, yet TD_EVT keeps the account's order and
nothing unstored reaches the venue. Every failure here is a real nats-server's: a refused message, a
deleted stream, a killed server."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from td_engine_helpers import TEST_TD, Harness, until

from td_exec.engine import Engine
from td_exec.spool import Spool
from td_exec.store import EventStore
from tradebus.bus import fold_stream
from tradebus.bus.flush import flush_in_order
from tradebus.bus.topology import stream_configs
from tradebus.config import StreamsConfig
from tradebus.ids import order_event_id
from tradebus.runtime.metrics import Registry
from tradebus.schemas import ORDER_EVENT_DECODER
from tradebus.schemas.base import BusMessage
from tradebus.schemas.orders import (
    CommandAccepted,
    CommandDenied,
    OrderAccepted,
    OrderEvent,
    OrderStatus,
    OrderSubmitted,
    SubmitOrder,
)
from tradebus.subjects import td_evt

ACCOUNT = "SIM-US"  # a bid of 1.00 for AAPL rests and freezes almost no cash: many orders fit


def us_order(coid: str, **extra: Any) -> SubmitOrder:
    return msgspec.convert({"venue": "sim", "account": ACCOUNT, "exchange": "US", "symbol": "AAPL", "side": "buy",
                            "qty": 1, "price": 1.0, "order_type": "limit", "client_order_id": coid, **extra},
                           SubmitOrder)


async def stored_events(harness: Harness, account: str = ACCOUNT) -> list[OrderEvent]:
    assert harness.client is not None

    def add(acc: list[OrderEvent], ev: OrderEvent, _s: str, _q: int) -> list[OrderEvent]:
        acc.append(ev)
        return acc

    return await fold_stream(harness.client.js, f"td.evt.sim.{account}.>", ORDER_EVENT_DECODER, add, [],
                             idle_timeout=2.0)


def record_publishes(engine: Engine) -> list[str]:
    """The event ids in the order the engine handed them to JetStream (our own code, spied on)."""
    handed: list[str] = []
    publish = engine.store._publish

    async def spy(subject: str, msg_id: str, data: bytes) -> asyncio.Future[Any]:
        handed.append(msg_id)
        return await publish(subject, msg_id, data)

    engine.store._publish = spy  # type: ignore[method-assign]
    return handed


async def test_burst_of_submits_keeps_the_accounts_order_in_td_evt(harness: Harness) -> None:
    await harness.ready(ACCOUNT)
    engine = harness.engine
    assert engine is not None
    handed = record_publishes(engine)
    coids = [f"burst-{i}" for i in range(80)]
    replies = await asyncio.gather(*(harness.request(us_order(c)) for c in coids))
    assert all(isinstance(r, CommandAccepted) and r.order.status is OrderStatus.ACCEPTED for r in replies), replies
    events = await stored_events(harness)
    stored_ids = [e.event_id for e in events]
    # TD_EVT holds exactly what the writer published, in the order it published it.
    assert stored_ids == [i for i in handed if i in set(stored_ids)] and set(handed) == set(stored_ids)
    for coid in coids:
        assert [type(e).__name__ for e in events if e.client_order_id == coid] == ["OrderSubmitted", "OrderAccepted"]
    # The account's orders were registered in the order their OrderSubmitted events were stored.
    submitted = [e.client_order_id for e in events if isinstance(e, OrderSubmitted)]
    assert [c for c in engine.accounts[("sim", ACCOUNT)].orders if c in set(coids)] == submitted
    assert harness.venue.inserts == len(coids)


async def test_store_publishes_without_waiting_and_confirms_in_order(harness: Harness, tmp_path: Path) -> None:
    assert harness.client is not None
    store = EventStore(harness.client, Spool(tmp_path / "spool-a", 1 << 20), Registry(), timeout=2.0)
    events = [_accepted(f"pipe-{i}", "PIPE") for i in range(200)]
    for event in events:
        await store.append(td_evt("sim", "PIPE", event.client_order_id), event)
    in_flight_after_publishing = store.in_flight
    await store.settled()
    assert in_flight_after_publishing > 1  # the appends returned before their acks came back
    assert store.spool.empty
    stored = await _stream_ids(harness, "td.evt.sim.PIPE.>")
    assert stored == [e.event_id for e in events]
    await store.stop()


async def test_stream_deleted_mid_burst_spools_the_rest_in_order_and_flushes_it(harness: Harness,
                                                                                 tmp_path: Path) -> None:
    assert harness.client is not None
    store = EventStore(harness.client, Spool(tmp_path / "spool-b", 1 << 20), Registry(), timeout=1.0)
    store.start()
    events = [_accepted(f"del-{i}", "DEL") for i in range(60)]
    for event in events[:20]:
        await store.append(td_evt("sim", "DEL", event.client_order_id), event)
    await store.settled()
    await harness.client.js.delete_stream("TD_EVT")  # an operator's mistake: every ack now fails
    for event in events[20:]:
        await store.append(td_evt("sim", "DEL", event.client_order_id), event)
    await store.settled()
    assert [r.msg_id for r in store.spool.records()] == [e.event_id for e in events[20:]]
    await harness.client.js.add_stream(next(c for c in stream_configs(StreamsConfig()) if c.name == "TD_EVT"))
    await until(lambda: store.spool.empty, timeout=10, what="spool flushed into the recreated stream")
    assert await _stream_ids(harness, "td.evt.sim.DEL.>") == [e.event_id for e in events[20:]]
    await store.stop()


async def test_refused_ack_fails_exactly_that_submit_and_sends_nothing_for_it(harness: Harness) -> None:
    await harness.ready(ACCOUNT)
    assert harness.client is not None
    # JetStream refuses a message bigger than max_msg_size; every other event of the burst fits.
    config = next(c for c in stream_configs(StreamsConfig()) if c.name == "TD_EVT")
    config.max_msg_size = 1024
    await harness.client.js.update_stream(config)
    coids = [f"big-{i}" for i in range(24)]
    oversized = {"big-7", "big-15"}
    cmds = [us_order(c, remark="x" * 900 if c in oversized else "") for c in coids]
    replies = dict(zip(coids, await asyncio.gather(*(harness.request(cmd) for cmd in cmds)), strict=True))
    for coid, reply in replies.items():
        if coid in oversized:
            assert isinstance(reply, CommandDenied) and reply.code == "store_unavailable", reply
            assert "maximum" in reply.reason and reply.client_order_id == coid
            assert harness.venue.venue_order(ACCOUNT, coid) is None  # never sent
            assert harness.order(coid, ACCOUNT) is None  # never applied
        else:
            assert isinstance(reply, CommandAccepted) and reply.order.status is OrderStatus.ACCEPTED, (coid, reply)
    assert harness.venue.inserts == len(coids) - len(oversized)
    events = await stored_events(harness)
    assert {e.client_order_id for e in events if isinstance(e, OrderSubmitted)} == set(coids) - oversized
    # The refused id is free again: a corrected resubmit goes through.
    again = await harness.request(us_order("big-7"))
    assert isinstance(again, CommandAccepted) and not again.duplicate


async def test_nats_killed_mid_burst_denies_exactly_the_unstored_submits(nats_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    h = await Harness(nats_server.url, tmp_path, cfg=TEST_TD).start()
    try:
        await h.ready(ACCOUNT)
        engine = h.engine
        assert engine is not None
        if nats_server.server is None:
            pytest.skip("killing the server needs the embedded nats-server")
        server = nats_server.server
        publish = engine.store._publish
        burst = [f"b-{i}" for i in range(30)]
        handed: list[str] = []

        async def publish_freeze_then_kill(subject: str, msg_id: str, data: bytes) -> asyncio.Future[Any]:
            coid = subject.rsplit(".", 1)[-1]
            if coid in burst and msg_id.startswith("OrderSubmitted"):
                handed.append(coid)
                if len(handed) == 15:  # the server has read the first 14 (PONG), then freezes: no more acks
                    await flush_in_order(engine.bus.nc)
                    freeze(server.pid)
            future = await publish(subject, msg_id, data)
            if len(handed) == len(burst) and not killed:  # the whole burst is out: NATS dies
                os.kill(server.pid, signal.SIGKILL)
                killed.append(True)
            return future

        killed: list[bool] = []
        engine.store._publish = publish_freeze_then_kill  # type: ignore[method-assign]
        replies: dict[str, BusMessage] = {}
        for wave in ([f"a-{i}" for i in range(10)], burst, [f"c-{i}" for i in range(10)]):  # before, during, after
            # in-process requests: the bus that would carry them is what dies
            replies.update(zip(wave, await asyncio.gather(*(engine.handle(us_order(c)) for c in wave)), strict=True))
        assert killed
        unacknowledged = set(handed[14:]) | {f"c-{i}" for i in range(10)}  # published to a frozen or dead NATS
        accepted = {c for c, r in replies.items() if isinstance(r, CommandAccepted)}
        denied = {c for c, r in replies.items() if isinstance(r, CommandDenied)}
        assert accepted | denied == set(replies)
        assert {f"a-{i}" for i in range(10)} <= accepted and unacknowledged <= denied
        assert all(r.code == "store_unavailable" for r in replies.values() if isinstance(r, CommandDenied))
        at_venue = {c for c in replies if h.venue.venue_order(ACCOUNT, c) is not None}
        assert at_venue == accepted  # an order reached the venue if and only if its submit was accepted
        assert all(h.order(c, ACCOUNT) is None for c in denied)  # a denied order was never applied
        server.stop()  # reap the killed process, then the operator restarts NATS
        server.start()
        await until(lambda: engine.bus.nc.is_connected, timeout=10, what="engine reconnected")
        await until(lambda: engine.store.spool.empty, timeout=10, what="spooled venue events flushed")
        events = await stored_events(h)
        stored = {e.client_order_id for e in events if isinstance(e, OrderSubmitted)}
        assert accepted <= stored  # store before send: everything at the venue was stored first
        # (a denied submit may still appear: its publish can reach JetStream while its ack was lost)
        assert accepted <= {e.client_order_id for e in events if isinstance(e, OrderAccepted)}
        again = await engine.handle(us_order("after-restart"))
        assert isinstance(again, CommandAccepted) and again.order.status is OrderStatus.ACCEPTED
    finally:
        await h.close()


def freeze(pid: int, timeout: float = 5.0) -> None:
    """SIGSTOP, then wait until every thread of the process is stopped: on a busy VM a thread can run
    on for a few milliseconds after the signal, long enough to answer a publish."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + timeout
    tasks = Path(f"/proc/{pid}/task")
    while not all(_state(t) in ("T", "t") for t in tasks.iterdir()):
        assert time.monotonic() < deadline, f"process {pid} did not stop"
        time.sleep(0.001)  # polling the kernel's view of the threads, bounded by the deadline


def _state(task: Path) -> str:
    try:
        return (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:  # a thread that ended meanwhile
        return "T"


def _accepted(coid: str, account: str) -> OrderAccepted:
    return OrderAccepted(event_id=order_event_id("sim", account, coid, "OrderAccepted"), venue="sim", account=account,
                         client_order_id=coid, ts_event=1, ts_init=1, venue_order_id="1")


async def _stream_ids(harness: Harness, subject_filter: str) -> list[str]:
    assert harness.client is not None

    def add(acc: list[str], ev: OrderEvent, _s: str, _q: int) -> list[str]:
        acc.append(ev.event_id)
        return acc

    return await fold_stream(harness.client.js, subject_filter, ORDER_EVENT_DECODER, add, [], idle_timeout=2.0)
