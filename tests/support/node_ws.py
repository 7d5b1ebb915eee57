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
    return npm_install(tmp_path_factory, "node_ws", "ws")


def npm_install(tmp_path_factory: pytest.TempPathFactory, name: str, *packages: str) -> str:
    """``npm install packages`` into a fresh temporary folder; its ``node_modules`` path (for NODE_PATH)."""
    if shutil.which("node") is None:
        pytest.skip("NODE IS NOT INSTALLED: the JavaScript tests cannot run here "
                    "(CI must run: apt-get install -y nodejs npm)")
    npm = shutil.which("npm")
    assert npm is not None, f"node is installed but npm is not: install npm to fetch {', '.join(packages)}"
    folder = tmp_path_factory.mktemp(name)
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent", *packages], cwd=folder, check=True,
                   timeout=300, stdout=subprocess.DEVNULL)
    return str(folder / "node_modules")
