"""``python -m opend_sim`` as a real process for restart tests: a trusted device folder (no SMS code),
scenario ``ok``, a fixed API port across restarts, stopped by pid."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from opend_sim.state_dir import trust_device

LOGIN_ACCOUNT = "12345678"
START_TIMEOUT = 20.0


class OpenDProcess:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        trust_device(state_dir)
        self.api_port = 0
        self.proc: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self.lines: list[str] = []

    async def start(self) -> int:
        argv = [sys.executable, "-m", "opend_sim", "-lang=en", f"-api_port={self.api_port}", "-telnet_port=0",
                f"-login_account={LOGIN_ACCOUNT}", "-login_pwd=s3cret-Passw0rd", "--scenario", "ok",
                "--state-dir", str(self.state_dir), "--tick-interval", "60"]
        env = {**os.environ, "OPEND_SIM_SPEED": "20"}
        env.pop("OPEND_SIM_SCENARIO", None)
        self.proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE,
                                                         stdout=asyncio.subprocess.PIPE,
                                                         stderr=asyncio.subprocess.DEVNULL, env=env)
        listening = asyncio.get_running_loop().create_future()
        logged_in = asyncio.get_running_loop().create_future()
        self._drain = asyncio.create_task(self._read(listening, logged_in))
        port = await asyncio.wait_for(listening, START_TIMEOUT)
        await asyncio.wait_for(logged_in, START_TIMEOUT)
        self.api_port = port
        return port

    async def _read(self, listening: asyncio.Future[int], logged_in: asyncio.Future[None]) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while raw := await self.proc.stdout.readline():  # keep draining so the pipe never fills
            line = raw.decode("utf-8", "replace").replace("\r", "").strip(" >\n")
            self.lines.append(line)
            if "API listening address:" in line and not listening.done():
                listening.set_result(int(line.rsplit(":", 1)[1]))
            if "Login successful" in line and not logged_in.done():
                logged_in.set_result(None)

    async def kill(self) -> None:
        """SIGKILL by pid: OpenD dies without a goodbye, as in a crash."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), 10)
        if self._drain is not None:
            self._drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain
        self.proc = None
