"""NATS monitoring (unauthenticated: /connz lists users and subscriptions) listens on loopback only.

Checked on the listening socket itself (``/proc/net/tcp*``), for the two ways ``tradebus up`` starts
its server: without a config file, and with the generated nats.conf (``--secure-bus``); and with the
client port opened on every interface, which must not take monitoring along.
"""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest

from deploy.conftest import REPO
from tradebus.cli.bus_access import BusAccess
from tradebus.natsd import NatsServer
from tradebus.permissions import render_nats_conf

LISTEN = "0A"


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port`` (IPv4 dotted, IPv6 as hex)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if int(hex_port, 16) != port or fields[3] != LISTEN:
                continue
            if len(address) == 8:
                found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
            else:
                found.add(address)
    return found


def healthz(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
        return int(reply.status)


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket table")
@pytest.mark.parametrize("secure", [False, True], ids=["plain", "secure-bus"])
def test_monitoring_listens_on_loopback_only_even_when_the_bus_listens_everywhere(tmp_path: Path,
                                                                                  secure: bool) -> None:
    access = BusAccess.generate() if secure else None
    conf = access.write_files(tmp_path, "nats://127.0.0.1:0") if access else None
    server = NatsServer(store_dir=tmp_path / "js", host="0.0.0.0", config_file=conf,
                        env=access.server_env() if access else None, log_file=tmp_path / "nats.log")
    server.start()
    try:
        assert healthz(server.monitor_port) == 200
        assert listening_addresses(server.monitor_port) == {"127.0.0.1"}
        assert listening_addresses(server.port) - {"127.0.0.1"}  # the client port did go everywhere
    finally:
        server.stop()


def test_compose_nats_conf_binds_monitoring_to_loopback() -> None:
    """In compose the health check runs inside the nats container, so loopback is enough there too."""
    lines = [line.split("#")[0].strip() for line in (REPO / "nats.conf").read_text().splitlines()]
    assert [line for line in lines if line.startswith("http")] == ["http: 127.0.0.1:8222"]
    assert (REPO / "nats.conf").read_text() == render_nats_conf()
