"""`tradebus --config FILE up`: the one file reaches every child, and the port pre-check reads it too."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from up_harness import (
    SERVICES,
    clean_env,
    config_file_for,
    finish_opend_login,
    run_up_with_config,
    up_ports,
    wait_healthy,
)

from tradebus.cli.registry import process_specs
from tradebus.cli.up import ports_needed
from tradebus.config import load_config


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def _get(port: int, path: str) -> tuple[int, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return response.status, response.read().decode()


def test_pre_check_covers_exactly_the_configured_ports(tmp_path: Path) -> None:
    ports = up_ports()
    config = load_config(config_file_for(tmp_path, ports), env={})
    checked = [use.port for use in ports_needed(config, process_specs(config))]
    assert sorted(checked) == sorted(ports.values())


def test_config_file_alone_moves_every_port_and_nothing_restarts(tmp_path: Path) -> None:
    ports = up_ports()
    config = config_file_for(tmp_path, ports)
    with run_up_with_config(tmp_path, config, ports) as run:
        finish_opend_login(run)
        rows = wait_healthy(run)
        assert {"nats", "ctp_sim", "opend", *SERVICES} <= {row["service"] for row in rows}
        silent = [name for name, port in ports.items() if not _listening(port)]
        assert not silent, f"nothing listens on the configured ports of {silent}"
        for name in ("health", *SERVICES):
            status, body = _get(ports[name], "/healthz")
            assert status == 200, (name, body)
        assert all(row["restarts"] == 0 for row in rows), rows
        _, metrics = _get(ports["health"], "/metrics")
        restarts = [line for line in metrics.splitlines() if line.startswith("tradebus_child_restarts_total{")]
        assert restarts == [], restarts
        assert "restarting" not in run.output()


def test_a_busy_configured_port_is_named_with_its_key(tmp_path: Path) -> None:
    ports = up_ports()
    config = config_file_for(tmp_path, ports)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", ports["ws_md"]))
        busy.listen()
        result = subprocess.run([sys.executable, "-m", "tradebus", "--config", str(config), "up"],
                                capture_output=True, text=True, timeout=30, env=clean_env(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [f"tradebus up: port {ports['ws_md']} (ws_edge WebSocket (webctp /md/ and /td/)) is already "
                     f"in use; choose another with TRADEBUS_WS_MD_PORT or [ws] md_port"], result.stderr
