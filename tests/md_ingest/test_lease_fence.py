"""The venue lease (KV md_leases) and the fence in the MD stream, against a real nats-server."""

from __future__ import annotations

import asyncio
import os
import time

import msgspec
import pytest
from nats.js.kv import KeyValue
from polling import until

from md_ingest.fence import Gate
from md_ingest.lease import LEASE_BUCKET, VenueLease
from tradebus.bus import Bus
from tradebus.bus.flush import flush_in_order
from tradebus.bus.kv_lease import OWN_KEY_SHARE
from tradebus.bus.topology import ensure_topology
from tradebus.config import StreamsConfig
from tradebus.config_sections.md import MdConfig
from tradebus.schemas import MARKET_DATA_DECODER
from tradebus.schemas.market import FeedFence, Tick
from tradebus.subjects import md_fence, md_tick

SUBJECT = md_tick("ctp", "SHFE", "rb2601")
_encode = msgspec.json.Encoder().encode


def _tick(seq: int) -> bytes:
    return _encode(
        Tick(venue="ctp", exchange="SHFE", symbol="rb2601", ts_event=seq, ts_init=seq, seq=seq, last=3500.0 + seq)
    )


async def _kv(bus: Bus) -> KeyValue:
    await ensure_topology(bus.js, StreamsConfig())
    return await bus.js.key_value(LEASE_BUCKET)


async def _stored(bus: Bus) -> list[int]:
    """Sequences of the ticks the MD stream holds on SUBJECT, in order."""
    info = await bus.js.stream_info("MD")
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            raw = await bus.js.get_msg("MD", seq)
        except Exception:
            continue
        if raw.subject == SUBJECT:
            tick = MARKET_DATA_DECODER.decode(raw.data or b"")
            assert isinstance(tick, Tick)
            out.append(tick.seq)
    return out


async def _holding(bus: Bus, kv: KeyValue, lease_s: float, deposed: list[str]) -> tuple[VenueLease, Gate]:
    """Instance "1" takes the free ctp lease and fences the stream."""
    lease = VenueLease(kv, "ctp", "1", lease_s, deposed.append)
    assert await lease.take_if_free()
    gate = Gate(bus, lease)
    await gate.open()
    return lease, gate


async def test_a_new_fence_refuses_the_old_holders_publishes(bus: Bus) -> None:
    kv = await _kv(bus)
    deposed: list[str] = []
    old, old_gate = await _holding(bus, kv, 0.5, deposed)
    assert await old_gate.publish(SUBJECT, _tick(1))
    await flush_in_order(bus.nc)
    await until_stored(bus, [1])

    # A second instance takes the venue (here: the old holder stops renewing and the lease lapses).
    new = VenueLease(kv, "ctp", "2", 0.5, lambda venue: None)
    started = time.monotonic()
    await asyncio.wait_for(new.acquire(), 5)
    assert time.monotonic() - started >= 0.5, "a lease held by someone else is taken only once it lapsed"
    assert new.epoch > old.epoch
    new_gate = Gate(bus, new)
    await new_gate.open()
    assert new_gate.fence_seq > old_gate.fence_seq
    fence = MARKET_DATA_DECODER.decode((await bus.js.get_last_msg("MD", md_fence("ctp"))).data or b"")
    assert isinstance(fence, FeedFence) and fence.holder == "2" and fence.epoch == new.epoch

    # The old holder, frozen past its deadline, would not even send; with the deadline forced open (a clock
    # that lied), the stream still refuses it, and the sampled ack tells it it was deposed.
    assert not old.may_publish(time.monotonic())
    old.publish_deadline = time.monotonic() + 60
    assert await old_gate.publish(SUBJECT, _tick(2))
    assert await new_gate.publish(SUBJECT, _tick(3))
    await flush_in_order(bus.nc)
    await until(lambda: deposed == ["ctp"], 5, "the old holder notices its deposition")
    assert not old.held and not old.may_publish(time.monotonic())
    await until_stored(bus, [1, 3])
    assert old_gate.refused >= 1


