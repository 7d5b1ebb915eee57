"""The broker against opend_sim in every login scenario it plays, seen by ostai WebSocket clients and on
the bus at once (each test watches ``auth.opend.<instance>.state`` too). Codes go in over the WebSocket
or over the bus (``auth.opend.<instance>.cmd``), as parametrised.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from broker_harness import VERIFY_CODE, BrokerLauncher, BrokerProcess, WsClient, command, watch_states

from opend_sim.state_dir import device_file, trust_device
from tradebus.bus import Bus
from tradebus.schemas.auth import AuthState


async def give_code(via: str, broker: BrokerProcess, client: WsClient, bus: Bus, code: str) -> None:
    if via == "ws":
        await client.send({"type": "VERIFY_CODE", "code": code})
    else:
        reply = await command(bus, broker.instance, "verify_code", code)
        assert reply.ok, reply.error


@pytest.mark.parametrize("via", ["ws", "bus"])
async def test_sms_code_requested_given_connected(brokers: BrokerLauncher, bus: Bus, via: str) -> None:
    watch = await watch_states(bus, "t0")
    broker = await brokers.start("sms")
    client = await broker.ws()
    # A client that connects before OpenD has prompted first sees the state of that moment (CLOSED
    # while OpenD starts), then REQUEST_CODE when the prompt comes.
    await client.expect("REQUEST_CODE")
    assert await client.status() == 1
    # The broker asks OpenD for the SMS itself, as OpenD's tip ("req_phone_verify_code") says to.
    await broker.wait_log(lambda e: e.get("command") == "req_phone_verify_code", what="SMS request")
    await give_code(via, broker, client, bus, VERIFY_CODE)
    await client.expect("CONNECTED")
    assert await client.status() == 3
    await watch.wait_for(AuthState.CONNECTED)
    assert watch.states == [AuthState.ORIGIN, AuthState.INITIALIZING, AuthState.REQUESTING_VERIFY_CODE,
                            AuthState.VERIFYING_CODE, AuthState.CONNECTED]


async def test_byte_exact_frames_and_late_joiners(brokers: BrokerLauncher) -> None:
    broker = await brokers.start("sms")
    early = await broker.ws()
    await early.expect("REQUEST_CODE")
    late = await broker.ws()  # joins while a code is wanted: gets REQUEST_CODE unicast
    assert await late.next() == {"type": "REQUEST_CODE"}
    await late.send({"type": "STATUS"})
    await late.expect("STATUS")
    assert late.frames == ['{"type":"REQUEST_CODE"}', '{"type":"STATUS","status":1}']
    await early.send({"type": "VERIFY_CODE", "code": VERIFY_CODE})
    for client in (early, late):
        await client.expect("CONNECTED")
    after = await broker.ws()  # joins while connected: gets CONNECTED unicast
    assert await after.next() == {"type": "CONNECTED"}
    assert after.frames == ['{"type":"CONNECTED"}']


async def test_several_clients_each_get_every_broadcast(brokers: BrokerLauncher) -> None:
    broker = await brokers.start("sms", auth={"init_on_start": False})
    clients = [await broker.ws() for _ in range(3)]
    assert [await c.status() for c in clients] == [-1, -1, -1]
    await clients[1].send({"type": "INIT"})
    for client in clients:
        await client.expect("REQUEST_CODE")
    await clients[2].send({"type": "VERIFY_CODE", "code": VERIFY_CODE})
    for client in clients:
        await client.expect("CONNECTED")
    await clients[0].close()  # a closed client is forgotten; the others still get answers
    assert await clients[1].status() == 3
    await broker.wait_log(lambda e: e.get("event") == "websocket client gone" and e.get("clients") == 2)


async def test_ok_with_trusted_device_connects_without_code(brokers: BrokerLauncher, bus: Bus,
                                                           tmp_path: Path) -> None:
    state = tmp_path / "trusted"
    trust_device(state)
    watch = await watch_states(bus, "t0")
    broker = await brokers.start("ok", state_dir=state)
    client = await broker.ws()
    await client.expect("CONNECTED")
    await watch.wait_for(AuthState.CONNECTED)
    assert AuthState.REQUESTING_VERIFY_CODE not in watch.states


async def test_ok_on_a_new_device_asks_for_the_sms_first(brokers: BrokerLauncher) -> None:
    broker = await brokers.start("ok")
    client = await broker.ws()
    await client.expect("REQUEST_CODE")
    await client.send({"type": "VERIFY_CODE", "code": VERIFY_CODE})
    await client.expect("CONNECTED")
    assert device_file(broker.state_dir).exists()


async def test_sms_auto_in_chinese(brokers: BrokerLauncher) -> None:
    broker = await brokers.start("sms_auto", lang="chs")
    client = await broker.ws()
    await client.expect("REQUEST_CODE")
    await client.send({"type": "VERIFY_CODE", "code": VERIFY_CODE})
    await client.expect("CONNECTED")
    # OpenD sent the SMS itself: no request of ours was needed.
    assert not any(e.get("command") == "req_phone_verify_code" for e in broker.log_events())


@pytest.mark.parametrize("via", ["ws", "bus"])
async def test_wrong_code_with_reprompt_asks_again(brokers: BrokerLauncher, bus: Bus, via: str) -> None:
    broker = await brokers.start("sms_wrong_reprompt")
    client = await broker.ws()
    await client.expect("REQUEST_CODE")
    await give_code(via, broker, client, bus, "000000")
    await client.expect("REQUEST_CODE")
    assert await client.status() == 1
    await give_code(via, broker, client, bus, VERIFY_CODE)
    await client.expect("CONNECTED")


@pytest.mark.parametrize("via", ["ws", "bus"])
async def test_wrong_code_without_reprompt_is_rearmed(brokers: BrokerLauncher, bus: Bus, via: str) -> None:
    """ostai stayed at STATUS 2 forever here and dropped every later code.

    See docs/auth_broker.md, 'ostai's own behaviour'."""
    broker = await brokers.start("sms_wrong_silent")
    client = await broker.ws()
    await client.expect("REQUEST_CODE")
    await give_code(via, broker, client, bus, "000000")
    await client.expect("REQUEST_CODE")
    assert await client.status() == 1
    await give_code(via, broker, client, bus, VERIFY_CODE)
    await client.expect("CONNECTED")


