"""What an FMZ docker does on day one: ``exchange.GetTicker()`` once at start (the first ask for a symbol
must answer with data), HTTP heads ended by bare LF, and a key whose user holds wildcard grants."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fmz_harness import Edge, Key, http
from polling import until

from fmz_edge.protocol import num_str
from tradebus.schemas.market import Bar

RB = "rb2601.SHFE_CNY"


def request_body(edge: Edge, method: str, params: dict[str, Any]) -> bytes:
    """The docker's body: the documented envelope (access_key, method, nonce, params, secret_key)."""
    key = edge.alice
    return json.dumps({"access_key": key.access_key, "method": method, "nonce": key.nonce(), "params": params,
                       "secret_key": key.secret_key}).encode()


async def test_the_first_ticker_waits_for_the_first_tick(edge: Edge) -> None:
    async def md_ingest_publishes_once_subscribed() -> None:
        await until(lambda: bool(edge.peer.subscriptions), 5, "the md.ctl subscription")
        await asyncio.sleep(0.3)  # the venue's first push comes a moment after the subscription
        await edge.peer.publish_tick("SHFE", "rb2601")

    publisher = asyncio.create_task(md_ingest_publishes_once_subscribed())
    answer = await edge.call("/ctp", edge.alice, "ticker", {"symbol": RB})
    await publisher
    assert "data" in answer and answer["data"]["symbol"] == RB, answer


async def test_the_first_ticker_of_a_quiet_market_answers_from_the_last_bar(edge: Edge) -> None:
    # md_ingest publishes no tick (a closed market pushes none); stream MD still holds its last minute bar.
    bar = Bar(venue="ctp", exchange="SHFE", symbol="au2602", interval="1m", start_ns=1_764_900_000_000_000_000,
              end_ns=1_764_900_060_000_000_000, open=950.0, high=951.0, low=949.5, close=950.5, volume=12,
              turnover=1.1e7, trading_day="20261207")
    await edge.peer.publish_bar(bar)
    answer = await edge.call("/ctp", edge.alice, "ticker", {"symbol": "au2602.SHFE_CNY"})
    assert answer["data"]["last"] == num_str(950.5) and answer["data"]["time"] == str(bar.end_ns // 10**6), answer
    assert answer["data"]["buy"] == "0" and answer["data"]["sell"] == "0"  # no book: a side without a quote


async def test_bare_lf_line_endings_are_answered(edge: Edge) -> None:
    body = request_body(edge, "accounts", {})
    raw = (f"POST /ctp HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\n"
           f"Content-Length: {len(body)}\n\n").encode() + body
    status, answer = await asyncio.wait_for(http(edge.port, raw), 5)
    assert status == 200 and "data" in json.loads(answer), answer
    body = request_body(edge, "accounts", {})
    mixed = (f"POST /ctp HTTP/1.1\r\nHost: 127.0.0.1\nContent-Length: {len(body)}\r\n\n").encode() + body
    status, answer = await asyncio.wait_for(http(edge.port, mixed), 5)
    assert status == 200 and "data" in json.loads(answer), answer
    status, answer = await http(edge.port, b"POST /ctp HTTP/1.1\nHost: a\rb\nContent-Length: 2\n\n{}")
    assert status == 400 and "CR" in json.loads(answer)["error"]  # a CR inside a line stays refused


async def test_wildcard_grants_resolve_to_the_venues_accounts(edge: Edge) -> None:
    store = edge.service.users
    store.add("carol", "carol-secret-3", ["futu:*", "ctp:*"])
    carol = Key(*store.issue_fmz_key("carol"))
    edge.peer.accounts[("futu", "281756457")].add("carol")
    one = await edge.call("/futu", carol, "accounts", {})  # the venue's only account: no need to name it
    assert "data" in one, one
    several = await edge.call("/ctp", carol, "accounts", {})
    assert "several ctp accounts (000001, 000002)" in several["error"]


async def test_the_guides_ticker_request_as_written(edge: Edge) -> None:
    """FMZ's custom-protocol guide shows the docker's request as ``POST /OKX HTTP/1.1 `` (a blank after the
    version) and a pretty-printed body; here with bare-LF lines, our path and symbol, and the first ask for
    a symbol nobody streams yet (its tick comes after the subscription)."""
    key = edge.alice
    body = (f'{{\n    "access_key": "{key.access_key}",\n    "method": "ticker",\n    "nonce": {key.nonce()},\n'
            f'    "params": {{"symbol":"{RB}"}},\n    "secret_key": "{key.secret_key}"\n}}').encode()
    raw = f"POST /ctp HTTP/1.1 \nContent-Length: {len(body)}\n\n".encode() + body

    async def first_push() -> None:
        await until(lambda: bool(edge.peer.subscriptions), 5, "the md.ctl subscription")
        await edge.peer.publish_tick("SHFE", "rb2601")

    publisher = asyncio.create_task(first_push())
    status, answer = await asyncio.wait_for(http(edge.port, raw), 10)
    await publisher
    assert status == 200 and json.loads(answer)["data"]["symbol"] == RB, answer
