"""Two td_exec engines on one account (one sim market, two venue sessions): one writer at a time.

Real nats-server, real engines: only one holds the account; the other takes over within its lease
once the holder dies or stops; a deposed holder's late append is refused by JetStream (the fence)
and it steps down; a command reaching the standby is forwarded to the holder; and during a takeover
every command gets an answer (``reconciling`` or the real one), never silence.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import ConsumerConfig, DeliverPolicy
from td_engine_helpers import TEST_TD, Harness, fut_order, until

from td_exec.accounts import AccountStatus
from td_exec.sim_venue import SimVenue
from tradebus.bus import RequestTimeout
from tradebus.bus.flush import flush_in_order
from tradebus.schemas import TRADE_REPLY_DECODER
from tradebus.schemas.orders import CommandAccepted, CommandDenied, OrdersReply, QueryOrders
from tradebus.sim.market import SimMarket
from tradebus.subjects import td_cmd, td_fwd

ACCOUNT = "SIM-FUT"
KEY = ("sim", ACCOUNT)
LEASE_S = 1.0


async def until_server_dropped(nc: Client, instance: str, within: float = 10.0) -> None:
    """Until nats-server has removed a crashed instance's subscriptions: its td.fwd subject has no responders.

    A closed connection is noticed by the server on its own schedule; a request sent before that is routed
    to the dead connection and lost, as one sent to any process at the instant it dies is. The test's clock
    for "never silent" starts once the death is known to the bus."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            await nc.request(td_fwd(instance), b"", timeout=0.5)
        except NoRespondersError:
            return
        except NatsTimeoutError:
            continue
    raise AssertionError(f"nats-server still routes to {instance} after {within}s")


def cfg(instance: str) -> object:
    return msgspec.structs.replace(TEST_TD, instance_id=instance, lease_s=LEASE_S, forward_timeout_s=2.0)


@pytest.fixture
async def pair(nats_server, tmp_path: Path) -> AsyncIterator[tuple[Harness, Harness]]:  # type: ignore[no-untyped-def]
    market = SimMarket(seed=11)
    a = Harness(nats_server.url, tmp_path / "a", cfg=cfg("a"), venue=SimVenue(market))  # type: ignore[arg-type]
    b = Harness(nats_server.url, tmp_path / "b", cfg=cfg("b"), venue=SimVenue(market))  # type: ignore[arg-type]
    try:
        await a.start()
        await until(lambda: a.engine is not None and a.engine.holds(*KEY), 5, "a holds the account")
        await b.start(wait_ready=False)
        # b has read the lease: a command reaching it is forwarded to a (before that it answers "reconciling")
        await until(lambda: b.engine is not None and b.engine.leases.holder_of(KEY) == "a", 5, "b knows the holder")
        yield a, b
    finally:
        await b.close()
        await a.close()


def holders(*harnesses: Harness) -> list[str]:
    return [h.cfg.instance_id for h in harnesses if h.engine is not None and h.engine.holds(*KEY)]


async def td_evt_subjects(h: Harness) -> list[tuple[int, str]]:
    """(sequence, subject) of every message in TD_EVT for the account: its events and its fences."""
    assert h.client is not None
    out: list[tuple[int, str]] = []
    sub = await h.client.js.subscribe(f"td.*.sim.{ACCOUNT}.*", ordered_consumer=True,
                                      config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
    info = await h.client.js.stream_info("TD_EVT")
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=1.0)
            except TimeoutError:
                return out
            out.append((msg.metadata.sequence.stream, msg.subject))
            if msg.metadata.sequence.stream >= info.state.last_seq:
                return out
    finally:
        await sub.unsubscribe()


async def test_one_holder_and_the_standby_takes_over_when_it_dies(pair: tuple[Harness, Harness]) -> None:
    a, b = pair
    assert b.engine is not None
    await until(lambda: b.engine is not None and b.engine.accounts.get(KEY) is not None
                and b.engine.accounts[KEY].status is AccountStatus.STANDBY, 5, "b stands by")
    assert holders(a, b) == ["a"]
    placed = await a.request(fut_order("ha-1", qty=1, price=a.venue.market.quote("SHFE", "rb2601").bids[-1][0]))
    assert isinstance(placed, CommandAccepted)

    started = time.monotonic()
    await a.crash_engine()  # kill -9: no release, renewals simply stop
    await until(lambda: holders(b) == ["b"], 4 * LEASE_S + 3, "b took over")
    await b.ready(ACCOUNT, timeout=10)
    took = time.monotonic() - started
    assert took >= LEASE_S * 0.9  # it waited for the lease to lapse, by its own clock
    assert b.order("ha-1") is not None  # the fold covers what a wrote
    fences = [s for _, s in await td_evt_subjects(b) if s.startswith("td.fence.")]
    assert fences[-1] == f"td.fence.sim.{ACCOUNT}.b"


async def test_graceful_stop_hands_over_without_waiting_for_the_lease(pair: tuple[Harness, Harness]) -> None:
    a, b = pair
    await a.stop_engine()  # releases its leases after its last append
    await until(lambda: holders(b) == ["b"], LEASE_S, "b took over at once")


