"""The strategy examples in three languages, each run as a user would against `tradebus up` with a bus
user: Python (tradebus.client), JavaScript (npm `nats`), Go (Debian's nats.go, built without the module
proxy). Each prints JSON lines; the tests read them and check the account is left as found."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from node_ws import npm_install

from strategies.conftest import CTP, FUTU, PASSWORD, STRATEGY, Live

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
GOPATH = "/usr/share/gocode"  # golang-github-nats-io-go-nats-dev installs nats.go here


def example_env(live: Live, **extra: str) -> dict[str, str]:
    return {**os.environ, "TRADEBUS_NATS_URL": live.run.nats_url, "TRADEBUS_USER": STRATEGY,
            "TRADEBUS_PASSWORD": PASSWORD, "TRADEBUS_ACCOUNT": CTP, "TRADEBUS_SYMBOL": "ctp.SHFE.rb2601", **extra}


def lines(result: subprocess.CompletedProcess[str]) -> list[dict]:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def check_roundtrip(steps: list[dict]) -> None:
    assert [s["step"] for s in steps] == ["tick", "submitted", "accepted", "cancelled"]
    assert steps[0]["lower_limit"] is not None
    assert len({s.get("client_order_id") for s in steps[1:]}) == 1


def test_python_ma_cross(live: Live) -> None:
    result = subprocess.run([sys.executable, str(EXAMPLES / "python" / "ma_cross.py"), "--symbol", "futu.HK.00700",
                             "--account", FUTU, "--lots", "100", "--bars", "0", "--flat-at-exit"],
                            capture_output=True, text=True, timeout=180, env=example_env(live))
    events = lines(result)
    signal, position, flat = events
    assert signal["event"] == "signal" and signal["bars"] == 40  # history warmed both averages up
    assert signal["target"] == (100 if signal["fast"] > signal["slow"] else 0)
    assert position["event"] == "position" and position["net"] == signal["target"]
    assert flat == {"event": "flat", "net": 0}


@pytest.fixture(scope="session")
def nats_js(tmp_path_factory: pytest.TempPathFactory) -> str:
    return npm_install(tmp_path_factory, "nats_js", "nats")


def test_javascript_order_roundtrip(live: Live, nats_js: str) -> None:
    result = subprocess.run(["node", str(EXAMPLES / "js" / "order_roundtrip.js")], capture_output=True, text=True,
                            timeout=120, env=example_env(live, NODE_PATH=nats_js))
    check_roundtrip(lines(result))


@pytest.fixture(scope="session")
def go_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None or not Path(GOPATH, "src/github.com/nats-io/nats.go").is_dir():
        pytest.skip("GO IS NOT INSTALLED: the Go example test cannot run here "
                    "(CI must run: apt-get install -y golang-go golang-github-nats-io-go-nats-dev)")
    out = tmp_path_factory.mktemp("go") / "order_roundtrip"
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": GOPATH, "GOFLAGS": "",
           "GOCACHE": str(out.parent / "cache")}
    subprocess.run([go, "build", "-o", str(out), "."], cwd=EXAMPLES / "go", env=env, check=True, timeout=300)
    return out


def test_go_order_roundtrip(live: Live, go_binary: Path) -> None:
    result = subprocess.run([str(go_binary)], capture_output=True, text=True, timeout=120, env=example_env(live))
    check_roundtrip(lines(result))


def test_an_example_with_another_account_is_refused(live: Live, nats_js: str) -> None:
    result = subprocess.run(["node", str(EXAMPLES / "js" / "order_roundtrip.js")], capture_output=True, text=True,
                            timeout=120, env=example_env(live, NODE_PATH=nats_js, TRADEBUS_ACCOUNT="ctp:000002"))
    assert result.returncode == 1
    assert "Permissions Violation" in result.stderr or "permissions violation" in result.stderr.lower()
