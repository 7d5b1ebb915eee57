"""The ostai README's JavaScript client (Node + the ``ws`` package from npm) logs OpenD in through the broker.

Skipped only when ``node`` is absent; the ``node_path`` fixture (``tests/support/node_ws.py``) says how
``ws`` is found.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from broker_harness import BrokerLauncher

CLIENT = Path(__file__).parent / "js" / "client.js"
README_CODE = "12345"  # the code the README snippet sends; opend_sim is told to accept it


async def test_readme_javascript_client_reaches_connected(brokers: BrokerLauncher, node_path: str) -> None:
    broker = await brokers.start("sms", extra_args=f"--verify-code={README_CODE}")
    env = {**os.environ, "NODE_PATH": node_path}
    proc = await asyncio.create_subprocess_exec(
        "node", str(CLIENT), f"ws://127.0.0.1:{broker.ws_port}", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    lines = out.decode().splitlines()
    assert proc.returncode == 0, (lines, err.decode())
    assert any(line in ("status: 0", "status: 1") for line in lines), lines  # the reply to STATUS on open
    assert "frame: REQUEST_CODE" in lines and lines[-1] == "frame: CONNECTED", lines
    await broker.wait_state("connected")
