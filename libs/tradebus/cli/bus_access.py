"""Bus credentials for ``tradebus up``: one generated password per service user of nats.conf.

``tradebus up`` runs its embedded nats-server with the same generated ``nats.conf`` as docker
compose, so every service runs under its own restricted user every day, not only in production.
Passwords are random per run and reach each child through its environment only. The operator user
(for ``tradebus status``, ``tail`` and ``verify-code`` on this machine) is written to
``<data dir>/operator-credentials.json`` with mode 0600; those commands use it when no ``[nats] user``
is configured and the file names the same server.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import msgspec

from tradebus.config import Config, Secret, server_urls
from tradebus.permissions import render_nats_conf, service_permissions

OPERATOR_FILE = "operator-credentials.json"


@dataclass(frozen=True)
class BusAccess:
    passwords: dict[str, str]

    @classmethod
    def generate(cls) -> BusAccess:
        # nats-server parses a $VARIABLE's value as config syntax: a value that looks like a number or
        # a date (token_urlsafe can start "2024-…") breaks start-up, so letters first, then hex.
        return cls({p.user: "tb" + secrets.token_hex(24) for p in service_permissions()})

    def server_env(self) -> dict[str, str]:
        """What nats-server needs to resolve the ``$TRADEBUS_NATS_PW_<USER>`` references of nats.conf."""
        return {p.password_env: self.passwords[p.user] for p in service_permissions()}

    def client_env(self, user: str) -> dict[str, str]:
        if user not in self.passwords:
            return {}
        return {"TRADEBUS_NATS_USER": user, "TRADEBUS_NATS_PASSWORD": self.passwords[user]}

    def config_for(self, config: Config, user: str) -> Config:
        nats = msgspec.structs.replace(config.nats, user=user, password=Secret(self.passwords[user]))
        return msgspec.structs.replace(config, nats=nats)

    def write_files(self, data_dir: Path, url: str) -> Path:
        """Write the server's nats.conf and the operator's credentials under ``data_dir``."""
        conf = data_dir / "nats.conf"
        conf.write_text(render_nats_conf())
        creds = data_dir / OPERATOR_FILE
        fd = os.open(creds, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"url": url, "user": "operator", "password": self.passwords["operator"]}, out)
        return conf


def with_operator_credentials(config: Config) -> Config:
    """``config`` with the local ``tradebus up`` operator credentials, when they apply."""
    if config.nats.user or config.nats.token:
        return config
    path = Path(config.data.dir) / OPERATOR_FILE
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return config
    # The same server, or nodes of the same cluster (the file names them all; `status` may be given one).
    if not set(config.nats.servers) <= set(server_urls(str(saved.get("url", "")))):
        return config
    nats = msgspec.structs.replace(config.nats, user=saved["user"], password=Secret(saved["password"]))
    return msgspec.structs.replace(config, nats=nats)


def forget_operator_credentials(data_dir: Path) -> None:
    (data_dir / OPERATOR_FILE).unlink(missing_ok=True)
