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
OSTAI_ROUNDS = Path(__file__).parent / "js" / "ostai_rounds.js"
README_CODE = "12345"  # the code the README snippet sends; opend_sim is told to accept it


async def run_node(script: Path, ws_port: int, node_path: str) -> tuple[int, list[str], str]:
    """Run a client script against the broker's WebSocket: (exit code, stdout lines, stderr)."""
    env = {**os.environ, "NODE_PATH": node_path}
    proc = await asyncio.create_subprocess_exec(
        "node", str(script), f"ws://127.0.0.1:{ws_port}", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode().splitlines(), err.decode()


async def test_readme_javascript_client_reaches_connected(brokers: BrokerLauncher, node_path: str) -> None:
    broker = await brokers.start("sms", extra_args=f"--verify-code={README_CODE}")
    code, lines, err = await run_node(CLIENT, broker.ws_port, node_path)
    assert code == 0, (lines, err)
    assert any(line in ("status: 0", "status: 1") for line in lines), lines  # the reply to STATUS on open
    assert "frame: REQUEST_CODE" in lines and lines[-1] == "frame: CONNECTED", lines
    await broker.wait_state("connected")


async def test_ostai_integration_rounds_with_the_ws_package(brokers: BrokerLauncher, node_path: str,
                                                          tmp_path: Path) -> None:
    """ostai's three-round scenario with ostai's mock OpenD, from a Node client on npm's ``ws``."""
    broker = await brokers.start_ostai_mock(tmp_path / "mock_starts.jsonl")
    code, lines, err = await run_node(OSTAI_ROUNDS, broker.ws_port, node_path)
    assert code == 0, (lines, err)
    for name, frames in (("first", 8), ("second", 8), ("third", 7)):
        assert sum(line.startswith(f"{name}: ") for line in lines) == frames, lines
    assert int(lines[-1].removeprefix("elapsed_ms: ")) < 10_000
