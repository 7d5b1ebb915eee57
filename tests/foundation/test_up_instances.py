"""`tradebus up` with several instances of a service: one process each, own name, ports, data folder."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import websockets
from up_harness import UpRun, finish_opend_login, instance_port_step, run_up, up_ports, wait_for, wait_healthy

from supervisor.registry import process_specs
from supervisor.up import check_ports
from tradebus.cli.status import rows_from_heartbeats
from tradebus.config import ConfigError, load_config
from tradebus.runtime import Service
from tradebus.schemas import HealthState, Heartbeat
from tradebus.schemas.health import ChildProcess

NOW = 1_700_000_000_000_000_000


def test_each_instance_has_its_name_bus_user_instance_id_and_moved_ports() -> None:
    config = load_config(env={"TRADEBUS_UP_WS_EDGE_INSTANCES": "3", "TRADEBUS_UP_TD_EXEC_INSTANCES": "2",
                              "TRADEBUS_UP_FMZ_EDGE_INSTANCES": "2", "TRADEBUS_UP_INSTANCE_PORT_STEP": "20"})
    specs = {spec.name: spec for spec in process_specs(config)}
    assert {"ws_edge/1", "ws_edge/2", "ws_edge/3", "td_exec/1", "td_exec/2", "fmz_edge/1", "fmz_edge/2",
            "md_ingest", "auth_broker"} <= set(specs)
    assert "ws_edge" not in specs and "td_exec" not in specs
    third = specs["ws_edge/3"]
    assert third.bus_user == "ws_edge" and specs["md_ingest"].bus_user == ""
    assert third.env["TRADEBUS_WS_INSTANCE_ID"] == "3"
    assert third.env["TRADEBUS_WS_MD_PORT"] == str(config.ws.md_port + 40)
    assert third.env["TRADEBUS_WS_TD_PORT"] == str(config.ws.td_port + 40)
    assert third.argv[-2:] == ["--health-port", str(config.health.ws_edge + 40)]
    assert specs["td_exec/2"].env["TRADEBUS_TD_INSTANCE_ID"] == "2"
    assert specs["td_exec/2"].env["TRADEBUS_FUTU_PORT"] == specs["td_exec/1"].env["TRADEBUS_FUTU_PORT"]
    assert specs["fmz_edge/2"].env["TRADEBUS_FMZ_PORT"] == str(config.fmz.port + 20)
    ports = [use.port for spec in specs.values() for use in spec.ports]
    assert len(ports) == len(set(ports)), "two instances bind the same port"
    # The instance's own process reads the same configuration plus that environment: what it binds is what
    # the supervisor checked.
    child = load_config(env={k: v for k, v in third.env.items() if k.startswith("TRADEBUS_WS_")})
    assert (child.ws.instance_id, child.ws.md_port) == ("3", config.ws.md_port + 40)


def test_a_step_that_lands_one_instance_on_anothers_port_is_refused_naming_the_step() -> None:
    config = load_config(env={"TRADEBUS_UP_WS_EDGE_INSTANCES": "2", "TRADEBUS_UP_INSTANCE_PORT_STEP": "1",
                              "TRADEBUS_WS_MD_PORT": "0", "TRADEBUS_WS_TD_PORT": "0",
                              "TRADEBUS_HEALTH_WS_EDGE": "0"})
    assert check_ports(config, process_specs(config)) is None  # ports the processes pick themselves
    clash = load_config(env={"TRADEBUS_UP_WS_EDGE_INSTANCES": "2", "TRADEBUS_UP_INSTANCE_PORT_STEP": "1"})
    problem = check_ports(clash, process_specs(clash))
    assert problem is not None and "configured twice" in problem and "instance_port_step" in problem, problem


@pytest.mark.parametrize("key,value", [("WS_EDGE_INSTANCES", "0"), ("TD_EXEC_INSTANCES", "9"),
                                       ("INSTANCE_PORT_STEP", "0")])
def test_instance_counts_out_of_range_are_refused_naming_the_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"up.{key.lower()}"):
        load_config(env={f"TRADEBUS_UP_{key}": value})


def test_an_instance_flag_is_checked_like_its_key(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "supervisor", "up", "--data-dir", str(tmp_path),
                             "--md-ingest-instances", "9"], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "HOME": str(tmp_path)})
    assert result.returncode == 2
    assert "up.md_ingest_instances: expected 1 to 8, got 9" in result.stderr


def test_instances_keep_their_files_apart() -> None:
    class Named(Service):
        name = "td_exec"

    config = load_config(env={"TRADEBUS_DATA_DIR": "/srv/tb"})
    single, second = Named(config), Named(config)
    second.instance_id = "2"
    assert (single.data_dir, second.data_dir) == ("/srv/tb/td_exec", "/srv/tb/td_exec-2")
    with pytest.raises(ConfigError, match="td: instance_id"):
        load_config(env={"TRADEBUS_TD_INSTANCE_ID": "a/b"})


def _beat(service: str, pid: int, instance: str, children: tuple[ChildProcess, ...] = ()) -> Heartbeat:
    return Heartbeat(service=service, instance=instance, pid=pid, state=HealthState.OK, started_ns=NOW - 10**10,
                     ts_event=NOW - 10**8, interval_s=2.0, children=children)


def test_status_lists_each_instance_once_as_its_supervisor_sees_it() -> None:
    supervisor = _beat("supervisor", 1, "h:1", (
        ChildProcess(name="ws_edge/1", state="running", pid=11, restarts=0, healthy=True),
        ChildProcess(name="ws_edge/2", state="backoff", pid=None, restarts=1, healthy=False, detail="exit -9"),
        ChildProcess(name="fmz_edge/1", state="running", pid=21, restarts=0, healthy=True),
    ))
    # ws_edge's stream holds the last heartbeat of any instance; fmz_edge has never beaten yet.
    rows = rows_from_heartbeats({"supervisor": supervisor, "ws_edge": _beat("ws_edge", 11, "h:11/1")}, NOW)
    names = [row.service for row in rows]
    assert sorted(names) == ["fmz_edge/1", "supervisor", "ws_edge/1", "ws_edge/2"]
    second = next(row for row in rows if row.service == "ws_edge/2")
    assert (second.state, second.healthy, second.restarts) == ("backoff", False, 1)


async def _md_login(port: int) -> int:
    async with websockets.connect(f"ws://127.0.0.1:{port}/md/") as ws:
        await ws.send(json.dumps({"MsgType": "ReqUserLogin", "ReqUserLogin": {"UserID": "", "Password": ""},
                                  "RequestID": 1}))
        async with asyncio.timeout(10):
            while True:
                frame = json.loads(await ws.recv())
                if frame["MsgType"] == "RspUserLogin":
                    return frame["RspInfo"]["ErrorID"]


def _fmz_ticker(port: int, access: str, secret: str) -> dict:
    body = json.dumps({"access_key": access, "secret_key": secret, "method": "ticker",
                       "params": {"symbol": "rb2601.SHFE_CNY"}, "nonce": time.time_ns() // 1_000_000}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/ctp", body, method="POST")
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.loads(response.read())


def _row(run: UpRun, name: str) -> dict | None:
    result = run.tradebus("status", "--nats-url", run.nats_url, "--json", "--timeout", "3")
    return next((row for row in map(json.loads, result.stdout.splitlines()) if row["service"] == name), None)


def test_up_runs_two_of_each_edge_and_restarts_only_the_one_killed(tmp_path: Path) -> None:
    ports = up_ports()
    step = instance_port_step(ports)
    with run_up(tmp_path, up_args=("--ws-edge-instances", "2", "--fmz-edge-instances", "2",
                                   "--instance-port-step", str(step)), ports=ports) as run:
        finish_opend_login(run)
        rows = {row["service"]: row for row in wait_healthy(run)}
        assert {"ws_edge/1", "ws_edge/2", "fmz_edge/1", "fmz_edge/2"} <= set(rows)
        assert "ws_edge" not in rows and "fmz_edge" not in rows
        ws_port, fmz_port = int(run.env["TRADEBUS_WS_MD_PORT"]), int(run.env["TRADEBUS_FMZ_PORT"])
        assert asyncio.run(_md_login(ws_port)) == 0
        assert asyncio.run(_md_login(ws_port + step)) == 0
        _, access, secret = run.demo_credentials()
        for port in (fmz_port, fmz_port + step):
            ticker = _fmz_ticker(port, access, secret)
            assert float(ticker.get("data", {}).get("last", 0)) > 0, ticker

        victim, bystander = rows["ws_edge/2"], rows["ws_edge/1"]
        os.kill(victim["pid"], signal.SIGKILL)
        restarted = wait_for(lambda: (row := _row(run, "ws_edge/2")) and row["healthy"] and row["restarts"] >= 1
                             and row["pid"] != victim["pid"] and row, 60, "ws_edge/2 restarted and healthy")
        assert restarted["pid"] != victim["pid"]
        after = _row(run, "ws_edge/1")
        assert after is not None and after["pid"] == bystander["pid"] and after["restarts"] == 0
        assert asyncio.run(_md_login(ws_port + step)) == 0
