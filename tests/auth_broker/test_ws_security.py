"""Hostile or careless WebSocket clients: bad frames, injection, oversized frames, floods, tokens, secrets."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket

import pytest
import websockets
from broker_harness import ACCOUNT, PASSWORD_MD5, VERIFY_CODE, BrokerLauncher
from websockets.exceptions import InvalidStatus


async def test_malformed_frames_are_ignored_and_logged(brokers: BrokerLauncher) -> None:
    broker = await brokers.start("sms")
    client = await broker.ws()
    await client.expect("REQUEST_CODE")
    for frame in ("{not json", "[1,2,3]", '"STATUS"', "{}", '{"type":42}', '{"type":"NOPE"}', b"\xff\xfe\x00",
                  '{"type":"VERIFY_CODE"}', '{"type":"VERIFY_CODE","code":null}', "[" * 3000):
        await client.send(frame)
    assert await client.status() == 1  # still alive, still in the same state, same connection
    ignored = [e for e in broker.log_events() if e.get("event", "").startswith("websocket") and "ignored" in e["event"]]
    assert len(ignored) >= 7
    await client.send({"type": "VERIFY_CODE", "code": VERIFY_CODE})
    await client.expect("CONNECTED")


@pytest.mark.parametrize("code", ["123456\rexit", "123456\nexit", "12 34", "12345678901234567", "1;exit", "",
                                  "-code=1", "12"])
async def test_injection_and_malformed_codes_never_reach_opend(brokers: BrokerLauncher, code: str) -> None:
    broker = await brokers.start("sms")
    client = await broker.ws()
    await client.expect("REQUEST_CODE")
    await client.send({"type": "VERIFY_CODE", "code": code})
    assert await client.status() == 1  # refused: nothing was typed, OpenD did not exit
    assert not any(e.get("event") == "command typed at opend console" and "input_phone" in e.get("command", "")
                   for e in broker.log_events())
    await broker.wait_log(lambda e: e.get("event") == "verify code not used", what="refusal logged")
    assert broker.proc.returncode is None and len(broker.alive_opend_pids()) == 1


async def test_oversized_frame_closes_only_that_client(brokers: BrokerLauncher) -> None:
    broker = await brokers.start("sms", auth={"ws_max_frame": 1024})
    big, small = await broker.ws(), await broker.ws()
    await big.expect("REQUEST_CODE")
    await big.send(json.dumps({"type": "STATUS", "pad": "x" * 5000}))
    await asyncio.wait_for(big.conn.wait_closed(), 5)
    assert big.conn.close_code == 1009  # "message too big"
    await broker.wait_log(lambda e: e.get("event") == "websocket client sent an oversized frame; closed")
    assert await small.status() == 1


async def test_a_flood_from_one_client_is_limited(brokers: BrokerLauncher) -> None:
    broker = await brokers.start("sms", auth={"ws_rate_per_s": 5.0, "ws_burst": 10})
    flooder, other = await broker.ws(), await broker.ws()
    await flooder.expect("REQUEST_CODE")
    for _ in range(60):
        await flooder.send({"type": "STATUS"})
    assert await other.status() == 1  # the other client is served meanwhile
    await broker.wait_log(lambda e: e.get("event", "").startswith("websocket client over its frame rate"))
    await asyncio.sleep(0.5)  # let the flooder's frames all be read (answers are what we count)
    answered = sum(1 for m in flooder.messages if m["type"] == "STATUS")
    assert 10 <= answered < 30, answered


async def test_token_is_required_when_configured(brokers: BrokerLauncher) -> None:
    broker = await brokers.start("sms", auth={"token": "s3cr3t-tok"})
    for path in ("/", "/?token=wrong", "/?tok=s3cr3t-tok"):
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(f"ws://127.0.0.1:{broker.ws_port}{path}", open_timeout=5)
        assert refused.value.response.status_code == 401
    client = await broker.ws("/?token=s3cr3t-tok")
    await client.expect("REQUEST_CODE")
    assert "s3cr3t-tok" not in broker.log_text()


async def test_non_loopback_without_token_refuses_to_start(brokers: BrokerLauncher) -> None:
    broker = await brokers.start("ok", auth={"ws_host": "0.0.0.0"}, wait_ws=False)
    assert await asyncio.wait_for(broker.proc.wait(), 30) == 2
    lines = broker.log_text().strip().splitlines()
    assert lines == ["tradebus: configuration error: auth: ws_host '0.0.0.0' is not a loopback address: set "
                     "auth.token (TRADEBUS_AUTH_TOKEN, at least 16 characters) so clients must connect with "
                     "?token=…, or bind ws_host to 127.0.0.1"]
    assert broker.alive_opend_pids() == []
    short = await brokers.start("ok", auth={"ws_host": "0.0.0.0", "token": "short"}, wait_ws=False)
    assert await asyncio.wait_for(short.proc.wait(), 30) == 2


def _outside_address() -> str | None:
    """This machine's address on its network (not loopback), or None when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 9))  # no packet is sent: this only picks the outgoing interface
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


async def test_non_loopback_listener_refuses_anonymous_clients(brokers: BrokerLauncher) -> None:
    outside = _outside_address()
    if outside is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    token = "tok-0123456789abcdef"
    broker = await brokers.start("sms", auth={"ws_host": "0.0.0.0", "token": token})
    for path in ("/", "/?token=", "/?token=tok-0123456789abcdeX", f"/?tok={token}"):
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(f"ws://{outside}:{broker.ws_port}{path}", open_timeout=5)
        assert refused.value.response.status_code == 401
    assert broker.states().count("CONNECTED") == 0
    conn = await websockets.connect(f"ws://{outside}:{broker.ws_port}/?token={token}", open_timeout=5)
    try:
        assert json.loads(await asyncio.wait_for(conn.recv(), 30)) == {"type": "REQUEST_CODE"}
    finally:
        await conn.close()
    assert token not in broker.log_text()


async def test_binds_loopback_by_default(brokers: BrokerLauncher) -> None:
    broker = await brokers.start("ok")
    event = await broker.wait_log(lambda e: e.get("event") == "websocket listening")
    assert event["host"] == "127.0.0.1"


async def test_no_code_password_or_md5_in_logs(brokers: BrokerLauncher) -> None:
    plain = "Plain-Passw0rd-77"
    broker = await brokers.start("sms_wrong_reprompt", env={"FUTU_LOGIN_PWD": plain, "FUTU_LOGIN_PWD_MD5": ""})
    client = await broker.ws()
    await client.expect("REQUEST_CODE")
    await client.send({"type": "VERIFY_CODE", "code": "Wr0ngC0de"})
    await client.expect("REQUEST_CODE")
    await client.send({"type": "VERIFY_CODE", "code": VERIFY_CODE})
    await client.expect("CONNECTED")
    assert await broker.terminate() == 0
    text = broker.log_text()
    md5 = hashlib.md5(plain.encode()).hexdigest()
    for secret in (VERIFY_CODE, "Wr0ngC0de", plain, md5, PASSWORD_MD5, "123456"):
        assert secret not in text, secret
    assert ACCOUNT in text  # the log is not simply empty: the account (not a secret) is there
    assert "input_phone_verify_code -code=***" in text
