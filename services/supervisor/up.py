"""``tradebus up``: the whole system on one machine.

Order of events: check every port the processes will bind, computed from the same configuration they
will read (one clear error naming the port and the key or flag that changes it), start the embedded
``nats-server`` with JetStream in the data folder, start every process of :mod:`supervisor.registry`
as a supervised child, then show their logs and a status table until Ctrl-C. nats-server is supervised
like the children (:mod:`supervisor.nats_child`). Every child gets the configuration file
``tradebus --config FILE up`` was given (as ``TRADEBUS_CONFIG``) and the same environment overrides.
Ctrl-C (or SIGTERM) stops the children (SIGTERM, then SIGKILL after a grace period), then NATS —
within ten seconds, leaving nothing behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path

import msgspec
from nats.aio.msg import Msg

from supervisor.children import Child
from supervisor.first_user import ensure_first_user
from supervisor.nats_child import NatsChild
from supervisor.registry import PortUse, ProcessSpec, process_specs
from tradebus.bus_users import BusUserSync
from tradebus.cli.bus_access import BusAccess, forget_operator_credentials
from tradebus.cli.render import LinePrinter, age, table
from tradebus.config import CONFIG_ENV, SCALED_SERVICES, Config, ConfigError, UpConfig, load_or_exit, validate
from tradebus.logs import configure_logging, get_logger, log_stream
from tradebus.nats_cluster import ROUTE_HOST, NatsCluster, NodePorts, consecutive_ports, free_ports, replicas_for
from tradebus.natsd import NatsServer, NatsServerError, port_in_use
from tradebus.runtime import Runtime, Service
from tradebus.schemas import SYSTEM_DECODER, Heartbeat
from tradebus.schemas.health import ChildProcess
from tradebus.subjects import SYS_HEALTH_ALL
from tradebus.users import users_path

log = get_logger("tradebus.up")

CHILD_STOP_GRACE_S = 6.0
TABLE_EVERY_S = 15.0

# [up] field → (flag, type): each flag overrides the config field of the same meaning.
_UP_FLAGS: dict[str, tuple[str, type]] = {
    "nats_port": ("--nats-port", int),
    "monitor_port": ("--monitor-port", int),
    "opend_api_port": ("--opend-port", int),
    "opend_telnet_port": ("--opend-telnet-port", int),
    "opend_scenario": ("--opend-scenario", str),
    "ctp_td_port": ("--ctp-td-port", int),
    "ctp_md_port": ("--ctp-md-port", int),
    "nats_cluster": ("--nats-cluster", int),
    "cluster_port": ("--cluster-port", int),
    **{f"{service}_instances": (f"--{service.replace('_', '-')}-instances", int) for service in SCALED_SERVICES},
    "instance_port_step": ("--instance-port-step", int),
}


class Supervisor(Service):
    """The processes of ``tradebus up``, run as a service so it heartbeats and serves /healthz too."""

    name = "supervisor"

    def __init__(self, config: Config, specs: list[ProcessSpec], nodes: list[NatsServer], printer: LinePrinter,
                 access: BusAccess | None, config_path: str | None = None) -> None:
        super().__init__(config)
        self.access = access
        self.specs = specs
        self.config_path = config_path
        self.printer = printer
        self.procs: list[Child] = []
        self.heartbeats: dict[str, Heartbeat] = {}
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.restarts_total = self.metrics.counter("child_restarts_total", "restarts of supervised processes",
                                                   ("process",))
        if len(nodes) == 1:
            self.nats = [NatsChild(nodes[0], self._changed.set, self._count_restart)]
        else:  # a cluster: one supervised process per node, named after its node
            self.nats = [NatsChild(node, self._changed.set, self._count_restart, name=f"nats-{i + 1}",
                                   running_detail=node.url) for i, node in enumerate(nodes)]

    def _count_restart(self, name: str) -> None:
        self.restarts_total.inc(1.0, name)

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.config_path is not None:  # the file `tradebus --config FILE up` read, for every child
            env[CONFIG_ENV] = str(Path(self.config_path).resolve())
        env["TRADEBUS_NATS_URL"] = ",".join(child.server.url for child in self.nats)  # every node of a cluster
        env["TRADEBUS_STREAMS_REPLICAS"] = str(self.config.streams.replicas)
        env["TRADEBUS_DATA_DIR"] = self.config.data.dir
        env["TRADEBUS_LOG_FORMAT"] = "json"  # rendered by our LinePrinter
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    async def start(self) -> None:
        await self.bus.nc.subscribe(SYS_HEALTH_ALL, cb=self._on_heartbeat)
        env = self._child_env()
        for spec in self.specs:
            # Each service connects as its own bus user; simulators do not use the bus.
            credentials = self.access.client_env(spec.bus_user or spec.name) if self.access else {}
            child_env = {**env, **spec.env, **credentials}
            child = Child(spec, child_env, self._print_line, self._changed.set, self._count_restart)
            self.procs.append(child)
            child.start()
        self._tasks = [asyncio.create_task(self._probe_loop()), asyncio.create_task(self._table_loop()),
                       *(asyncio.create_task(node.watch()) for node in self.nats)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        # Stop in reverse start order: services before the simulators they talk to.
        await asyncio.gather(*(c.stop(CHILD_STOP_GRACE_S) for c in reversed(self.procs)),
                             return_exceptions=True)
        for node in self.nats:
            node.stopping = True  # _run stops the servers itself, after the supervisor's last heartbeat
        self._print_table()

    def checks(self) -> dict[str, str]:
        return {view.name: "ok" if view.healthy else view.state for view in self.children()}

    def children(self) -> tuple[ChildProcess, ...]:
        return (*(node.view() for node in self.nats), *(c.view() for c in self.procs))

    async def _on_heartbeat(self, msg: Msg) -> None:
        try:
            beat = SYSTEM_DECODER.decode(msg.data)
        except msgspec.DecodeError:
            return
        if beat.service != self.name:
            self.heartbeats[beat.service] = beat
            _, _, instance_id = beat.instance.partition("/")  # host:pid/<instance_id> of an instance
            if instance_id:
                self.heartbeats[f"{beat.service}/{instance_id}"] = beat

    def _print_line(self, name: str, line: str) -> None:
        print(self.printer.format(name, line), flush=True)

    async def _probe_loop(self) -> None:
        while True:
            await asyncio.gather(*(c.probe() for c in self.procs))
            await asyncio.sleep(1.0)  # probe period

    async def _table_loop(self) -> None:
        last_printed = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), TABLE_EVERY_S)
            changed = self._changed.is_set()
            self._changed.clear()
            if changed or (sys.stdout.isatty() and time.monotonic() - last_printed >= TABLE_EVERY_S):
                self._print_table()
                last_printed = time.monotonic()

    def _print_table(self) -> None:
        rows: list[list[object]] = []
        for view in self.children():
            beat = self.heartbeats.get(view.name)
            rows.append([view.name, view.state, view.pid, view.restarts, "ok" if view.healthy else "-",
                         age(beat.ts_event) if beat else "-"])
        print(table(("SERVICE", "STATE", "PID", "RESTARTS", "HEALTH", "LAST HEARTBEAT"), rows), flush=True)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tradebus up", description="run NATS, the simulators and every service")
    parser.add_argument("--data-dir", help="where NATS and the services keep their files (default: [data] dir)")
    for field, (flag, kind) in _UP_FLAGS.items():
        parser.add_argument(flag, dest=field, type=kind, help=f"overrides [up] {field}")
    parser.add_argument("--no-sims", action="store_true", help="do not start the venue simulators")
    parser.add_argument("--open-bus", action="store_true",
                        help="run NATS without per-service users (default: the permissions of nats.conf)")
    return parser.parse_args(argv)


def _apply_flags(config: Config, args: argparse.Namespace) -> Config:
    up_changes = {field: getattr(args, field) for field in _UP_FLAGS if getattr(args, field, None) is not None}
    if args.no_sims:
        up_changes["simulators"] = False
    up = msgspec.structs.replace(config.up, **up_changes)
    data = msgspec.structs.replace(config.data, dir=args.data_dir) if args.data_dir else config.data
    nats = msgspec.structs.replace(config.nats, url=f"nats://{up.nats_host}:{up.nats_port}")
    config = msgspec.structs.replace(config, up=up, data=data, nats=nats)
    try:
        validate(config)  # a flag is checked like the key it overrides
    except ConfigError as exc:
        print(f"tradebus up: {exc} (or its flag)", file=sys.stderr)
        raise SystemExit(2) from None
    return config


def with_cluster(config: Config, nodes: list[NodePorts]) -> Config:
    """``config`` on the cluster ``nodes``: every node's URL, and the replica count the node count allows."""
    if not nodes:
        return config
    url = ",".join(f"nats://{config.up.nats_host}:{node.client}" for node in nodes)
    return msgspec.structs.replace(config, nats=msgspec.structs.replace(config.nats, url=url),
                                   streams=msgspec.structs.replace(config.streams, replicas=replicas_for(len(nodes))))


