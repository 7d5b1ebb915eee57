"""One tradebus service as a real child process (``python -m <service>``), its JSON log captured.

Used by the edge security tests: they attack the service over its real socket, then read what the
service itself printed. Every line must be one of the service's own JSON log records — a line that
does not parse, or parses as a record of another service, is a forged line. Stopped by pid.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from tradebus.natsd import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ServiceProcess:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path
    health_port: int

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def records(self) -> list[dict[str, Any]]:
        """Every line the process printed, each parsed as its JSON log record (asserts that it is one)."""
        records = []
        for number, line in enumerate(self.output().splitlines(), 1):
            try:
                record = json.loads(line)
            except ValueError:
                raise AssertionError(f"{self.name} log line {number} is not a JSON record: {line!r}") from None
            assert isinstance(record, dict) and record.get("service") == self.name and "event" in record, \
                f"{self.name} log line {number} is not one of its records: {line!r}"
            records.append(record)
        return records

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), 15)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()


def service_env(nats_url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBUS_")}
    return {**inherited, "PYTHONPATH": os.pathsep.join([str(ROOT / "services"), str(ROOT / "libs")]),
            "TRADEBUS_NATS_URL": nats_url, "TRADEBUS_DATA_DIR": str(data_dir), "TRADEBUS_LOG_FORMAT": "json",
            **settings}


def _create(path: Path) -> BinaryIO:
    return path.open("wb")


async def start_service(name: str, env: dict[str, str], work_dir: Path,
                        ready: Callable[[], Awaitable[bool]] | None = None, timeout: float = 30) -> ServiceProcess:
    """Start ``python -m <name>`` and poll ``ready`` (default: its /healthz) with a deadline until it serves."""
    health_port = free_port()
    log_path = work_dir / f"{name}.log"
    log_file = _create(log_path)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", name, "--health-port", str(health_port), env=env, cwd=work_dir,
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
    finally:
        log_file.close()  # the child holds its own descriptor
    service = ServiceProcess(name, process, log_path, health_port)
    deadline = time.monotonic() + timeout
    if ready is None:
        ready = lambda: asyncio.to_thread(service.healthy)  # noqa: E731
    while not await ready():  # polling another process's start-up, bounded by the deadline
        if process.returncode is not None or time.monotonic() > deadline:
            await service.stop()
            raise AssertionError(f"{name} did not start:\n{service.output()[-3000:]}")
        await asyncio.sleep(0.1)
    return service


async def port_open(port: int) -> bool:
    """Something accepts connections on 127.0.0.1:``port`` (a readiness probe for ``start_service``)."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


async def start_sim_td_exec(nats_url: str, data_dir: Path) -> ServiceProcess:
    """``python -m td_exec`` with only its in-process ``sim`` venue (accounts SIM-FUT, SIM-HK, SIM-US)."""
    env = service_env(nats_url, data_dir, TRADEBUS_TD_SIM="1", TRADEBUS_TD_FUTU="0", TRADEBUS_TD_CTP="0",
                      TRADEBUS_TD_SIM_TICK_S="0")
    return await start_service("td_exec", env, data_dir)


async def stop_and_check_logs(services: list[ServiceProcess]) -> None:
    """Stop in reverse order; each exits 0, and every line each printed is one of its own records
    with no error among them (a fuzzed input that raised inside a service logs an error)."""
    codes = [await service.stop() for service in reversed(services)]
    assert codes == [0] * len(services), codes
    for service in services:
        errors = [r for r in service.records() if r["level"] == "error"]
        assert not errors, f"{service.name} logged errors: {errors[:3]}"
