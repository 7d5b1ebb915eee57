"""A nats-server started with the repo's own nats.conf (one user per service)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tradebus.natsd import NatsServer
from tradebus.permissions import service_permissions

REPO = Path(__file__).resolve().parents[2]


@dataclass
class SecureNats:
    url: str
    passwords: dict[str, str]
    server: NatsServer


@pytest.fixture
def secure_nats(tmp_path: Path) -> Iterator[SecureNats]:
    passwords = {p.user: "tb" + secrets.token_hex(12) for p in service_permissions()}  # see BusAccess.generate
    env = {p.password_env: passwords[p.user] for p in service_permissions()}
    server = NatsServer(store_dir=tmp_path / "js", config_file=REPO / "nats.conf", env=env,
                        log_file=tmp_path / "nats.log")
    server.start()
    try:
        yield SecureNats(server.url, passwords, server)
    finally:
        server.stop()