def cluster_ports(up: UpConfig) -> list[NodePorts]:
    """The ports of every node of ``[up] nats_cluster``: consecutive from the configured ones, or all free
    ones picked now when a base port is 0 (tests)."""
    if up.nats_cluster == 1:
        return []
    if 0 in (up.nats_port, up.cluster_port, up.monitor_port):
        return free_ports(up.nats_cluster, up.nats_host)
    return consecutive_ports(up.nats_port, up.cluster_port, up.monitor_port, up.nats_cluster)


def ports_needed(config: Config, specs: list[ProcessSpec], nodes: list[NodePorts] | None = None) -> list[PortUse]:
    """Every port `tradebus up` and its children will bind, from the configuration they all read (and the
    ports of the cluster's ``nodes``, when it runs one)."""
    ports = _nats_ports(config, nodes or [])
    if config.health.supervisor:
        ports.append(PortUse(config.health.supervisor, "supervisor health port",
                             "TRADEBUS_HEALTH_SUPERVISOR or [health] supervisor", config.runtime.http_host))
    for spec in specs:
        ports.extend(spec.ports)
    return ports


def _nats_ports(config: Config, nodes: list[NodePorts]) -> list[PortUse]:
    up = config.up
    if not nodes:
        ports = [PortUse(up.nats_port, "NATS client port", "--nats-port or [up] nats_port", up.nats_host)]
        if up.monitor_port > 0:
            ports.append(PortUse(up.monitor_port, "NATS monitoring port", "--monitor-port or [up] monitor_port",
                                 NatsServer.monitor_host))
        return ports
    ports = []
    for i, node in enumerate(nodes):
        what = f"NATS node {i + 1}"
        ports += [PortUse(node.client, f"{what} client port", "--nats-port or [up] nats_port", up.nats_host),
                  PortUse(node.route, f"{what} route port", "--cluster-port or [up] cluster_port", ROUTE_HOST)]
        if node.monitor > 0:
            ports.append(PortUse(node.monitor, f"{what} monitoring port", "--monitor-port or [up] monitor_port",
                                 NatsServer.monitor_host))
    return ports


