"""A nats-server started with the repo's own nats.conf (one user per service)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from polling import until

from tradebus.bus import Bus, connect
from tradebus.config import NatsConfig, Secret
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


@asynccontextmanager
async def as_user(env: SecureNats, user: str) -> AsyncIterator[Bus]:
    bus = await connect(NatsConfig(url=env.url, user=user, password=Secret(env.passwords[user]),
                                   connect_timeout_s=2, request_timeout_s=2), f"test-{user}")
    try:
        yield bus
    finally:
        await bus.close()


@asynccontextmanager
async def raw_client(env: SecureNats, user: str, reports: list[str]) -> AsyncIterator[Client]:
    """A plain nats-py client as ``user``; every error the server reports is appended to ``reports``."""

    async def error_cb(exc: Exception) -> None:
        reports.append(str(exc))

    nc = await nats.connect(env.url, user=user, password=env.passwords[user], error_cb=error_cb,
                            inbox_prefix=f"_INBOX.{user}", allow_reconnect=False)
    try:
        yield nc
    finally:
        await nc.close()


async def violation(env: SecureNats, user: str, action: Callable[[Client], Awaitable[object]]) -> str | None:
    """Run ``action`` as ``user``; the permission violation the server reports, or None within 2 s."""
    reports: list[str] = []
    async with raw_client(env, user, reports) as nc:
        await action(nc)
        # nats-py hands the server's -ERR to error_cb on its own schedule (after the next PONG even),
        # so wait for the report itself rather than a round trip.
        with contextlib.suppress(AssertionError):
            await until(lambda: any(_is_violation(r) for r in reports), 2, "a permissions violation")
    return next((r for r in reports if _is_violation(r)), None)


def _is_violation(report: str) -> bool:
    return "permissions violation" in report.lower()
