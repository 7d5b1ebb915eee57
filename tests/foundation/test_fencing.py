"""Fencing a stream (tradebus.bus.fencing) and reading a subject's newest message back
(tradebus.bus.replay), against a real nats-server."""

from __future__ import annotations

import pytest
from nats.js.api import StreamConfig
from nats.js.errors import APIError

from tradebus.bus import Bus, fencing
from tradebus.bus.connection import WRONG_LAST_SEQUENCE
from tradebus.bus.replay import last_seq, last_stored

STREAM = "FENCED"
FENCES = "t.fence.acc"


async def _stream(bus: Bus) -> None:
    await bus.js.add_stream(StreamConfig(name=STREAM, subjects=["t.>"], allow_direct=True))


async def test_a_newer_fence_refuses_the_old_writers_appends(bus: Bus) -> None:
    await _stream(bus)
    assert await last_seq(bus.js, STREAM, "t.>") == 0 and await last_stored(bus.js, STREAM, FENCES) is None
    old = await fencing.append(bus.js, FENCES, b"old", timeout=2)
    # The fence is checked, not the writes: two writes behind one fence both pass.
    for body in (b"1", b"2"):
        await bus.js.publish("t.evt.acc", body, headers=fencing.expect_newest(FENCES, old), timeout=2)
    new = await fencing.append(bus.js, FENCES, b"new", timeout=2)  # a takeover: unconditional
    assert new > old
    with pytest.raises(APIError) as refused:
        await bus.js.publish("t.evt.acc", b"3", headers=fencing.expect_newest(FENCES, old), timeout=2)
    assert refused.value.err_code == WRONG_LAST_SEQUENCE
    await bus.js.publish("t.evt.acc", b"4", headers=fencing.expect_newest(FENCES, new), timeout=2)
    raw = await last_stored(bus.js, STREAM, "t.evt.acc")
    assert raw is not None and raw.data == b"4"
    assert await last_seq(bus.js, STREAM, "t.>") == raw.seq


async def test_renewing_a_fence_is_refused_once_a_newer_one_exists(bus: Bus) -> None:
    await _stream(bus)
    ours = await fencing.append(bus.js, FENCES, b"ours", timeout=2)
    again = await fencing.append(bus.js, FENCES, b"ours", timeout=2, after=ours)
    assert again > ours
    await fencing.append(bus.js, FENCES, b"theirs", timeout=2)
    with pytest.raises(APIError) as refused:
        await fencing.append(bus.js, FENCES, b"ours", timeout=2, after=again)
    assert refused.value.err_code == WRONG_LAST_SEQUENCE
    raw = await last_stored(bus.js, STREAM, FENCES)
    assert raw is not None and raw.data == b"theirs"
