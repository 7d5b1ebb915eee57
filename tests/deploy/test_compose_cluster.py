"""compose.cluster.yaml: compose accepts it on top of compose.yaml, it gives every service all three nodes and
R3, and its node file (deploy/nats-node.conf) really forms a cluster with authenticated routes — run here with
the nats-server binary and exactly the environment compose gives each node, on loopback instead of the
compose network."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tradebus.natsd import NatsServer, free_port

REPO = Path(__file__).resolve().parents[2]
FILES = ("compose.yaml", "compose.cluster.yaml")
NODES = ("nats", "nats-2", "nats-3")
BUS_SERVICES = ("auth_broker", "md_ingest", "td_exec", "ws_edge", "fmz_edge")


def _example_env() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (REPO / ".env.example").read_text().splitlines()
             if line and not line.startswith("#") and "=" in line)
    return dict(pairs)


def _compose() -> list[str] | None:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


@pytest.fixture(scope="module")
def merged() -> dict[str, Any]:
    """What compose itself makes of the two files (`config`), with .env.example's values."""
    compose = _compose()
    if compose is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    args = [arg for name in FILES for arg in ("-f", str(REPO / name))]
    result = subprocess.run([*compose, *args, "config"], capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/local/bin:/usr/bin:/bin", **_example_env()}, cwd=REPO)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_merges_three_nodes_none_published(merged: dict[str, Any]) -> None:
    services = merged["services"]
    assert set(NODES) <= set(services)
    for node in NODES:
        assert not services[node].get("ports"), f"{node} publishes a port"
        assert services[node]["environment"]["TRADEBUS_NATS_NODE"] == f"n{NODES.index(node) + 1}"
    assert len({str(services[node]["volumes"]) for node in NODES}) == 3  # one data volume per node


def test_every_bus_service_gets_all_nodes_and_r3(merged: dict[str, Any]) -> None:
    for name in BUS_SERVICES:
        env = merged["services"][name]["environment"]
        assert env["TRADEBUS_NATS_URL"].split(",") == [f"nats://{node}:4222" for node in NODES], name
        assert str(env["TRADEBUS_STREAMS_REPLICAS"]) == "3", name
        assert env["TRADEBUS_NATS_USER"] == name.replace("-", "_")  # still its own bus user
        assert set(NODES) <= set(merged["services"][name]["depends_on"]), name


def _jsz(port: int) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/jsz", timeout=1) as answer:
            return json.loads(answer.read()).get("meta_cluster") or {}
    except OSError:
        return {}


def test_the_node_file_forms_a_cluster_with_the_environment_compose_gives(tmp_path: Path) -> None:
    raw = yaml.safe_load((REPO / "compose.cluster.yaml").read_text())["services"]
    etc = tmp_path / "etc"
    etc.mkdir()
    shutil.copy(REPO / "nats.conf", etc / "nats.conf")
    shutil.copy(REPO / "deploy" / "nats-node.conf", etc / "nats-node.conf")
    routes = {node: free_port() for node in NODES}
    secrets = _example_env()
    servers = []
    for node in NODES:
        env = {}
        for key, value in raw[node]["environment"].items():
            value = str(value).replace("${TRADEBUS_NATS_ROUTE_PW}", secrets["TRADEBUS_NATS_ROUTE_PW"])
            if value.startswith("${"):
                value = secrets[key]
            for other, port in routes.items():  # compose's host names → this machine's loopback ports
                value = value.replace(f"@{other}:6222", f"@127.0.0.1:{port}")
            env[key] = value
        servers.append(NatsServer(store_dir=tmp_path / node, config_file=etc / "nats-node.conf", env=env,
                                  log_file=tmp_path / f"{node}.log",
                                  extra_args=["--cluster", f"nats://127.0.0.1:{routes[node]}"]))
    try:
        for server in servers:
            server.start()
        deadline = time.monotonic() + 20
        while not all(_jsz(s.monitor_port).get("cluster_size") == 3 and _jsz(s.monitor_port).get("leader")
                      for s in servers):
            assert time.monotonic() < deadline, "the three nodes elected no JetStream leader"
            time.sleep(0.1)  # polling the nodes' monitoring endpoint, bounded by the deadline
        for node in NODES:  # every route presented the route user's password
            assert "authentication error" not in (tmp_path / f"{node}.log").read_text(errors="replace")
    finally:
        for server in servers:
            server.stop()