async def test_code_sent_while_verifying_is_queued_not_dropped(brokers: BrokerLauncher) -> None:
    broker = await brokers.start("sms_wrong_silent")
    client = await broker.ws()
    await client.expect("REQUEST_CODE")
    await client.send({"type": "VERIFY_CODE", "code": "000000"})
    await client.send({"type": "VERIFY_CODE", "code": VERIFY_CODE})  # arrives while the first is verified
    await client.expect("CONNECTED")
    assert client.messages.count({"type": "REQUEST_CODE"}) == 1  # the queued code answered the re-prompt


async def test_code_sent_before_the_prompt_is_used_without_request_code(brokers: BrokerLauncher) -> None:
    broker = await brokers.start("sms")
    client = await broker.ws()
    await client.send({"type": "VERIFY_CODE", "code": VERIFY_CODE})  # OpenD is still starting
    await client.expect("CONNECTED")
    assert {"type": "REQUEST_CODE"} not in client.messages


async def test_code_sent_before_init_is_used_after_init(brokers: BrokerLauncher) -> None:
    """Kael's "send verify code before init" (FUTU_INIT_ON_START=no)."""
    broker = await brokers.start("sms", env={"FUTU_INIT_ON_START": "no"})
    client = await broker.ws()
    assert await client.status() == -1
    await client.send({"type": "VERIFY_CODE", "code": VERIFY_CODE})
    await client.send({"type": "INIT"})
    await client.expect("CONNECTED")
    assert {"type": "REQUEST_CODE"} not in client.messages
    await client.send({"type": "INIT"})  # repeated INIT while running: ignored, one OpenD only
    assert await client.status() == 3
    assert len(broker.opend_pids()) == 1


