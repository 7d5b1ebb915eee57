"""``python -m td_exec`` as a real child process with only the sim venue (for the process-level tests)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from tradebus.bus import Bus, RequestFailed
from tradebus.natsd import free_port
from tradebus.schemas import TRADE_REPLY_DECODER
from tradebus.schemas.orders import CommandDenied, SubmitOrder
from tradebus.subjects import td_cmd

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class TdProcess:
    process: asyncio.subprocess.Process
    health_port: int
    output: bytearray = field(default_factory=bytearray)

    def log_tail(self) -> str:
        return self.output.decode(errors="replace")[-2000:]


async def submit_when_ready(bus: Bus, cmd: SubmitOrder, timeout: float = 20.0) -> object:
    """Retry while the service is starting (no responders) or reconciling; anything else is the answer."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            reply = await bus.request(td_cmd("sim", "SIM-FUT"), cmd, TRADE_REPLY_DECODER, timeout=5)
            if not (isinstance(reply, CommandDenied) and reply.code in {"reconciling", "venue_disconnected"}):
                return reply
        except RequestFailed:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("td_exec did not become ready")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def td_exec_process(nats_url: str, data_dir: Path, extra_env: dict[str, str] | None = None,
                          ) -> AsyncIterator[TdProcess]:
    """Start td_exec (sim venue only), with ``extra_env`` on top; kill it on the way out if the test did not."""
    port = free_port()
    env = {**os.environ, "TRADEBUS_NATS_URL": nats_url, "TRADEBUS_DATA_DIR": str(data_dir),
           "TRADEBUS_LOG_FORMAT": "json", "TRADEBUS_TD_FUTU": "0", "TRADEBUS_TD_CTP": "0", "TRADEBUS_TD_SIM": "1",
           "TRADEBUS_TD_SIM_TICK_S": "0.2",
           # services/ on the path: a checkout whose editable install predates td_exec still runs it
           "PYTHONPATH": os.pathsep.join([str(ROOT / "services"), str(ROOT / "libs"),
                                          os.environ.get("PYTHONPATH", "")]),
           **(extra_env or {})}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "td_exec", "--health-port", str(port), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    running = TdProcess(process, port)

    async def collect() -> None:
        assert process.stdout is not None
        while chunk := await process.stdout.read(4096):
            running.output.extend(chunk)

    collector = asyncio.create_task(collect())
    try:
        yield running
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        with contextlib.suppress(Exception):
            await collector
