"""`tradebus up --nats-cluster 3`: the node files, the ports it checks, the replica count it gives, and a real
three-node cluster whose routes demand the route user and whose streams, buckets and stores are R3."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import msgspec
import nats
import pytest

from supervisor.registry import process_specs
from supervisor.up import cluster_ports, ports_needed, with_cluster
from tradebus.bus.topology import ensure_topology
from tradebus.config import Config, ConfigError, StreamsConfig, load_config
from tradebus.nats_cluster import ROUTE_PW_ENV, NatsCluster, consecutive_ports, free_ports, render_node_conf, route_env


def test_a_node_file_names_itself_routes_to_the_others_and_holds_no_secret() -> None:
    ports = consecutive_ports(4222, 6222, 8222, 3)
    text = render_node_conf(1, ports, Path("../nats.conf"))
    assert "server_name: n2" in text
    assert 'include "../nats.conf"' in text
    assert "listen: 127.0.0.1:6223" in text  # routes stay on loopback
    assert f"routes: [${route_env(0)}, ${route_env(2)}]" in text  # every other node, never itself
    assert f"password: ${ROUTE_PW_ENV}" in text
    assert "nats-route://" not in text  # the URLs (with the password) come from the environment


def test_the_default_is_one_node_exactly_as_before() -> None:
    config = Config()
    assert cluster_ports(config.up) == []
    assert with_cluster(config, []) == config
    assert config.streams.replicas == 1


def test_three_nodes_give_every_url_r3_and_every_port_to_check() -> None:
    config = msgspec.structs.replace(Config(), up=msgspec.structs.replace(Config().up, nats_cluster=3))
    nodes = cluster_ports(config.up)
    clustered = with_cluster(config, nodes)
    assert clustered.nats.servers == ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223", "nats://127.0.0.1:4224"]
    assert clustered.streams.replicas == 3
    uses = {use.port: use.what for use in ports_needed(clustered, process_specs(clustered), nodes)}
    assert uses[4224] == "NATS node 3 client port"
    assert uses[6223] == "NATS node 2 route port"
    assert uses[8224] == "NATS node 3 monitoring port"
    two = with_cluster(config, cluster_ports(msgspec.structs.replace(config.up, nats_cluster=2)))
    assert two.streams.replicas == 1  # R3 needs three nodes; two give no majority after a loss


@pytest.mark.parametrize("nodes", ["0", "6"])
def test_a_cluster_size_out_of_range_is_a_config_error(nodes: str) -> None:
    with pytest.raises(ConfigError, match=r"up\.nats_cluster"):
        load_config(env={"TRADEBUS_UP_NATS_CLUSTER": nodes})


def test_nats_url_takes_every_node_comma_separated() -> None:
    config = load_config(env={"TRADEBUS_NATS_URL": "nats://a:4222, nats://b:4223,nats://c:4224"})
    assert config.nats.servers == ["nats://a:4222", "nats://b:4223", "nats://c:4224"]


def _route_info(port: int) -> dict[str, object]:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        line = sock.makefile("rb").readline()
    assert line.startswith(b"INFO ")
    return json.loads(line[5:])


async def test_a_real_cluster_asks_routes_for_credentials_and_holds_r3_streams(tmp_path: Path) -> None:
    cluster = NatsCluster(tmp_path / "nats-cluster", free_ports(3))
    cluster.start()
    try:
        assert stat.S_IMODE((tmp_path / "nats-cluster" / "n1.conf").stat().st_mode) == 0o600
        for node in cluster.ports:
            assert _route_info(node.route)["auth_required"] is True  # no anonymous route joins
        nc = await nats.connect(servers=cluster.urls, connect_timeout=3)
        try:
            js = nc.jetstream()
            await ensure_topology(js, StreamsConfig(replicas=3))
            names = ("MD", "TD_EVT", "AUTH", "KV_orders", "KV_instruments", "KV_auth", "OBJ_td_snapshots")
            replicas = {name: (await js.stream_info(name)).config.num_replicas for name in names}
            assert replicas == dict.fromkeys(names, 3)
            again = await ensure_topology(js, StreamsConfig(replicas=3))
            assert set(again.values()) == {"unchanged"}
        finally:
            await nc.close()
    finally:
        cluster.stop()
