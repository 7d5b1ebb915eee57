"""Node with the npm ``ws`` package, for tests that drive real JavaScript WebSocket clients.

Skipped only when ``node`` is absent (CI installs it: ``apt-get install -y nodejs npm``). ``npm install ws``
runs once per session into a temporary folder; ``TRADEBUS_TEST_NODE_PATH`` may point at an existing
``node_modules`` instead (no network needed then).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


@pytest.fixture(scope="session")
def node_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    if shutil.which("node") is None:
        pytest.skip("NODE IS NOT INSTALLED: the JavaScript client tests cannot run here "
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
