"""``python -m fmz_edge`` as a real process: serves on its configured port, stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fmz_harness import http

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_process_serves_and_stops_on_sigterm(nats_server: Any, tmp_path: Path) -> None:
    port = _free_port()
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBUS_")}  # e.g. test switches
    env = {**inherited, "PYTHONPATH": os.pathsep.join([str(ROOT / "services"), str(ROOT / "libs")]),
           "TRADEBUS_NATS_URL": nats_server.url, "TRADEBUS_FMZ_PORT": str(port),
           "TRADEBUS_DATA_DIR": str(tmp_path), "TRADEBUS_LOG_FORMAT": "json"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "fmz_edge", "--health-port", "0", env=env,
                                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        answer: bytes | None = None
        while answer is None:  # poll the port with a deadline: the process owns its start-up time
            assert proc.returncode is None, "fmz_edge exited during start-up"
            try:
                _, answer = await http(port, b"GET /ctp HTTP/1.1\r\nHost: x\r\n\r\n")
            except OSError:
                assert time.monotonic() < deadline, "fmz_edge did not start listening"
                await asyncio.sleep(0.1)
        assert json.loads(answer) == {"error": "not support GET method."}
        _, answer = await http(port, b'POST /ctp HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}')
        assert "missing required parameters" in json.loads(answer)["error"]
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 15)
    code, output = proc.returncode, out.decode()
    assert code == 0, output
    assert "fmz plug-in listening" in output
