"""What ``tradebus up`` runs: one entry per process, in start order.

Each venue simulator or service that lands adds itself here; the supervisor, the port checks and
``tradebus status`` all read this one list.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from tradebus.config import Config


@dataclass(frozen=True)
class PortUse:
    port: int
    what: str  # "OpenD API port"
    change_with: str  # "--opend-port or [up] opend_api_port"
    host: str = "127.0.0.1"  # the address the process binds, from the same config


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: list[str]
    ports: list[PortUse] = field(default_factory=list)
    health_url: str | None = None  # bus services: their /healthz
    tcp_probe: tuple[str, int] | None = None  # venue simulators: a port that accepts once they serve
    env: dict[str, str] = field(default_factory=dict)
    bus_user: str = ""  # the bus user it connects as, when not its name (instance "ws_edge/2" is "ws_edge")


# opend_sim accepts any credentials (except in its fail_password scenario); these are demo values for
# the simulator only. A real OpenD gets the operator's credentials from auth_broker, never from here.
SIM_LOGIN_ACCOUNT = "10000001"
SIM_LOGIN_PWD_MD5 = hashlib.md5(b"tradebus-sim").hexdigest()


def _module(name: str, *args: str) -> list[str]:
    return [sys.executable, "-m", name, *args]


# What `tradebus up` subscribes md_ingest to: a few simulated instruments of each venue.
UP_SUBSCRIPTIONS = ("futu.HK.00700", "futu.HK.09988", "futu.US.AAPL",
                    "ctp.SHFE.rb2601", "ctp.DCE.m2601", "ctp.CFFEX.IF2512")
CTP_SIM_PASSWORD = "123456"
CTP_SIM_AUTH_CODE = "0000000000000000"
SIM_TRADE_PWD_MD5 = hashlib.md5(b"123456").hexdigest()  # opend_sim's default trade password


def simulator_specs(config: Config) -> list[ProcessSpec]:
    """ctp_sim only: opend_sim is OpenD, so auth_broker starts and supervises it like the real binary."""
    up = config.up
    host = "127.0.0.1"
    return [
        ProcessSpec(
            name="ctp_sim",
            argv=_module("ctp_sim", "--host", host, "--td-port", str(up.ctp_td_port), "--md-port",
                         str(up.ctp_md_port), "--state-dir", os.path.join(config.data.dir, "ctp_sim")),
            ports=[PortUse(up.ctp_td_port, "CTP trading front (ctp_sim)", "--ctp-td-port or [up] ctp_td_port"),
                   PortUse(up.ctp_md_port, "CTP market-data front (ctp_sim)", "--ctp-md-port or [up] ctp_md_port")],
            tcp_probe=(host, up.ctp_md_port),
        ),
    ]


def _health(config: Config, name: str) -> tuple[list[str], str | None, list[PortUse]]:
    """A service's health flag, its /healthz URL (None when [health] <name> = 0) and the port it binds."""
    port = getattr(config.health, name)
    if not port:
        return ["--health-port", "0"], None, []
    host = config.runtime.http_host
    return (["--health-port", str(port)], f"http://{_connect_host(host)}:{port}/healthz",
            [PortUse(port, f"{name} health port", f"TRADEBUS_HEALTH_{name.upper()} or [health] {name}", host)])


def _connect_host(bind_host: str) -> str:
    """Where to reach a server bound to ``bind_host`` from this machine."""
    return "127.0.0.1" if bind_host in ("", "0.0.0.0", "::") else bind_host


def opend_supervised(config: Config) -> bool:
    """Whether auth_broker runs OpenD under `tradebus up` (opend_sim, or a local FutuOpenD).

    ``[auth] opend``: ``auto`` runs opend_sim with the simulators and uses ``[futu] host/port`` as an
    OpenD run elsewhere under ``--no-sims``; ``supervised`` always runs ``[auth] opend_cmd``;
    ``external`` never runs one.
    """
    mode = config.auth.opend
    return mode == "supervised" or (mode == "auto" and config.up.simulators)


