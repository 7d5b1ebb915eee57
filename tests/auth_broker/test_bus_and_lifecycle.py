"""The broker on the bus (state events, KV, commands, the CLI) and its process lifecycle (lock, SIGTERM)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from broker_harness import SERVICES, VERIFY_CODE, BrokerLauncher, command, watch_states

from tradebus.bus import Bus, last_message
from tradebus.opend_gate import opend_states, wait_connected
from tradebus.schemas import AUTH_DECODER
from tradebus.schemas.auth import AuthState, AuthStateChanged
from tradebus.subjects import auth_state


async def test_states_go_to_stream_and_kv_and_the_gate_follows(brokers: BrokerLauncher, bus: Bus) -> None:
    watch = await watch_states(bus, "t0")
    await brokers.start("sms")
    await watch.wait_for(AuthState.REQUESTING_VERIFY_CODE)
    gate = asyncio.create_task(wait_connected(bus, "t0", timeout=15))
    reply = await command(bus, "t0", "status")
    assert reply.ok and reply.state is AuthState.REQUESTING_VERIFY_CODE and reply.instance == "t0"
    reply = await command(bus, "t0", "verify_code", VERIFY_CODE)
    assert reply.ok and reply.state is AuthState.VERIFYING_CODE
    await gate  # md_ingest / td_exec use exactly this to wait for OpenD
    last = await last_message(bus.js, "AUTH", auth_state("t0"), AUTH_DECODER)
    assert isinstance(last, AuthStateChanged) and last.state is AuthState.CONNECTED
    assert last.previous is AuthState.VERIFYING_CODE and last.reason == "login successful"
    kv = await bus.js.key_value("auth")
    entry = await kv.get("t0")
    assert AUTH_DECODER.decode(entry.value) == last
    ids = [e.event_id for e in watch.events]
    assert len(set(ids)) == len(ids) and all(i.startswith("auth-t0-") for i in ids)


async def test_commands_refuse_what_they_must(brokers: BrokerLauncher, bus: Bus) -> None:
    watch = await watch_states(bus, "t0")
    await brokers.start("sms")
    await watch.wait_for(AuthState.REQUESTING_VERIFY_CODE)
    for code in ("12\r\nexit", "x", "toolongcode12345"):
        reply = await command(bus, "t0", "verify_code", code)
        assert not reply.ok and "invalid code" in reply.error
    reply = await command(bus, "t0", "init")
    assert not reply.ok and "already running" in reply.error
    reply = await command(bus, "t0", "reboot")
    assert not reply.ok and "unknown op" in reply.error
    raw = await bus.nc.request("auth.opend.t0.cmd", b"{garbage", timeout=5)
    assert not AUTH_DECODER.decode(raw.data).ok
    await command(bus, "t0", "verify_code", VERIFY_CODE)
    await watch.wait_for(AuthState.CONNECTED)
    reply = await command(bus, "t0", "verify_code", VERIFY_CODE)
    assert not reply.ok and "already connected" in reply.error


async def test_a_restarted_broker_does_not_leave_a_stale_connected(brokers: BrokerLauncher, bus: Bus,
                                                                  tmp_path: Path) -> None:
    from opend_sim.state_dir import trust_device

    trust_device(tmp_path / "st")
    first = await brokers.start("ok", state_dir=tmp_path / "st", instance="same")
    await wait_connected(bus, "same", timeout=15)
    first.proc.kill()  # a crash: no goodbye event; its OpenD dies with it (PR_SET_PDEATHSIG)
    await first.proc.wait()
    await brokers.start("hang", state_dir=tmp_path / "st", instance="same")
    states = opend_states(bus, "same")
    seen = [await anext(states)]
    while seen[-1] is not AuthState.INITIALIZING:
        seen.append(await asyncio.wait_for(anext(states), 15))
    await states.aclose()
    assert seen[-1] is AuthState.INITIALIZING


async def test_two_brokers_never_share_a_state_folder(brokers: BrokerLauncher, bus: Bus, tmp_path: Path) -> None:
    state = tmp_path / "shared"
    watch = await watch_states(bus, "second")
    first = await brokers.start("sms", state_dir=state, instance="first")
    await first.wait_state("requesting_verify_code")
    second = await brokers.start("sms", state_dir=state, instance="second")
    await watch.wait_for(AuthState.FAILED)
    assert "locked" in watch.events[-1].reason
    assert second.opend_pids() == []
    client = await second.ws()
    assert await client.status() == -2


async def test_sigterm_sends_exit_to_opend_and_stops_it(brokers: BrokerLauncher, bus: Bus) -> None:
    watch = await watch_states(bus, "t0")
    broker = await brokers.start("sms")
    client = await broker.ws()
    await client.expect("REQUEST_CODE")
    [pid] = broker.opend_pids()
    assert await broker.terminate() == 0
    await client.expect("CLOSED")  # clients hear that OpenD is gone before the server closes
    assert broker.alive_opend_pids() == []
    # OpenD was asked to exit (its own goodbye line), not killed.
    assert any(e.get("line") == "Futu OpenD exited" for e in broker.log_events())
    assert not any(e.get("event") == "opend did not exit; sending signal" for e in broker.log_events())
    await watch.wait_for(AuthState.CLOSED)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def _healthz(port: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
    status = int((await reader.readline()).split()[1])
    writer.close()
    return status


async def test_health_is_ok_while_waiting_for_a_code_and_503_when_halted(brokers: BrokerLauncher,
                                                                        bus: Bus) -> None:
    from tradebus.natsd import free_port

    port = free_port()
    waiting = await brokers.start("sms", health_port=port)
    await waiting.wait_state("requesting_verify_code")
    await waiting.wait_log(lambda e: e.get("event") == "service started")
    assert await _healthz(port) == 200
    await waiting.terminate()
    halted = await brokers.start("fail_password", health_port=port)
    await halted.wait_state("failed")
    assert await _healthz(port) == 503


async def _cli(nats_url: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SERVICES), os.environ.get("PYTHONPATH", "")])}
    env = {k: v for k, v in env.items() if not k.startswith("TRADEBUS_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tradebus", "verify-code", *args, "--nats-url", nats_url, "--instance", "t0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_cli_verify_code_finishes_the_login(brokers: BrokerLauncher, bus: Bus, nats_server) -> None:  # type: ignore[no-untyped-def]
    watch = await watch_states(bus, "t0")
    await brokers.start("sms_wrong_reprompt", auth={"init_on_start": False})
    code, out, _ = await _cli(nats_server.url, "status")
    assert code == 1 and "origin (STATUS -1)" in out
    code, out, _ = await _cli(nats_server.url, "init")
    assert code == 0
    await watch.wait_for(AuthState.REQUESTING_VERIFY_CODE)
    code, out, err = await _cli(nats_server.url, "000000")
    assert code == 1 and "requesting_verify_code" in out, (out, err)
    code, out, err = await _cli(nats_server.url, "12;rm")
    assert code == 1 and "invalid code" in err
    code, out, err = await _cli(nats_server.url, VERIFY_CODE)
    assert code == 0 and "connected (STATUS 3)" in out, (out, err)
    code, out, _ = await _cli(nats_server.url, "status")
    assert code == 0


async def test_cli_without_a_broker_says_so(nats_server) -> None:  # type: ignore[no-untyped-def]
    code, _, err = await _cli(nats_server.url, "status")
    assert code == 3 and "no auth_broker answered" in err
