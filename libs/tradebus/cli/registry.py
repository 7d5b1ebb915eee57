"""What ``tradebus up`` runs: one entry per process, in start order.

Each venue simulator or service that lands adds itself here; the supervisor, the port checks and
``tradebus status`` all read this one list.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field

from tradebus.config import Config


@dataclass(frozen=True)
class PortUse:
    port: int
    what: str  # "OpenD API port"
    change_with: str  # "--opend-port or [up] opend_api_port"


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: list[str]
    ports: list[PortUse] = field(default_factory=list)
    health_url: str | None = None  # bus services: their /healthz
    tcp_probe: tuple[str, int] | None = None  # venue simulators: a port that accepts once they serve
    env: dict[str, str] = field(default_factory=dict)


# opend_sim accepts any credentials (except in its fail_password scenario); these are demo values for
# the simulator only. A real OpenD gets the operator's credentials from auth_broker, never from here.
SIM_LOGIN_ACCOUNT = "10000001"
SIM_LOGIN_PWD_MD5 = hashlib.md5(b"tradebus-sim").hexdigest()


def _module(name: str, *args: str) -> list[str]:
    return [sys.executable, "-m", name, *args]


def simulator_specs(config: Config) -> list[ProcessSpec]:
    up = config.up
    data = config.data.dir
    host = "127.0.0.1"
    return [
        ProcessSpec(
            name="opend_sim",
            argv=_module("opend_sim", f"-api_ip={host}", f"-api_port={up.opend_api_port}",
                         f"-telnet_ip={host}", f"-telnet_port={up.opend_telnet_port}", "-lang=en",
                         f"-login_account={SIM_LOGIN_ACCOUNT}", f"-login_pwd_md5={SIM_LOGIN_PWD_MD5}",
                         f"--scenario={up.opend_scenario}", f"--state-dir={os.path.join(data, 'opend_sim')}"),
            ports=[PortUse(up.opend_api_port, "OpenD API port (opend_sim)", "--opend-port or [up] opend_api_port"),
                   PortUse(up.opend_telnet_port, "OpenD telnet port (opend_sim)",
                           "--opend-telnet-port or [up] opend_telnet_port")],
            tcp_probe=(host, up.opend_telnet_port),
        ),
        ProcessSpec(
            name="ctp_sim",
            argv=_module("ctp_sim", "--host", host, "--td-port", str(up.ctp_td_port), "--md-port",
                         str(up.ctp_md_port), "--state-dir", os.path.join(data, "ctp_sim")),
            ports=[PortUse(up.ctp_td_port, "CTP trading front (ctp_sim)", "--ctp-td-port or [up] ctp_td_port"),
                   PortUse(up.ctp_md_port, "CTP market-data front (ctp_sim)", "--ctp-md-port or [up] ctp_md_port")],
            tcp_probe=(host, up.ctp_md_port),
        ),
    ]


def service_specs(config: Config) -> list[ProcessSpec]:
    """The bus services (md_ingest, td_exec, …) as they land; each reads the shared config."""
    specs: list[ProcessSpec] = []
    return specs


def process_specs(config: Config) -> list[ProcessSpec]:
    return [*(simulator_specs(config) if config.up.simulators else []), *service_specs(config)]
