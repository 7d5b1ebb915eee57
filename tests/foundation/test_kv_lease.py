"""The one KV lease primitive (tradebus.bus.kv_lease), against a real nats-server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import msgspec
import pytest
from nats.js.api import KeyValueConfig
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from polling import until, until_async

from tradebus.bus import Bus
from tradebus.bus.kv_lease import OWN_KEY_SHARE, UNREADABLE, KeyLease, LeaseValue, Sighting, decode_value, margin

KEY = "sim.ACC-1"


async def _kv(bus: Bus) -> KeyValue:
    return await bus.js.create_key_value(KeyValueConfig(bucket="test_leases", history=1))


def _lease(kv: KeyValue, holder: str, lease_s: float = 0.5) -> KeyLease:
    return KeyLease(kv, KEY, holder, lease_s, timeout=2.0)


async def _taken(lease: KeyLease, epoch: int | None = None) -> KeyLease:
    seen = await lease.look()
    assert seen is not None
    assert await lease.take(seen, epoch)
    return lease


async def test_two_holders_racing_for_a_free_key_exactly_one_wins(bus: Bus) -> None:
    kv = await _kv(bus)
    a, b = _lease(kv, "a"), _lease(kv, "b")
    seen_a, seen_b = await a.look(), await b.look()
    assert seen_a is not None and seen_b is not None
    assert seen_a.holder == seen_b.holder == "" and seen_a.revision == seen_b.revision == 0
    won = await asyncio.gather(a.take(seen_a, 1), b.take(seen_b, 1))
    assert sorted(won) == [False, True]
    winner, loser = (a, b) if won[0] else (b, a)
    assert winner.held and not loser.held
    stored = decode_value((await kv.get(KEY)).value)
    assert stored == LeaseValue(winner.holder, 1, winner.pid, winner.host)


async def test_renewal_is_refused_once_someone_else_took_the_key(bus: Bus) -> None:
    kv = await _kv(bus)
    old = await _taken(_lease(kv, "a"), 1)
    assert await old.renew()
    new = await _taken(_lease(kv, "b"), 2)  # a takeover (here without waiting: take checks only revisions)
    assert not await old.renew()
    assert await new.renew()
    stored = decode_value((await kv.get(KEY)).value)
    assert stored == LeaseValue("b", 2, new.pid, new.host)


async def test_a_renewal_stored_after_we_stopped_waiting_keeps_the_key_ours(bus: Bus) -> None:
    kv = await _kv(bus)
    lease = await _taken(_lease(kv, "a"), 1)
    confirmed = lease.confirmed_at
    # Our own value, written behind our back: what a renewal we gave up waiting for leaves in the bucket.
    await kv.update(KEY, b'{"holder":"a","epoch":1}', last=lease.revision)
    assert await lease.renew()
    assert lease.confirmed_at == confirmed, "the late renewal's send time is unknown: the deadline does not move"
    assert await lease.renew()
    assert lease.confirmed_at > confirmed


async def test_a_lapse_is_judged_by_the_observers_own_clock(bus: Bus) -> None:
    kv = await _kv(bus)
    holder = await _taken(_lease(kv, "a"), 1)
    # The key is older than lease_s before the standby first sees it: that does not count.
    written = time.monotonic()
    await until(lambda: time.monotonic() - written > 0.5, 5, "the key older than lease_s")
    standby = _lease(kv, "b")
    first = await standby.look()
    assert first is not None and first.holder == "a"
    assert not standby.lapsed(first, time.monotonic())
    # A renewal is a new revision: the count starts again from when the standby sees it.
    assert await holder.renew()
    renewed = await standby.look()
    assert renewed is not None and renewed.revision > first.revision and renewed.since > first.since
    # Unmoved for lease_s by the standby's clock: lapsed, and taken.
    seen = await until_lapsed(standby)
    assert seen.age(time.monotonic()) >= standby.lease_s
    assert await standby.take(seen, seen.epoch + 1)
    assert standby.epoch == 2
    assert not await holder.renew()


async def until_lapsed(lease: KeyLease) -> Sighting:
    async def lapsed() -> Sighting | None:
        seen = await lease.look()
        return seen if seen is not None and lease.lapsed(seen, time.monotonic()) else None

    return await until_async(lapsed, 5, "the lease lapsed by the standby's clock")


def _gone_pid() -> int:
    """The pid of a process that has exited on this host: a killed previous run."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


async def test_the_same_holder_takes_its_key_back_at_once_when_its_previous_run_is_gone(bus: Bus) -> None:
    kv = await _kv(bus)
    for previous_pid in (_gone_pid(), os.getpid()):  # exited; or ours (a restarted container's pid 1)
        before = await _taken(KeyLease(kv, KEY, "a", 60.0, timeout=2.0, pid=previous_pid))
        again = _lease(kv, "a", lease_s=60.0)  # this process, same host
        seen = await again.look()
        assert seen is not None and seen.holder == "a" and seen.pid == previous_pid
        assert again.lapsed(seen, time.monotonic())
        assert await again.take(seen)
        assert again.epoch > before.epoch
        other = _lease(kv, "b", lease_s=60.0)
        seen = await other.look()
        assert seen is not None and not other.lapsed(seen, time.monotonic())
        await again.release()