async def test_sms_rate_limited_request_is_retried_after_the_window(brokers: BrokerLauncher) -> None:
    broker = await brokers.start("sms_rate_limited")
    client = await broker.ws()
    await client.expect("REQUEST_CODE")
    # OpenD refused its own SMS request; the broker asks again once OpenD's window allows.
    await broker.wait_log(lambda e: "requested successfully" in str(e.get("line", "")), what="SMS sent")
    await client.send({"type": "VERIFY_CODE", "code": VERIFY_CODE})
    await client.expect("CONNECTED")


async def test_picture_code_extension(brokers: BrokerLauncher) -> None:
    broker = await brokers.start("pic_then_sms", auth={"pic_codes": True})
    client = await broker.ws()
    first = await client.expect("REQUEST_PIC_CODE")
    assert first["pic_verify_code_path"].endswith("F3CNN/PicVerifyCode.png")
    assert await client.status() == 4
    await client.send({"type": "VERIFY_PIC_CODE", "code": "9999"})
    await client.expect("REQUEST_PIC_CODE")
    await client.send({"type": "VERIFY_PIC_CODE", "code": "1234"})
    await client.expect("REQUEST_CODE")
    await client.send({"type": "VERIFY_CODE", "code": VERIFY_CODE})
    await client.expect("CONNECTED")


async def test_picture_code_without_extension_stays_ostai_and_bus_can_answer(brokers: BrokerLauncher,
                                                                            bus: Bus) -> None:
    watch = await watch_states(bus, "t0")
    broker = await brokers.start("pic_then_sms")
    client = await broker.ws()
    await watch.wait_for(AuthState.REQUESTING_PIC_CODE)
    assert await client.status() == 0  # no new numbers in ostai's default flow
    reply = await command(bus, "t0", "verify_code", "1234")  # on the bus: the code OpenD asks for
    assert reply.ok, reply.error
    await client.expect("REQUEST_CODE")
    await client.send({"type": "VERIFY_CODE", "code": VERIFY_CODE})
    await client.expect("CONNECTED")
    assert all(m["type"] != "REQUEST_PIC_CODE" for m in client.messages)


@pytest.mark.parametrize("scenario", ["fail_password", "fail_moomoo_id", "disclaimer"])
async def test_fatal_failure_stops_without_restart_until_init(brokers: BrokerLauncher, bus: Bus,
                                                             scenario: str, tmp_path: Path) -> None:
    state = tmp_path / "st"
    trust_device(state)
    watch = await watch_states(bus, "t0")
    broker = await brokers.start(scenario, state_dir=state)
    client = await broker.ws()
    await client.expect("CLOSED")
    await watch.wait_for(AuthState.FAILED)
    assert await client.status() == -2
    # No restart storm: the backoff would have respawned it several times by now.
    await asyncio.sleep(1.5)  # a window in which a (wrong) restart would have happened
    assert len(broker.opend_pids()) == 1
    assert watch.states.count(AuthState.INITIALIZING) == 1
    await client.send({"type": "INIT"})  # an operator fixed it: start again
    await watch.wait_for(AuthState.INITIALIZING, 2)
    assert len(broker.opend_pids()) == 2


async def test_network_failure_restarts_at_once_then_with_growing_backoff(brokers: BrokerLauncher, bus: Bus) -> None:
    watch = await watch_states(bus, "t0")
    broker = await brokers.start("fail_network", lang="chs", auth={"max_quick_exits": 6})
    client = await broker.ws()
    await watch.wait_for(AuthState.INITIALIZING, 5, timeout=25)
    assert client.messages.count({"type": "CLOSED"}) >= 4
    delays = [e["in_s"] for e in broker.log_events() if e.get("event") == "opend restart scheduled"]
    assert delays[:4] == [0.0, 0.0, 0.3, 0.6], delays  # instant_restarts (2) at once, then the backoff
    assert AuthState.FAILED not in watch.states


