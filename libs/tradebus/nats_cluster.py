"""A NATS cluster of N nodes on one machine: loopback routes, JetStream on each node, one folder per node.

Used by ``tradebus up --nats-cluster 3`` and by the cluster tests. Each node is a :class:`NatsServer`
with its own configuration file, ``<root>/n<i>.conf``: the node's name, its JetStream folder
(``<root>/n<i>``), a ``cluster {}`` block whose routes reach every other node, and — on a secured bus —
``include`` of the generated ``nats.conf``, so every node has the same per-service users and
permissions as the single node. Routes authenticate: the route user's password is generated per run
(like the service passwords) and reaches each node through its environment only, as
``$TRADEBUS_NATS_ROUTE_PW`` and whole route URLs ``$TRADEBUS_NATS_ROUTE_<n>`` (nats-server expands a
variable only as a whole value, never inside a URL), so no file holds it. See docs/scaling.md.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tradebus.natsd import NatsServer, NatsServerError, free_port

CLUSTER_NAME = "tradebus"
ROUTE_USER = "route"
ROUTE_PW_ENV = "TRADEBUS_NATS_ROUTE_PW"
ROUTE_HOST = "127.0.0.1"  # the nodes share one machine: routes never leave loopback, whatever clients bind
READY_TIMEOUT_S = 20.0
FULL_REPLICATION_NODES = 3  # JetStream's usual replica count: a majority survives the loss of one node


def replicas_for(nodes: int) -> int:
    """Stream, KV and object-store replicas on a bus of ``nodes`` servers: R3 from three nodes, else R1."""
    return FULL_REPLICATION_NODES if nodes >= FULL_REPLICATION_NODES else 1


@dataclass(frozen=True)
class NodePorts:
    client: int
    route: int
    monitor: int


def consecutive_ports(client: int, route: int, monitor: int, nodes: int) -> list[NodePorts]:
    """Node i listens on ``client + i``, ``route + i`` and ``monitor + i`` (no monitoring when ``monitor`` ≤ 0)."""
    return [NodePorts(client + i, route + i, monitor + i if monitor > 0 else -1) for i in range(nodes)]


def free_ports(nodes: int, host: str = "127.0.0.1") -> list[NodePorts]:
    """Free ports for every node, picked before any starts: each node's file names the others' routes."""
    return [NodePorts(free_port(host), free_port(host), free_port(host)) for _ in range(nodes)]


def node_name(index: int) -> str:
    return f"n{index + 1}"


def route_env(index: int) -> str:
    """The variable holding node ``index``'s route URL (with the route user's credentials)."""
    return f"TRADEBUS_NATS_ROUTE_{index + 1}"


def route_url(port: int, route_password: str) -> str:
    return f"nats-route://{ROUTE_USER}:{route_password}@{ROUTE_HOST}:{port}"


def render_node_conf(index: int, ports: list[NodePorts], include: Path | None) -> str:
    """The configuration file of node ``index``: name, cluster block with authenticated routes to every other
    node, and the shared users (``include``) on a secured bus. No secret: the route password and URLs are
    variables. Listen and monitoring ports come from flags."""
    own = ports[index]
    routes = [f"${route_env(i)}" for i in range(len(ports)) if i != index]
    lines = [f"# Node {node_name(index)} of the {len(ports)}-node tradebus cluster; written by tradebus up.",
             f"server_name: {node_name(index)}"]
    if include is not None:
        lines.append(f'include "{include}"')
    lines += [
        "cluster {",
        f"  name: {CLUSTER_NAME}",
        f"  listen: {ROUTE_HOST}:{own.route}",
        "  no_advertise: true  # clients get the node list from tradebus, not from gossip",
        f"  authorization {{ user: {ROUTE_USER}, password: ${ROUTE_PW_ENV}, timeout: 2 }}",
        f"  routes: [{', '.join(routes)}]",
        "}",
        "",
    ]
    return "\n".join(lines)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


@dataclass
class NatsCluster:
    """``len(ports)`` nodes under ``root``; ``base_conf`` (the generated nats.conf) on a secured bus."""

    root: Path
    ports: list[NodePorts]
    host: str = "127.0.0.1"
    base_conf: Path | None = None
    env: dict[str, str] | None = None  # the services' passwords, which nats.conf reads from $VARIABLES
    route_password: str = field(default_factory=lambda: "tb" + secrets.token_hex(24))
    servers: list[NatsServer] = field(init=False)

    def __post_init__(self) -> None:
        self.servers = []
        for index, ports in enumerate(self.ports):
            name = node_name(index)
            self.root.mkdir(parents=True, exist_ok=True)
            conf = self.root / f"{name}.conf"
            # nats-server reads an include relative to the including file, whatever the path looks like.
            include = (Path(os.path.relpath(self.base_conf.resolve(), self.root.resolve()))
                       if self.base_conf is not None else None)
            _write_private(conf, render_node_conf(index, self.ports, include))
            self.servers.append(NatsServer(store_dir=self.root / name, host=self.host, port=ports.client,
                                           monitor_port=ports.monitor, config_file=conf,
                                           log_file=self.root / f"{name}.log", env=self._node_env()))

    def _node_env(self) -> dict[str, str]:
        routes = {route_env(i): route_url(p.route, self.route_password) for i, p in enumerate(self.ports)}
        return {**(self.env or {}), ROUTE_PW_ENV: self.route_password, **routes}

    @property
    def urls(self) -> list[str]:
        return [server.url for server in self.servers]

    @property
    def url(self) -> str:
        """Every node, comma-separated: the form ``[nats] url`` and ``TRADEBUS_NATS_URL`` take."""
        return ",".join(self.urls)

    def pids(self) -> list[int]:
        return [server.process.pid for server in self.servers
                if server.process is not None and server.process.poll() is None]

    def start(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Start every node, then wait until JetStream has a meta leader (streams can be created)."""
        try:
            for server in self.servers:
                server.start()
            self.wait_ready(timeout)
        except NatsServerError:
            self.stop()
            raise

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Until every running node sees a JetStream meta leader and all its peers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._sees_leader(server) for server in self.servers if server.process is not None):
                return
            time.sleep(0.1)  # polling the nodes' monitoring endpoint; bounded by the deadline
        raise NatsServerError(f"the NATS cluster elected no JetStream leader within {timeout}s")

    def _sees_leader(self, server: NatsServer) -> bool:
        if server.monitor_port <= 0:
            return True  # nothing to ask; the services' own retries cover the election
        try:
            with urllib.request.urlopen(f"http://{server.monitor_host}:{server.monitor_port}/jsz", timeout=1) as r:
                meta = json.loads(r.read()).get("meta_cluster") or {}
        except (OSError, ValueError):
            return False
        return bool(meta.get("leader")) and int(meta.get("cluster_size") or 0) >= len(self.servers)

    def stop(self, timeout: float = 5.0) -> None:
        for server in self.servers:
            server.stop(timeout)