async def test_deposed_holder_late_append_is_refused_and_it_steps_down(pair: tuple[Harness, Harness]) -> None:
    a, b = pair
    assert a.engine is not None and b.engine is not None
    a.engine.leases.abort()  # a process stopped (SIGSTOP): it renews nothing and does not know it
    await until(lambda: holders(b) == ["b"], 4 * LEASE_S + 3, "b took over")
    await b.ready(ACCOUNT, timeout=10)
    assert a.engine.holds(*KEY)  # a still believes it holds the account
    inserts = a.venue.inserts
    before = await td_evt_subjects(b)

    # a wakes up and handles a command it had received: its OrderSubmitted is refused by the fence.
    late = await a.engine.handle(fut_order("late-1", qty=1, price=a.venue.market.quote("SHFE", "rb2601").bids[-1][0]))
    assert isinstance(late, CommandDenied) and late.code == "store_unavailable", late
    assert a.venue.inserts == inserts  # nothing reached the venue for it
    assert not a.engine.holds(*KEY) and a.engine.accounts[KEY].status is AccountStatus.STANDBY
    after = await td_evt_subjects(b)
    assert after == before  # no message of a's after b's fence
    assert sum(a.engine.store._fenced.values.values()) >= 1  # counted in td_events_fenced_out_total


async def test_command_to_the_standby_is_forwarded_and_answered(pair: tuple[Harness, Harness]) -> None:
    a, b = pair
    assert a.server is not None and b.server is not None
    await until(lambda: b.engine is not None and b.engine.leases.holder_of(KEY) == "a", 5, "b knows the holder")
    # a keeps td.fwd.a only (not the queue, not its held account's own subject): every td.cmd now reaches b.
    for sub in [*a.server._subs[:-1], *a.server._direct.values()]:
        await sub.unsubscribe()
    assert a.engine_bus is not None and a.direct_bus is not None
    await flush_in_order(a.engine_bus.nc)  # the server has the UNSUBs before the request: else it may still route to a
    await flush_in_order(a.direct_bus.nc)
    price = a.venue.market.quote("SHFE", "rb2601").bids[-1][0]
    reply = await a.request(fut_order("fwd-1", qty=1, price=price))
    assert isinstance(reply, CommandAccepted) and reply.order.client_order_id == "fwd-1", reply
    assert a.order("fwd-1") is not None  # a, the holder, placed it
    assert b.engine is not None and b.engine.ledger.get("sim", ACCOUNT, "fwd-1") is None
    listed = await a.request(QueryOrders(venue="sim", account=ACCOUNT, client_order_id="fwd-1"))
    assert isinstance(listed, OrdersReply) and [o.client_order_id for o in listed.orders] == ["fwd-1"]
    assert b.server.forwarded.values.get(("answered",), 0) >= 2


async def test_a_command_reaching_the_holder_directly_and_forwarded_is_answered_once(
        pair: tuple[Harness, Harness]) -> None:
    """The holder subscribes its account's own subject next to the queue group, so it can get one request by
    two paths: directly, and forwarded by the standby the queue picked. It acts on the first copy; the
    requester gets one reply whichever copy came first."""
    a, b = pair
    assert a.server is not None and b.server is not None and b.client is not None
    await until(lambda: KEY in a.server._direct, 5, "a subscribes its held account directly")
    for sub in a.server._subs[:-1]:  # out of the queue group: the queue now picks b, which forwards to a
        await sub.unsubscribe()
    assert a.engine_bus is not None and a.direct_bus is not None
    await flush_in_order(a.engine_bus.nc)
    price = a.venue.market.quote("SHFE", "rb2601").bids[-1][0]
    nc = b.client.nc
    for i in range(5):
        inbox = nc.new_inbox()
        replies = await nc.subscribe(inbox)
        await flush_in_order(nc)
        before = sum(b.server.forwarded.values.values())
        await nc.publish(td_cmd("sim", ACCOUNT), msgspec.json.encode(fut_order(f"twice-{i}", price=price)),
                         reply=inbox)
        first = await replies.next_msg(timeout=5)
        reply = TRADE_REPLY_DECODER.decode(first.data)
        assert isinstance(reply, CommandAccepted) and reply.order.client_order_id == f"twice-{i}", reply
        # b's forward has come back (an answer b relayed, or "answered directly"): nothing more can follow.
        await until(lambda before=before: sum(b.server.forwarded.values.values()) > before, 5, "b's forward done")
        await flush_in_order(a.engine_bus.nc)
        await flush_in_order(a.direct_bus.nc)
        await flush_in_order(nc)
        with pytest.raises(NatsTimeoutError):
            extra = await replies.next_msg(timeout=0.3)
            pytest.fail(f"a second reply: {extra.data!r}")
        await replies.unsubscribe()
        assert a.order(f"twice-{i}") is not None  # a, the holder, placed it
    outcomes = b.server.forwarded.values
    assert outcomes.get(("answered_directly",), 0) + outcomes.get(("answered",), 0) == 5, outcomes
    assert outcomes.get(("unanswered",), 0) == 0, outcomes


async def test_commands_during_a_takeover_are_answered_never_silent(pair: tuple[Harness, Harness]) -> None:
    a, b = pair
    price = a.venue.market.quote("SHFE", "rb2601").bids[-1][0]
    await a.crash_engine()
    assert b.client is not None
    await until_server_dropped(b.client.nc, "a")
    answers: list[str] = []
    unanswered = 0
    deadline = time.monotonic() + 4 * LEASE_S + 10
    i = 0
    while time.monotonic() < deadline:
        i += 1
        try:
            reply = await b.request(fut_order(f"tk-{i}", qty=1, price=price), timeout=3.0)
        except RequestTimeout:
            unanswered += 1
            continue
        answers.append(reply.code if isinstance(reply, CommandDenied) else "accepted")
        if answers[-1] == "accepted":
            break
        await asyncio.sleep(0.05)  # the caller's resend pace, not a wait for a condition
    assert unanswered == 0
    assert answers[-1] == "accepted", answers
    assert set(answers[:-1]) <= {"reconciling"}, answers