async def test_crash_after_login_and_stale_code_do_not_deadlock(brokers: BrokerLauncher, bus: Bus) -> None:
    """A code sent while CONNECTED must not be kept for the next OpenD (ostai deadlock).

    See docs/auth_broker.md, 'ostai's own behaviour'."""
    watch = await watch_states(bus, "t0")
    broker = await brokers.start("crash_after_ok", env={"OPEND_SIM_SPEED": "3"})  # crash 1 s after login
    client = await broker.ws()
    await client.expect("REQUEST_CODE")
    await client.send({"type": "VERIFY_CODE", "code": VERIFY_CODE})
    await client.expect("CONNECTED")
    await client.send({"type": "VERIFY_CODE", "code": "111111"})  # stale: ignored, not buffered
    device_file(broker.state_dir).unlink()  # the next login needs a code again
    await client.expect("CLOSED")
    await client.expect("REQUEST_CODE")  # the restarted OpenD asks, and clients are told
    assert await client.status() == 1
    late = await broker.ws()
    assert await late.next() == {"type": "REQUEST_CODE"}
    await client.send({"type": "VERIFY_CODE", "code": VERIFY_CODE})
    await client.expect("CONNECTED")
    await watch.wait_for(AuthState.CONNECTED, 2)
    assert AuthState.CLOSED in watch.states
    assert len(broker.opend_pids()) == 2


async def test_forced_logout_after_connected_is_noticed(brokers: BrokerLauncher, bus: Bus, tmp_path: Path) -> None:
    state = tmp_path / "st"
    trust_device(state)
    watch = await watch_states(bus, "t0")
    broker = await brokers.start("force_logout", state_dir=state)
    client = await broker.ws()
    await client.expect("CONNECTED")
    await client.expect("REQUEST_CODE")  # OpenD was logged out and asks again
    assert await client.status() == 1
    await client.send({"type": "VERIFY_CODE", "code": VERIFY_CODE})
    await client.expect("CONNECTED")
    await watch.wait_for(AuthState.CONNECTED, 2)
    assert len(broker.opend_pids()) == 1  # the same OpenD all along


async def test_hang_is_restarted_after_the_start_timeout(brokers: BrokerLauncher, bus: Bus) -> None:
    watch = await watch_states(bus, "t0")
    broker = await brokers.start("hang", auth={"start_timeout_s": 1.0})
    await watch.wait_for(AuthState.CLOSED, timeout=10)
    await watch.wait_for(AuthState.INITIALIZING, 2)
    assert any(e.get("event") == "opend gave no login result in time; restarting it" for e in broker.log_events())


async def test_exit_immediately_is_a_crash_loop_that_stops(brokers: BrokerLauncher, bus: Bus) -> None:
    watch = await watch_states(bus, "t0")
    broker = await brokers.start("exit_immediately", auth={"max_quick_exits": 3})
    client = await broker.ws()
    await watch.wait_for(AuthState.FAILED, timeout=15)
    assert watch.states.count(AuthState.INITIALIZING) == 3
    assert await client.status() == -2
    await asyncio.sleep(1.0)  # a window in which a (wrong) further restart would have happened
    assert len(broker.opend_pids()) == 3
    reply = await command(bus, "t0", "init")
    assert reply.ok
    await watch.wait_for(AuthState.INITIALIZING, 4)


async def test_without_supervision_a_crash_waits_for_init(brokers: BrokerLauncher, tmp_path: Path) -> None:
    state = tmp_path / "st"
    trust_device(state)
    broker = await brokers.start("crash_after_ok", state_dir=state, env={"FUTU_SUPERVISE_PROCESS": "no"})
    client = await broker.ws()
    await client.expect("CONNECTED")
    await client.expect("CLOSED")
    assert await client.status() == -2
    await asyncio.sleep(1.0)  # a window in which a (wrong) restart would have happened
    assert len(broker.opend_pids()) == 1
    await client.send({"type": "INIT"})
    await client.expect("CONNECTED")


async def test_codes_can_go_over_opends_telnet_port(brokers: BrokerLauncher) -> None:
    broker = await brokers.start("sms_auto", auth={"code_channel": "telnet"})
    client = await broker.ws()
    await client.expect("REQUEST_CODE")
    await client.send({"type": "VERIFY_CODE", "code": VERIFY_CODE})
    await client.expect("CONNECTED")
    sent = await broker.wait_log(lambda e: e.get("event") == "command sent to opend over telnet")
    assert sent["command"] == "input_phone_verify_code -code=***"
    assert not any(e.get("event") == "command typed at opend console" for e in broker.log_events())
    assert VERIFY_CODE not in broker.log_text()
