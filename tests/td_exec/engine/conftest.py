"""Fixtures of the engine tests: a harness on the real nats-server fixture with the sim venue."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from td_engine_helpers import Harness


@pytest.fixture
async def harness(nats_server, tmp_path: Path) -> AsyncIterator[Harness]:  # type: ignore[no-untyped-def]
    h = Harness(nats_server.url, tmp_path)
    try:
        await h.start()
        yield h
    finally:
        await h.close()