def _venue_env(config: Config) -> dict[str, str]:
    """Where md_ingest and td_exec find OpenD and the CTP fronts under `tradebus up`."""
    up = config.up
    env = {"TRADEBUS_FUTU_AUTH_INSTANCE": config.auth.instance}
    if opend_supervised(config):  # the OpenD auth_broker runs listens here; otherwise [futu] host/port
        env |= {"TRADEBUS_FUTU_HOST": "127.0.0.1", "TRADEBUS_FUTU_PORT": str(up.opend_api_port)}
    if up.simulators:
        env |= {"TRADEBUS_CTP_MD_FRONT": f"sim://127.0.0.1:{up.ctp_md_port}",
                "TRADEBUS_CTP_TD_FRONT": f"sim://127.0.0.1:{up.ctp_td_port}"}
        if not config.ctp.password:  # ctp_sim's demo investor (see `python -m ctp_sim --help`)
            env |= {"TRADEBUS_CTP_PASSWORD": CTP_SIM_PASSWORD, "TRADEBUS_CTP_AUTH_CODE": CTP_SIM_AUTH_CODE}
    return env


def _auth_broker_env(config: Config) -> dict[str, str]:
    up = config.up
    if not opend_supervised(config):
        return {"TRADEBUS_AUTH_OPEND": "external"}
    env = {"TRADEBUS_AUTH_OPEND": "supervised", "TRADEBUS_AUTH_API_PORT": str(up.opend_api_port),
           "TRADEBUS_AUTH_TELNET_PORT": str(up.opend_telnet_port)}
    if up.simulators:
        env |= {
            "TRADEBUS_AUTH_OPEND_CMD": f"{sys.executable} -m opend_sim",
            "TRADEBUS_AUTH_OPEND_ARGS": f"--scenario={up.opend_scenario}",
            "TRADEBUS_AUTH_STATE_DIR": os.path.join(config.data.dir, "opend_sim"),
            "TRADEBUS_AUTH_STATE_DIR_FLAG": "--state-dir",
        }
        if not config.futu.login_account:
            env |= {"TRADEBUS_FUTU_LOGIN_ACCOUNT": SIM_LOGIN_ACCOUNT, "TRADEBUS_FUTU_LOGIN_PWD_MD5": SIM_LOGIN_PWD_MD5}
    return env


def _auth_broker_ports(config: Config) -> list[PortUse]:
    auth, up = config.auth, config.up
    ports = []
    if auth.ws_enabled and auth.ws_port:
        ports.append(PortUse(auth.ws_port, "auth_broker WebSocket", "TRADEBUS_AUTH_WS_PORT or [auth] ws_port",
                             auth.ws_host))
    if opend_supervised(config):
        ports += [PortUse(up.opend_api_port, "OpenD API port", "--opend-port or [up] opend_api_port"),
                  PortUse(up.opend_telnet_port, "OpenD telnet port", "--opend-telnet-port or [up] opend_telnet_port")]
    return ports


def _ws_edge_ports(config: Config) -> list[PortUse]:
    ws = config.ws
    ports = [PortUse(ws.md_port, "ws_edge WebSocket (webctp /md/ and /td/)", "TRADEBUS_WS_MD_PORT or [ws] md_port",
                     ws.host)]
    if ws.td_port:
        ports.append(PortUse(ws.td_port, "ws_edge trading WebSocket (/td/)", "TRADEBUS_WS_TD_PORT or [ws] td_port",
                             ws.host))
    return ports


def _service(config: Config, name: str, ports: list[PortUse], env: dict[str, str] | None = None) -> ProcessSpec:
    args, url, health_ports = _health(config, name)
    return ProcessSpec(name, _module(name, *args), [*health_ports, *ports], health_url=url, env=env or {},
                       tcp_probe=None if url else next(((_connect_host(p.host), p.port) for p in ports), None))


