"""Fixtures for the Futu adapter tests: opend_sim's API server in-process (its own loop thread, its
market moving only when a test says so, so every price is exact), a real NATS for the adapter's bus,
and a started FutuVenue with its recording sink."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from futu_venue_helpers import RecordingSink, ServerThread, futu_config, new_market

from td_exec.futu_venue import FutuVenue
from tradebus.bus import Bus


@pytest.fixture
def opend(tmp_path: Path) -> Iterator[ServerThread]:
    srv = ServerThread(new_market, tick_interval=0, unsub_min_seconds=0.0, state_path=tmp_path / "market.bin")
    srv.start()
    try:
        yield srv
    finally:
        srv.shutdown()


@pytest.fixture
async def venue(opend: ServerThread, bus: Bus, tmp_path: Path) -> AsyncIterator[tuple[FutuVenue, RecordingSink]]:
    adapter = FutuVenue(futu_config(opend.port), tmp_path / "td", bus, reconnect_interval_s=0.5)
    sink = RecordingSink()
    await adapter.start(sink)
    try:
        await sink.until(lambda: sink.connected, what="futu venue connected")
        yield adapter, sink
    finally:
        await adapter.stop()
