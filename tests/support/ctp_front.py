"""A real ``python -m ctp_sim`` front process for tests, on given or free ports; stopped by pid."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

WAIT = 15.0


class CtpFront:
    def __init__(self, state_dir: Path, *extra: str, td_port: int = 0, md_port: int = 0, seed: int = 11) -> None:
        self.state_dir = state_dir
        self.args = [sys.executable, "-m", "ctp_sim", "--host", "127.0.0.1", "--state-dir", str(state_dir),
                     "--tick-interval", "0.1", "--seed", str(seed), *extra]
        self.td_port, self.md_port = td_port, md_port
        self.proc: subprocess.Popen[str] | None = None
        self.trading_day = ""

    def start(self) -> CtpFront:
        """Start and wait for the ``ctp_sim ready`` line, which names the bound ports."""
        args = [*self.args, "--td-port", str(self.td_port), "--md-port", str(self.md_port)]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        lines: queue.Queue[str] = queue.Queue()
        stdout = self.proc.stdout
        assert stdout is not None
        threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
        line = lines.get(timeout=WAIT)
        assert line.startswith("ctp_sim ready"), line
        info = dict(part.split("=", 1) for part in line.split()[2:])
        self.td_port, self.md_port = int(info["td_port"]), int(info["md_port"])
        self.trading_day = info["trading_day"]
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=WAIT)
        self.proc = None

    @property
    def td(self) -> str:
        return f"sim://127.0.0.1:{self.td_port}"

    @property
    def md(self) -> str:
        return f"sim://127.0.0.1:{self.md_port}"


@pytest.fixture
def front(tmp_path: Path) -> Iterator[CtpFront]:
    """A ctp_sim front process for the test (state under ``tmp_path/state``), stopped by pid."""
    proc = CtpFront(tmp_path / "state").start()
    try:
        yield proc
    finally:
        proc.stop()
