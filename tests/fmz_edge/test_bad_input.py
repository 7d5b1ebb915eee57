"""Bad input of every kind gets ``{"error": …}`` with HTTP 200 and changes nothing; replays are refused."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from fmz_harness import Edge, http, post_bytes, read_response

RB = "rb2601.SHFE_CNY"


def body(edge: Edge, method: str, params: Any, **override: Any) -> bytes:
    fields = {"access_key": edge.alice.access_key, "method": method, "nonce": edge.alice.nonce(),
              "params": params, "secret_key": edge.alice.secret_key, **override}
    return json.dumps(fields).encode()


async def expect_error(edge: Edge, raw: bytes, contains: str) -> None:
    status, answer = await http(edge.port, raw)
    assert status == 200
    decoded = json.loads(answer)
    assert set(decoded) == {"error"}, decoded
    assert contains in decoded["error"], decoded["error"]


async def test_bad_input_of_each_kind_is_refused_and_changes_nothing(edge: Edge) -> None:
    await edge.peer.publish_tick("SHFE", "rb2601")
    good_trade = {"amount": "1", "price": "3000", "symbol": RB, "type": "buy"}
    before = len(edge.peer.commands)
    cases: list[tuple[bytes, str]] = [
        (post_bytes("/ctp", b"{not json"), "not valid JSON"),
        (post_bytes("/ctp", b'["trade"]'), "must be a JSON object"),
        (post_bytes("/ctp", json.dumps({"method": "trade", "params": good_trade}).encode()),
         "missing required parameters: access_key, secret_key, nonce"),
        (post_bytes("/ctp", body(edge, "trade", "amount=1")), "params must be a JSON object"),
        (post_bytes("/ctp", body(edge, "trade", good_trade, nonce=str(time.time_ns()))), "nonce must be an integer"),
        (post_bytes("/ctp", body(edge, 7, good_trade)), "method must be a string"),
        (post_bytes("/ctp", body(edge, "teleport", {})), "invalid method: teleport"),
        (post_bytes("/ctp", body(edge, "trade", good_trade, secret_key="0" * 64)), "invalid access_key or secret_key"),
        (post_bytes("/ctp", body(edge, "trade", good_trade, access_key="tbnobody")), "invalid access_key"),
        (post_bytes("/OKX", body(edge, "trade", good_trade)), "unknown exchange address"),
        (post_bytes("/futu/99999", body(edge, "trade", good_trade)), "not allowed"),
        (post_bytes("/ctp", body(edge, "trade", {**good_trade, "amount": "0.1"})), "whole number"),
        (post_bytes("/ctp", body(edge, "trade", {**good_trade, "amount": "-1"})), "positive"),
        (post_bytes("/ctp", body(edge, "trade", {**good_trade, "price": "abc"})), "params.price must be a number"),
        (post_bytes("/ctp", body(edge, "trade", {**good_trade, "price": "0"})), "params.price must be positive"),
        (post_bytes("/ctp", body(edge, "trade", {**good_trade, "type": "hold"})), "params.type must be one of"),
        (post_bytes("/ctp", body(edge, "trade", {**good_trade, "symbol": "BTC_USDT"})), "no exchange"),
        (post_bytes("/ctp", body(edge, "trade", {**good_trade, "symbol": ["x"]})), "non-empty string"),
        (post_bytes("/ctp", body(edge, "trade", {k: v for k, v in good_trade.items() if k != "amount"})),
         "params.amount is required"),
        (post_bytes("/ctp", body(edge, "cancel", {"id": "123456"})), "invalid order id"),
        (post_bytes("/ctp", body(edge, "records", {"symbol": RB, "period": "soon"})), "params.period"),
        (post_bytes("/ctp", body(edge, "depth", {"symbol": RB, "limit": True})), "params.limit"),
        (post_bytes("/ctp", b"x" * (edge.service.cfg.max_body_bytes + 1)), "request body too large"),
    ]
    for raw, contains in cases:
        await expect_error(edge, raw, contains)
    # Nothing reached td_exec: only queries may have been sent, never an order or a cancel.
    assert [type(c).__name__ for c in edge.peer.commands[before:]] == []
    assert edge.peer.market.orders("000001") == []


async def test_get_gets_the_seeds_error(edge: Edge) -> None:
    status, answer = await http(edge.port, b"GET /ctp HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 200 and json.loads(answer) == {"error": "not support GET method."}


async def test_replayed_nonce_is_refused_and_the_order_is_not_placed_twice(edge: Edge) -> None:
    await edge.peer.publish_tick("SHFE", "rb2601")
    captured = post_bytes("/ctp", body(edge, "trade", {"amount": "1", "price": "3000", "symbol": RB, "type": "buy"}))
    _status, first = await http(edge.port, captured)
    assert "id" in json.loads(first)["data"]
    await expect_error(edge, captured, "replay refused")
    assert len(edge.peer.market.orders("000001")) == 1
    stale = body(edge, "orders", {"symbol": RB}, nonce=time.time_ns() - 120 * 10**9)
    await expect_error(edge, post_bytes("/ctp", stale), "away from server time")
    # A request signed before the service started is refused even inside the window (restart replay).
    before_start = body(edge, "orders", {"symbol": RB}, nonce=edge.service.nonces.floor - 1)
    await expect_error(edge, post_bytes("/ctp", before_start), "predates the server's start")
    # A wrong secret does not burn the key's nonces: the owner's next request with that nonce works.
    nonce = edge.alice.nonce()
    await expect_error(edge, post_bytes("/ctp", body(edge, "orders", {}, nonce=nonce, secret_key="f" * 64)),
                       "invalid access_key")
    _status, ok = await http(edge.port, post_bytes("/ctp", body(edge, "orders", {}, nonce=nonce)))
    assert "data" in json.loads(ok)


async def test_http_keep_alive_and_framing(edge: Edge) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    try:
        for _ in range(3):  # three requests on one connection, as the docker's HTTP client does
            writer.write(post_bytes("/ctp", body(edge, "accounts", {})))
            await writer.drain()
            status, answer = await read_response(reader)
            assert status == 200 and "data" in json.loads(answer)
    finally:
        writer.close()
        await writer.wait_closed()
    chunked = b"POST /ctp HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    status, answer = await http(edge.port, chunked)
    assert status == 400 and "Transfer-Encoding" in json.loads(answer)["error"]
    status, answer = await http(edge.port, b"POST /ctp HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 400 and "Content-Length" in json.loads(answer)["error"]
    status, answer = await http(edge.port, b"BREW pot HTTP/1.1\r\n\r\n")
    assert status == 400
