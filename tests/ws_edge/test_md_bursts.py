"""One frame per tick (webctp) while the edge keeps up; newest tick only per instrument once it is behind."""

from __future__ import annotations

import pytest
from ws_harness import Client, Stack

from tradebus.bus.flush import flush_in_order
from tradebus.subjects import md_tick
from ws_edge import market

BURST = 10


async def _subscribed(stack: Stack) -> Client:
    client = await stack.login("/md/")
    await client.send({"MsgType": "SubscribeMarketData", "InstrumentID": ["rb2601"]})
    reply = await client.recv()
    assert reply["MsgType"] == "RspSubMarketData" and reply["RspInfo"]["ErrorID"] == 0
    # The client is attached (snapshot, then live) once a live tick reaches it.
    await stack.md.publish(stack.md.tick("sim", "SHFE", "rb2601", 3000.0))
    await client.recv_until(lambda m: m["DepthMarketData"]["LastPrice"] == 3000.0)  # after any stored snapshot
    stack.edge.market.conflated_at_subscription = 0
    return client


async def _burst(stack: Stack) -> list[float]:
    """BURST ticks of rb2601 in one flush, so they reach the edge in one socket read."""
    prices = [3100.0 + i for i in range(BURST)]
    for price in prices:
        tick = stack.md.tick("sim", "SHFE", "rb2601", price)
        await stack.bus.publish(md_tick("sim", "SHFE", "rb2601"), tick)
    await flush_in_order(stack.bus.nc)
    return prices


async def test_a_burst_reaches_the_client_tick_by_tick_while_the_edge_keeps_up(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(market, "LAG_LIMIT_NS", 60_000_000_000)  # never "behind", however loaded the box
    client = await _subscribed(stack)
    prices = await _burst(stack)
    got = [(await client.recv())["DepthMarketData"]["LastPrice"] for _ in prices]
    assert got == prices
    assert stack.edge.market.conflated_at_subscription == 0


async def test_an_edge_behind_sends_only_the_newest_tick_and_counts_the_rest(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(market, "LAG_LIMIT_NS", -1)  # every dispatcher round counts as late
    client = await _subscribed(stack)
    prices = await _burst(stack)
    got: list[float] = []
    while not got or got[-1] != prices[-1]:
        got.append((await client.recv())["DepthMarketData"]["LastPrice"])
    # Nothing is lost without being counted, order is kept, and the newest tick always goes out.
    assert got == sorted(got) and set(got) <= set(prices)
    assert len(got) + stack.edge.market.conflated_at_subscription == BURST