def check_ports(config: Config, specs: list[ProcessSpec], nodes: list[NodePorts] | None = None) -> str | None:
    seen: dict[int, str] = {}
    for use in ports_needed(config, specs, nodes):
        if not use.port:  # 0: the process picks a free port itself
            continue
        if use.port in seen:
            return f"port {use.port} is configured twice ({seen[use.port]} and {use.what}); change it with " \
                   f"{use.change_with}"
        seen[use.port] = use.what
        if port_in_use(use.host, use.port):
            return f"port {use.port} ({use.what}) is already in use; choose another with {use.change_with}"
    return None


def _nats_servers(config: Config, nodes: list[NodePorts], conf: Path | None,
                  env: dict[str, str] | None) -> tuple[list[NatsServer], NatsCluster | None, Path]:
    """The one nats-server, or the cluster of ``nodes`` (one folder and log per node); and where they log."""
    data_dir = Path(config.data.dir)
    if not nodes:
        single = NatsServer(store_dir=data_dir / "nats", host=config.up.nats_host, port=config.up.nats_port,
                            monitor_port=config.up.monitor_port, log_file=data_dir / "nats.log", config_file=conf,
                            env=env)
        return [single], None, data_dir / "nats.log"
    cluster = NatsCluster(data_dir / "nats-cluster", nodes, host=config.up.nats_host, base_conf=conf, env=env)
    return cluster.servers, cluster, data_dir / "nats-cluster"


