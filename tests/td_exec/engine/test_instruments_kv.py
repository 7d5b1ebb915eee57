"""KV ``instruments``: td_exec writes each venue's instrument list, and ws_edge's answers read it."""

from __future__ import annotations

from pathlib import Path

import msgspec
from polling import until_async
from td_engine_helpers import Harness

from td_exec.instruments_kv import instrument_key
from tradebus.config_sections.ws import WsConfig
from tradebus.runtime.metrics import Registry
from tradebus.schemas.account import InstrumentInfo
from tradebus.users import UserStore
from ws_edge.edge import Edge


async def _keys(harness: Harness) -> set[str]:
    assert harness.client is not None
    kv = await harness.client.js.key_value("instruments")
    try:
        return set(await kv.keys())
    except Exception:  # NoKeysError: nothing written yet
        return set()


async def test_td_exec_writes_the_venue_list_and_ws_edge_answers_from_it(harness: Harness, tmp_path: Path) -> None:
    listed = await harness.venue.instruments()
    assert listed
    wanted = {instrument_key(i.venue, i.exchange, i.symbol) for i in listed}

    await _until_written(harness, wanted)
    assert harness.client is not None
    kv = await harness.client.js.key_value("instruments")
    first = listed[0]
    entry = await kv.get(instrument_key(first.venue, first.exchange, first.symbol))
    assert msgspec.json.decode(entry.value, type=InstrumentInfo) == first

    edge = Edge(harness.client, WsConfig(), UserStore(tmp_path / "ws-users.json"), Registry(), requester="test")
    answered = await edge.load_instruments()
    assert {(i.venue, i.exchange, i.symbol) for i in answered} >= {(i.venue, i.exchange, i.symbol) for i in listed}

    # a reconnection writes only what changed (here: nothing)
    assert harness.engine is not None
    puts = harness.engine.instruments_kv.puts
    before = puts.get()
    assert before >= len(listed)
    harness.venue.set_connected(False)
    harness.venue.set_connected(True)
    await harness.ready()
    assert puts.get() == before


async def _until_written(harness: Harness, wanted: set[str]) -> None:
    seen: set[str] = set()

    async def written() -> bool:
        nonlocal seen
        seen = await _keys(harness)
        return seen >= wanted

    await until_async(written, 10.0, "KV instruments", detail=lambda: f"missing {sorted(wanted - seen)}")
