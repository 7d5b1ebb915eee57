from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from local_http import http_get
from polling import until_async

from tradebus.bus import Bus
from tradebus.natsd import free_port
from tradebus.schemas import SYSTEM_DECODER

HERE = Path(__file__).parent


class Proc:
    def __init__(self, process: asyncio.subprocess.Process, health_port: int) -> None:
        self.process = process
        self.health_port = health_port
        self.output = bytearray()

    async def collect(self) -> None:
        assert self.process.stdout is not None
        while chunk := await self.process.stdout.read(4096):
            self.output += chunk


async def _healthy(port: int) -> tuple[int, bytes] | None:
    status, body = await http_get(port, "/healthz")
    return (status, body) if status == 200 else None


@pytest.fixture
async def example(nats_server, tmp_path: Path) -> AsyncIterator[Proc]:  # type: ignore[no-untyped-def]
    port = free_port()
    env = {**os.environ, "TRADEBUS_NATS_URL": nats_server.url, "TRADEBUS_RUNTIME_HEARTBEAT_S": "0.2",
           "TRADEBUS_DATA_DIR": str(tmp_path), "TRADEBUS_LOG_FORMAT": "json",
           "EXAMPLE_STOP_DELAY": os.environ.get("EXAMPLE_STOP_DELAY", "0")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "example_service.py"), "--health-port", str(port), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    proc = Proc(process, port)
    collector = asyncio.create_task(proc.collect())
    try:
        yield proc
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await collector


async def test_service_serves_healthz_metrics_and_heartbeats(example: Proc, bus: Bus) -> None:
    status, body = await until_async(lambda: _healthy(example.health_port), 10, "healthy", ignore=(OSError,))
    beat = SYSTEM_DECODER.decode(body)
    assert status == 200 and beat.service == "example" and beat.checks == {"nats": "ok", "venue": "ok"}

    reply = await bus.nc.request("example.echo", b"ping", timeout=5)
    assert reply.data == b"ping"
    _status, metrics = await http_get(example.health_port, "/metrics")
    assert b"tradebus_echo_requests_total 1" in metrics
    assert b"tradebus_nats_connected 1" in metrics

    sub = await bus.nc.subscribe("sys.health.example")
    first = SYSTEM_DECODER.decode((await sub.next_msg(timeout=5)).data)
    second = SYSTEM_DECODER.decode((await sub.next_msg(timeout=5)).data)
    assert first.pid == example.process.pid and second.ts_event > first.ts_event
    assert (await http_get(example.health_port, "/nope"))[0] == 404


async def test_failing_check_turns_health_degraded_and_503(example: Proc, bus: Bus) -> None:
    await until_async(lambda: _healthy(example.health_port), 10, "healthy", ignore=(OSError,))
    await bus.nc.request("example.break", b"", timeout=5)
    status, body = await http_get(example.health_port, "/healthz")
    beat = SYSTEM_DECODER.decode(body)
    assert status == 503 and beat.state == "degraded" and beat.checks["venue"] == "down: test asked"


async def test_sigterm_stops_the_service_cleanly_and_logs_no_secret(example: Proc, bus: Bus) -> None:
    await until_async(lambda: _healthy(example.health_port), 10, "healthy", ignore=(OSError,))
    await bus.nc.request("example.echo", b"x", timeout=5)
    started = time.monotonic()
    example.process.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(example.process.wait(), 10)
    assert code == 0 and time.monotonic() - started < 10
    await asyncio.sleep(0)  # let the collector read the last bytes
    lines = [json.loads(line) for line in example.output.decode().splitlines() if line.startswith("{")]
    events = [line["event"] for line in lines]
    assert "service started" in events and events[-1] == "service stopped"
    assert all(line["service"] == "example" for line in lines)
    assert b"must-not-appear-0451" not in example.output


@pytest.mark.parametrize("delay", ["30"])
async def test_stop_that_hangs_is_cut_at_the_budget(nats_server, tmp_path: Path, delay: str,  # type: ignore[no-untyped-def]
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    env = {**os.environ, "TRADEBUS_NATS_URL": nats_server.url, "TRADEBUS_DATA_DIR": str(tmp_path),
           "TRADEBUS_RUNTIME_STOP_TIMEOUT_S": "3", "EXAMPLE_STOP_DELAY": delay}
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "example_service.py"), "--health-port", str(port), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await until_async(lambda: _healthy(port), 10, "healthy", ignore=(OSError,))
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 10)
        assert time.monotonic() - started < 4.5
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_service_waits_for_nats_then_connects(tmp_path: Path) -> None:
    from tradebus.natsd import NatsServer

    server = NatsServer(store_dir=tmp_path / "js", port=free_port())
    port = free_port()
    env = {**os.environ, "TRADEBUS_NATS_URL": server.url, "TRADEBUS_DATA_DIR": str(tmp_path)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "example_service.py"), "--health-port", str(port), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        status, body = await until_async(lambda: http_get(port, "/healthz"), 10, "/healthz answers", ignore=(OSError,))
        assert status == 503 and SYSTEM_DECODER.decode(body).state == "starting"
        await asyncio.to_thread(server.start)

        await until_async(lambda: _healthy(port), 15, "healthy", ignore=(OSError,))
    finally:
        process.kill()
        await process.wait()
        server.stop()


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
async def test_log_stream_setting_picks_where_json_lines_go(nats_server, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                            stream: str) -> None:
    """``[log] stream`` (compose sets stdout): every log line on that stream, none on the other."""
    port = free_port()
    env = {**os.environ, "TRADEBUS_NATS_URL": nats_server.url, "TRADEBUS_DATA_DIR": str(tmp_path),
           "TRADEBUS_LOG_FORMAT": "json", "TRADEBUS_LOG_STREAM": stream, "EXAMPLE_STOP_DELAY": "0"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "example_service.py"), "--health-port", str(port), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await until_async(lambda: _healthy(port), 10, "healthy", ignore=(OSError,))
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), 10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    logged, other = (out, err) if stream == "stdout" else (err, out)
    events = [json.loads(line)["event"] for line in logged.decode().splitlines()]
    assert "service started" in events and events[-1] == "service stopped"
    assert other == b""


def test_a_log_stream_that_is_not_stdout_or_stderr_is_a_config_error(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(HERE / "example_service.py"), "--health-port", "0"],
                            env={**os.environ, "TRADEBUS_LOG_STREAM": "syslog", "TRADEBUS_DATA_DIR": str(tmp_path)},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "log.stream: expected stderr or stdout" in result.stderr