async def _run(config: Config, specs: list[ProcessSpec], nodes: list[NodePorts], secure: bool,
               config_path: str | None) -> int:
    data_dir = Path(config.data.dir)
    access = BusAccess.generate() if secure else None
    conf = access.write_files(data_dir, config.nats.url) if access else None
    servers, cluster, logs = _nats_servers(config, nodes, conf, access.server_env() if access else None)
    pids = cluster.pids if cluster else lambda: servers[0].pid
    bus_users = BusUserSync(conf.read_text(), users_path(config), conf, pids) if conf else None
    if bus_users:
        bus_users.write()  # strategies' bus users (tradebus user add --bus), kept in sync below
    try:
        await asyncio.to_thread(cluster.start if cluster else servers[0].start)
    except NatsServerError as exc:
        print(f"tradebus up: {exc} (see {logs})", file=sys.stderr)
        return 1
    for server in servers:
        print(f"nats-server {server.url} (monitoring http://127.0.0.1:{server.monitor_port}, pid {server.pid})",
              flush=True)
    printer = LinePrinter(colour=sys.stdout.isatty())
    supervisor = Supervisor(access.config_for(config, "supervisor") if access else config, specs, servers, printer,
                            access, config_path)
    runtime = Runtime(supervisor, health_port=config.health.supervisor)
    sync_task = asyncio.create_task(bus_users.run()) if bus_users else None
    try:
        return await runtime.run()
    finally:
        if sync_task:
            sync_task.cancel()
        await asyncio.gather(*(asyncio.to_thread(server.stop, 2.0) for server in servers))
        forget_operator_credentials(data_dir)
        print("tradebus up: stopped", flush=True)


def up_main(argv: list[str], config_path: str | None) -> int:
    args = _parse(argv)
    config = _apply_flags(load_or_exit(config_path), args)
    # Stop budget: children get CHILD_STOP_GRACE_S, then NATS; the whole stop stays under 10 s.
    config = msgspec.structs.replace(config, runtime=msgspec.structs.replace(config.runtime, stop_timeout_s=9.0))
    configure_logging("supervisor", level=config.log.level, fmt=config.log.format, secrets=config.secrets(),
                      stream=log_stream(config.log.stream))
    nodes = cluster_ports(config.up)
    config = with_cluster(config, nodes)
    specs = process_specs(config)
    problem = check_ports(config, specs, nodes)
    if problem:
        print(f"tradebus up: {problem}", file=sys.stderr)
        return 2
    Path(config.data.dir).mkdir(parents=True, exist_ok=True)
    if config.up.simulators:
        welcome = ensure_first_user(config)
        if welcome:
            print(welcome, flush=True)
    try:
        import uvloop

        return int(uvloop.run(_run(config, specs, nodes, not args.open_bus, config_path)))
    except ImportError:  # pragma: no cover
        return asyncio.run(_run(config, specs, nodes, not args.open_bus, config_path))
