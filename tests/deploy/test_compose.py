"""compose.yaml is consistent with the code: commands, env vars, health checks, ports, secrets."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tradebus.config import ConfigError, load_config
from tradebus.permissions import service_permissions

REPO = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
TRADEBUS_SERVICES = [name for name in SERVICES if name != "nats"]
EDGES = {"ws_edge", "fmz_edge", "auth_broker"}  # what a user or a client connects to
SUBST = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::?(?P<op>[-?])(?P<arg>[^}]*))?\}")


def _substituted(value: str) -> str:
    """What compose would pass, with every variable at its default (or a placeholder when required)."""

    def one(match: re.Match[str]) -> str:
        if match["op"] == "-":
            return _substituted(match["arg"])
        return "placeholder-0123456789"  # long enough for any secret rule (auth token: 16+)

    return SUBST.sub(one, str(value))


def _env(service: str) -> dict[str, str]:
    return {k: _substituted(v) for k, v in (SERVICES[service].get("environment") or {}).items()}


def _health_port(command: list[str]) -> int:
    return int(command[command.index("--health-port") + 1])


@pytest.mark.parametrize("service", TRADEBUS_SERVICES)
def test_command_is_a_module_that_exists(service: str) -> None:
    module = SERVICES[service]["command"][0]
    assert importlib.util.find_spec(module) is not None, f"{service}: no module {module}"
    assert (REPO / "services" / module / "__main__.py").exists()


@pytest.mark.parametrize("service", TRADEBUS_SERVICES)
def test_every_tradebus_env_var_is_a_config_key_the_service_reads(service: str) -> None:
    env = {k: v for k, v in _env(service).items() if k.startswith("TRADEBUS_")}
    # All together, as the service reads them: some settings are valid only in company (auth_broker's
    # ws_host 0.0.0.0 needs its token). A bad key or value is named by the error.
    try:
        load_config(env=env)
    except ConfigError as exc:
        pytest.fail(f"{service}: its TRADEBUS_* settings are not valid: {exc}")


@pytest.mark.parametrize("service", TRADEBUS_SERVICES)
def test_other_env_vars_are_read_by_the_service(service: str) -> None:
    others = [k for k in _env(service) if not k.startswith("TRADEBUS_")]
    source = "".join(p.read_text() for p in (REPO / "services" / service).rglob("*.py"))
    for key in others:
        assert f'"{key}"' in source, f"{service}: sets {key} but its code never reads it"


def test_nats_passwords_match_nats_conf_users() -> None:
    conf = (REPO / "nats.conf").read_text()
    env = SERVICES["nats"]["environment"]
    wanted = {p.password_env for p in service_permissions()}
    assert set(env) == wanted
    for name in wanted:
        assert f"${name}" in conf


@pytest.mark.parametrize("service", [s for s in TRADEBUS_SERVICES if s != "ctp_sim"])
def test_service_connects_as_its_own_bus_user(service: str) -> None:
    env = SERVICES[service]["environment"]
    assert env["TRADEBUS_NATS_USER"] == service
    assert env["TRADEBUS_NATS_PASSWORD"] == f"${{TRADEBUS_NATS_PW_{service.upper()}}}"


@pytest.mark.parametrize("service", TRADEBUS_SERVICES)
def test_health_check_hits_the_service_health_endpoint(service: str) -> None:
    spec = SERVICES[service]
    test = spec["healthcheck"]["test"]
    assert test[:4] == ["CMD", "python", "-m", "tradebus"] and test[4] == "healthcheck"
    if "--health-port" in spec["command"]:
        assert test[5] == str(_health_port(spec["command"]))
    else:  # a simulator: it must accept connections on the port its command opens
        port = test[5].removeprefix("tcp:")
        assert test[5].startswith("tcp:") and port in spec["command"]


def test_nats_health_check_and_no_published_ports() -> None:
    nats = SERVICES["nats"]
    assert "8222/healthz" in " ".join(nats["healthcheck"]["test"])
    assert "ports" not in nats
    assert "-c" in nats["command"] and "/etc/nats/nats.conf" in nats["command"]


@pytest.mark.parametrize("service", TRADEBUS_SERVICES)
def test_only_edges_publish_ports_and_only_on_loopback(service: str) -> None:
    ports = SERVICES[service].get("ports", [])
    if service not in EDGES:
        assert not ports, f"{service} is not an edge but publishes {ports}"
        return
    assert ports
    for mapping in ports:
        host_ip, host_port, container_port = str(mapping).split(":")
        assert host_ip == "127.0.0.1"
        assert host_port == container_port
    config = load_config(env=_env(service))
    listening = {"ws_edge": {config.ws.md_port, config.ws.td_port}, "fmz_edge": {config.fmz.port},
                 "auth_broker": {config.auth.ws_port}}[service]
    assert {int(str(m).split(":")[2]) for m in ports} == listening


@pytest.mark.parametrize("service", TRADEBUS_SERVICES)
def test_depends_on_nats_being_healthy(service: str) -> None:
    seen: set[str] = set()
    todo = [service]
    while todo:
        current = todo.pop()
        for dep, rule in (SERVICES[current].get("depends_on") or {}).items():
            assert rule["condition"] in {"service_healthy", "service_started"}
            if dep == "nats":
                assert rule["condition"] == "service_healthy"
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    if service != "ctp_sim":
        assert "nats" in seen


def test_required_secrets_are_in_the_env_example_and_env_is_ignored() -> None:
    text = (REPO / "compose.yaml").read_text()
    required = {m["name"] for m in SUBST.finditer(text) if m["op"] == "?"}
    example = (REPO / ".env.example").read_text()
    defined = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line and not line.startswith("#")}
    assert required <= defined, f"missing from .env.example: {sorted(required - defined)}"
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()


def test_dockerfile_is_multistage_non_root_with_the_ctp_locale() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert dockerfile.count("FROM python:3.11-slim") == 2
    assert "localedef -c -f GB18030 -i zh_CN zh_CN.GB18030" in dockerfile
    assert re.search(r"^USER tradebus$", dockerfile, re.M)
    final_stage = dockerfile.split("FROM python:3.11-slim\n", 1)[1]
    assert "build-essential" not in final_stage and "gcc" not in final_stage