async def until_stored(bus: Bus, want: list[int]) -> None:
    deadline = time.monotonic() + 5
    while (got := await _stored(bus)) != want:
        assert time.monotonic() < deadline, f"stored {got}, want {want}"
        await asyncio.sleep(0.02)


async def test_refencing_keeps_the_holder_publishing_and_is_refused_once_deposed(bus: Bus) -> None:
    kv = await _kv(bus)
    deposed: list[str] = []
    lease, gate = await _holding(bus, kv, 1.0, deposed)
    first = gate.fence_seq
    assert await gate.fence()
    assert gate.fence_seq > first
    assert await gate.publish(SUBJECT, _tick(1))
    await flush_in_order(bus.nc)
    await until_stored(bus, [1])
    # Someone else fences the venue: our next re-fence is refused (it is conditional on ours being the newest).
    await bus.js.publish(md_fence("ctp"), _encode(FeedFence(venue="ctp", holder="2", epoch=10**9, ts_event=0)))
    assert not await gate.fence()
    assert deposed == ["ctp"] and not lease.held


async def test_lease_taken_back_by_the_same_instance_and_released_on_stop(bus: Bus) -> None:
    kv = await _kv(bus)
    first = VenueLease(kv, "ctp", "1", 2.0, lambda venue: None)
    first.key.pid = os.getppid()  # stands for a process that is still alive (ours is this test's own pid)
    assert await first.take_if_free()
    other = VenueLease(kv, "ctp", "2", 2.0, lambda venue: None)
    assert not await other.take_if_free(), "held and renewed: not free"
    # The same instance id while that process may live (its pid is alive here): not free at once, taken back
    # once unmoved for half a lease, not a whole one.
    again = VenueLease(kv, "ctp", "1", 2.0, lambda venue: None)
    started = time.monotonic()
    assert not await again.take_if_free()
    await asyncio.wait_for(again.acquire(), 5)
    assert 2.0 * OWN_KEY_SHARE <= time.monotonic() - started < 2.0
    assert again.epoch > first.epoch
    # Restarted with its previous run gone (kill -9, no release; here: the same pid): taken back at once.
    third = VenueLease(kv, "ctp", "1", 2.0, lambda venue: None)
    assert await third.take_if_free()
    assert third.epoch > again.epoch
    # The first incarnation's renewal is refused now: it steps down.
    deposed: list[str] = []
    first.on_deposed = deposed.append
    assert not await first.renew()
    assert deposed == ["ctp"]
    # A graceful stop deletes the key: the standby takes it at once.
    await third.release()
    assert await other.take_if_free()


async def test_two_standbys_racing_for_a_lapsed_lease_one_wins(bus: Bus) -> None:
    kv = await _kv(bus)
    holder = VenueLease(kv, "ctp", "1", 0.5, lambda venue: None)
    assert await holder.take_if_free()
    a = VenueLease(kv, "ctp", "2", 0.5, lambda venue: None)
    b = VenueLease(kv, "ctp", "3", 0.5, lambda venue: None)
    task_a, task_b = asyncio.create_task(a.acquire()), asyncio.create_task(b.acquire())
    done, pending = await asyncio.wait({task_a, task_b}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    assert len(done) == 1
    winner, loser = (a, b) if task_a in done else (b, a)
    # The winner renews; the loser keeps standing by.
    for _ in range(4):
        assert await winner.renew()
        await asyncio.sleep(0.1)
    assert not loser.held and len(pending) == 1
    for task in pending:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_publish_deadline_ends_before_a_standby_can_take_over(bus: Bus) -> None:
    kv = await _kv(bus)
    holder = VenueLease(kv, "ctp", "1", 1.0, lambda venue: None)
    assert await holder.take_if_free()
    standby = VenueLease(kv, "ctp", "2", 1.0, lambda venue: None)
    task = asyncio.create_task(standby.acquire())
    await asyncio.wait_for(task, 5)
    taken_at = time.monotonic()
    assert holder.publish_deadline < taken_at


@pytest.mark.parametrize("lease_s", [0.1, 0.0, -1.0, 600.0])
def test_lease_s_bounded(lease_s: float) -> None:
    with pytest.raises(ValueError, match="lease_s must be between"):
        MdConfig(lease_s=lease_s)
