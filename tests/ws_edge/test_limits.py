"""Rate limit, failed-login slow-down, token, paths, and the slow-client policy on a real socket."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from ws_harness import Stack, build_stack, close_stack, ws_config


async def test_rate_limit_answers_minus_3(nats_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    stack = await build_stack(nats_server.url, tmp_path, ws_config(rate_per_s=1.0, rate_burst=3))
    try:
        client = await stack.client("/td/")
        for _ in range(5):
            await client.send({"MsgType": "ReqQryOrder", "QryOrder": {}, "RequestID": 1})
        codes = [(await client.recv())["RspInfo"]["ErrorID"] for _ in range(5)]
        assert codes == [-401, -401, -401, -3, -3]
        assert client.raw[-1] == ('{"MsgType":"RspQryOrder","RspInfo":{"ErrorID":-3,'
                                  '"ErrorMsg":"CTP:每秒发送请求数超过许可数"}}')
    finally:
        await close_stack(stack)


async def test_failed_logins_slow_down(stack: Stack) -> None:
    client = await stack.client("/td/")
    elapsed = []
    for _ in range(3):
        started = time.monotonic()
        await client.send({"MsgType": "ReqUserLogin", "ReqUserLogin": {"UserID": "alice", "Password": "bad"}})
        assert (await client.recv())["RspInfo"]["ErrorID"] == 3
        elapsed.append(time.monotonic() - started)
    assert elapsed[2] >= 0.1  # base 0.05 s doubled: the third attempt waits at least 0.1 s
    assert stack.edge.throttle.delay("bob", "127.0.0.1") == 0.2  # per address, whatever the user (capped)
    assert stack.edge.throttle.delay("alice", "10.0.0.9") == 0.0  # never slowed from another address


async def test_token_and_paths(nats_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tradebus.config_sections.base import Secret

    stack = await build_stack(nats_server.url, tmp_path, ws_config(token=Secret("s3cret")))
    try:
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"ws://127.0.0.1:{stack.port}/td/?token=wrong")
        assert refused.value.response.status_code == 403
        ok = await stack.client("/td/", query="?token=s3cret")
        await ok.send({"MsgType": "Pong"})
        await ok.send({"MsgType": "ReqQryOrder", "QryOrder": {}, "RequestID": 1})
        assert (await ok.recv())["RspInfo"]["ErrorID"] == -401
        with pytest.raises(InvalidStatus) as missing:
            await connect(f"ws://127.0.0.1:{stack.port}/ws?token=s3cret")
        assert missing.value.response.status_code == 404
    finally:
        await close_stack(stack)


async def test_slow_client_keeps_latest_tick_and_is_closed_when_orders_pile_up(stack: Stack) -> None:
    client = await stack.login("/md/")
    session = next(s for s in stack.listener.sessions if s.user_name == "alice")
    channel = session.channel
    channel.write_high = 1  # the socket counts as behind from the first byte waiting
    channel.max_frames = 50
    await client.send({"MsgType": "SubscribeMarketData", "InstrumentID": ["rb2601"]})
    # The client stops reading; the edge keeps producing until the kernel buffers are full.
    big = "x" * 60_000
    for i in range(400):
        await stack.md.publish(stack.md.tick("sim", "SHFE", "rb2601", 3000.0 + i % 50))
        if len(channel.ticks) <= 1:
            channel.send(b'{"MsgType":"RtnOrder","RspInfo":null,"Order":{"pad":"' + big.encode() + b'"}}')
        if channel.closed:
            break
    assert len(channel.ticks) <= 1  # market data conflated to the newest tick per instrument
    assert channel.closed and "too slow" in channel.close_reason
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await client.ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