def service_specs(config: Config) -> list[ProcessSpec]:
    """The bus services, in start order; each reads the shared config plus the env given here."""
    venue_env = _venue_env(config)
    md_env = dict(venue_env)
    if not config.md.subscriptions:
        md_env["TRADEBUS_MD_SUBSCRIPTIONS"] = ",".join(UP_SUBSCRIPTIONS)
    if config.up.simulators:
        md_env["TRADEBUS_MD_STALE_HOURS"] = "always"  # the simulators trade around the clock
    td_env = dict(venue_env)
    if config.up.simulators and not config.futu.trade_pwd_md5:
        td_env["TRADEBUS_FUTU_TRADE_PWD_MD5"] = SIM_TRADE_PWD_MD5
    return [
        _service(config, "auth_broker", _auth_broker_ports(config), _auth_broker_env(config)),
        *_instances(config, "md_ingest", lambda c: _service(c, "md_ingest", [], md_env)),
        *_instances(config, "td_exec", lambda c: _service(c, "td_exec", [], td_env)),
        *_instances(config, "ws_edge", lambda c: _service(c, "ws_edge", _ws_edge_ports(c))),
        *_instances(config, "fmz_edge", lambda c: _service(c, "fmz_edge", [
            PortUse(c.fmz.port, "fmz_edge HTTP", "TRADEBUS_FMZ_PORT or [fmz] port", c.fmz.host)])),
    ]


# The config section of each service `[up] <service>_instances` multiplies, and the keys of that section
# that are ports each instance moves by `[up] instance_port_step` (its health port moves too).
_SECTION_OF = {"md_ingest": "md", "td_exec": "td", "ws_edge": "ws", "fmz_edge": "fmz"}
_INSTANCE_PORT_KEYS = {"ws_edge": ("md_port", "td_port"), "fmz_edge": ("port",)}


def instance_config(config: Config, service: str, number: int) -> tuple[Config, dict[str, str]]:
    """Instance ``number`` (1…N) of ``service``: the configuration it runs with, and the environment that
    tells it so (its instance_id and its moved ports; its health port goes on its command line)."""
    section_name = _SECTION_OF[service]
    prefix = f"TRADEBUS_{section_name.upper()}_"
    shift = (number - 1) * config.up.instance_port_step
    section = getattr(config, section_name)
    changes: dict[str, object] = {"instance_id": str(number)}
    env = {f"{prefix}INSTANCE_ID": str(number)}
    for key in _INSTANCE_PORT_KEYS.get(service, ()):
        if getattr(section, key):  # 0 = that port is off (or picked by the process)
            changes[key] = getattr(section, key) + shift
            env[f"{prefix}{key.upper()}"] = str(changes[key])
    health_port = getattr(config.health, service)
    health = msgspec.structs.replace(config.health, **{service: health_port + shift}) if health_port else config.health
    moved = msgspec.structs.replace(config, health=health,
                                    **{section_name: msgspec.structs.replace(section, **changes)})
    return moved, env


def _instances(config: Config, service: str, build: Callable[[Config], ProcessSpec]) -> list[ProcessSpec]:
    """``[up] <service>_instances`` processes of ``service``; one keeps the plain name and configuration."""
    count = getattr(config.up, f"{service}_instances")
    if count == 1:
        return [build(config)]
    specs = []
    for number in range(1, count + 1):
        moved, env = instance_config(config, service, number)
        spec = build(moved)
        ports = [PortUse(p.port, f"{p.what}, instance {number}", f"{p.change_with} or [up] instance_port_step",
                         p.host) for p in spec.ports]
        specs.append(dataclasses.replace(spec, name=f"{service}/{number}", bus_user=service, ports=ports,
                                         env={**spec.env, **env}))
    return specs


def process_specs(config: Config) -> list[ProcessSpec]:
    return [*(simulator_specs(config) if config.up.simulators else []), *service_specs(config)]
