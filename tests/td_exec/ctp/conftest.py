"""Fixtures: a real ctp_sim front process per test, and a CtpVenue logged in to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from ctp_front import CtpFront
from ctp_venue_helpers import RecordingSink, start_venue

from td_exec.ctp_venue import CtpVenue


@pytest.fixture
def front(tmp_path: Path) -> Iterator[CtpFront]:
    proc = CtpFront(tmp_path / "front", seed=5).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def venue(front: CtpFront, tmp_path: Path) -> AsyncIterator[tuple[CtpVenue, RecordingSink]]:
    adapter, sink = await start_venue(front, tmp_path / "td")
    try:
        yield adapter, sink
    finally:
        await adapter.stop()
