"""`tradebus --config FILE up`: the one file reaches every child, and the port pre-check reads it too."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import msgspec
from up_harness import (
    SERVICES,
    clean_env,
    config_file_for,
    finish_opend_login,
    run_up_with_config,
    up_ports,
    wait_healthy,
)

from supervisor.registry import process_specs
from supervisor.up import ports_needed
from tradebus.config import ConfigError, load_config


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
        result = subprocess.run([sys.executable, "-m", "supervisor", "--config", str(config), "up"],
                                capture_output=True, text=True, timeout=30, env=clean_env(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [f"tradebus up: port {ports['ws_md']} (ws_edge WebSocket (webctp /md/ and /td/)) is already "
                     f"in use; choose another with TRADEBUS_WS_MD_PORT or [ws] md_port"], result.stderr


def test_readme_config_for_a_real_opend_and_ctp_fronts_is_valid(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    text = readme.split("# tradebus.toml\n", 1)[1].split("```", 1)[0]
    for name in ("futu_trade_pwd_md5", "ctp_password", "ctp_auth_code"):
        (tmp_path / name).write_text("0" * 32)
    path = tmp_path / "tradebus.toml"
    path.write_text(text.replace("/run/secrets/", f"{tmp_path}/"))
    config = load_config(path, env={})
    assert config.ctp.md_front.startswith("tcp://") and config.futu.host != "127.0.0.1"
    no_sims = msgspec.structs.replace(config, up=msgspec.structs.replace(config.up, simulators=False))
    specs = {spec.name: spec for spec in process_specs(no_sims)}
    assert "ctp_sim" not in specs
    assert specs["auth_broker"].env == {"TRADEBUS_AUTH_OPEND": "external"}  # nothing spawns FutuOpenD
    assert "TRADEBUS_FUTU_PORT" not in specs["md_ingest"].env  # [futu] host/port, as configured
    assert not any(use.what.startswith("OpenD") for use in ports_needed(no_sims, list(specs.values())))


def test_an_unknown_opend_mode_is_refused_naming_the_key() -> None:
    try:
        load_config(env={"TRADEBUS_AUTH_OPEND": "remote"})
    except ConfigError as exc:
        assert str(exc) == "auth.opend: expected one of auto, supervised, external, got 'remote'"
    else:
        raise AssertionError("auth.opend = remote was accepted")
