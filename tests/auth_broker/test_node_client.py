"""The ostai README's JavaScript client (Node + the ``ws`` package from npm) logs OpenD in through the broker.

Skipped only when ``node`` is absent (CI installs it: ``apt-get install -y nodejs npm``). ``npm install ws``
runs once per session into a temporary folder; ``TRADEBUS_TEST_NODE_PATH`` may point at an existing
``node_modules`` instead (no network needed then).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from broker_harness import BrokerLauncher

CLIENT = Path(__file__).parent / "js" / "client.js"
README_CODE = "12345"  # the code the README snippet sends; opend_sim is told to accept it


@pytest.fixture(scope="session")
def node_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    if shutil.which("node") is None:
        pytest.skip("NODE IS NOT INSTALLED: the ostai JavaScript client test cannot run here "
                    "(CI must run: apt-get install -y nodejs npm)")
    given = os.environ.get("TRADEBUS_TEST_NODE_PATH")
    if given:
        return given
    npm = shutil.which("npm")
    assert npm is not None, "node is installed but npm is not: install npm to fetch the ws package"
    folder = tmp_path_factory.mktemp("node_ws")
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent", "ws"], cwd=folder, check=True,
                   timeout=180, stdout=subprocess.DEVNULL)
    return str(folder / "node_modules")


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