async def test_the_same_holder_waits_half_a_lease_when_its_previous_run_may_live(bus: Bus) -> None:
    kv = await _kv(bus)
    for pid, host in ((os.getppid(), None), (_gone_pid(), "another-host")):  # a live pid; a pid of another host
        before = await _taken(KeyLease(kv, KEY, "a", 2.0, timeout=2.0, pid=pid, host=host))
        again = _lease(kv, "a", lease_s=2.0)
        other = _lease(kv, "b", lease_s=2.0)
        seen, other_seen = await again.look(), await other.look()
        assert seen is not None and seen.holder == "a" and other_seen is not None
        assert not again.lapsed(seen, time.monotonic()), "not at once: a live process of that id could renew"
        seen = await until_lapsed(again)
        now = time.monotonic()
        assert seen.age(now) >= again.lease_s * OWN_KEY_SHARE
        assert not other.lapsed(other_seen, now), "another id waits the whole lease"
        assert await again.take(seen)
        assert again.epoch > before.epoch
        await again.release()


async def test_two_processes_given_one_id_do_not_take_turns(bus: Bus) -> None:
    kv = await _kv(bus)
    lease_s = 2.0
    holder = await _taken(_lease(kv, "a", lease_s=lease_s))
    # A second process started with the same id by mistake (its own pid: the holder's, ours, is alive).
    duplicate = KeyLease(kv, KEY, "a", lease_s, timeout=2.0, pid=os.getppid())
    renewals: list[bool] = []

    async def renew_like_a_holder() -> None:  # every third of a lease, as md_ingest and td_exec renew
        while True:
            await asyncio.sleep(lease_s / 3)
            renewals.append(await holder.renew())

    renewing = asyncio.create_task(renew_like_a_holder())
    try:
        deadline = time.monotonic() + 2 * lease_s
        while time.monotonic() < deadline:  # the duplicate looks as often as a standby does
            seen = await duplicate.look()
            assert seen is not None and not duplicate.lapsed(seen, time.monotonic()), (
                "the duplicate would take the key from a live holder of the same id")
            await asyncio.sleep(0.05)
    finally:
        renewing.cancel()
    assert len(renewals) >= 4 and all(renewals)
    # The holder gone (renewals stopped): the duplicate takes over like a restart would.
    assert await duplicate.take(await until_lapsed(duplicate))


async def test_release_lets_a_standby_take_at_once_and_refuses_once_taken(bus: Bus) -> None:
    kv = await _kv(bus)
    holder = await _taken(_lease(kv, "a", lease_s=60.0), 1)
    standby = _lease(kv, "b", lease_s=60.0)
    seen = await standby.look()
    assert seen is not None and not standby.lapsed(seen, time.monotonic())
    await holder.release()
    assert not holder.held
    seen = await standby.look()
    assert seen is not None and seen.holder == "" and seen.revision > 0  # the delete marker's revision
    assert await standby.take(seen, seen.epoch + 1)
    # A stale holder's release is revision-checked: it cannot delete the new holder's key.
    stale = await _taken(_lease(kv, "c", lease_s=60.0), 1)
    assert not await standby.renew()
    with pytest.raises(KeyWrongLastSequenceError):
        await standby.release()
    assert decode_value((await kv.get(KEY)).value).holder == "c" and stale.held


def test_the_value_keeps_its_bytes_both_ways() -> None:
    # Values written before pid and host were added (and values without them) read as before, and back.
    assert msgspec.json.encode(LeaseValue("a", 3)) == b'{"holder":"a","epoch":3}'
    assert msgspec.json.encode(LeaseValue("1", 7, 4242)) == b'{"holder":"1","epoch":7,"pid":4242}'
    assert decode_value(b'{"holder":"a","epoch":3}') == LeaseValue("a", 3)
    assert decode_value(b'{"holder":"1","epoch":7,"pid":4242}') == LeaseValue("1", 7, 4242)
    full = b'{"holder":"1","epoch":7,"pid":4242,"host":"gw-1"}'
    assert msgspec.json.encode(LeaseValue("1", 7, 4242, "gw-1")) == full
    assert decode_value(full) == LeaseValue("1", 7, 4242, "gw-1")
    assert decode_value(b"not json") is UNREADABLE and decode_value(None) is UNREADABLE


def test_margin_is_a_quarter_of_the_lease_at_most_a_quarter_second() -> None:
    assert margin(0.4) == pytest.approx(0.1)
    assert margin(3.0) == 0.25


async def test_a_holder_without_a_name_is_refused(bus: Bus) -> None:
    kv = await _kv(bus)
    with pytest.raises(ValueError, match="needs a name"):
        _lease(kv, "")
