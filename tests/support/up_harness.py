"""`tradebus up` as a test fixture: the whole system in a child process group on free ports.

Shared by every test that needs the real chain (nats-server, ctp_sim, auth_broker supervising
opend_sim, md_ingest, td_exec, ws_edge, fmz_edge). The process group is killed by pid when the test
ends, never by name.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from polling import wait_for

from tradebus.natsd import free_port
from tradebus.users import UserStore

SERVICES = ("md_ingest", "td_exec", "auth_broker", "ws_edge", "fmz_edge")
SIM_VERIFY_CODE = "123456"  # opend_sim's SMS code (see docs/simulators.md)


@dataclass
class UpRun:
    process: subprocess.Popen[str]
    nats_url: str
    env: dict[str, str]
    log_path: Path
    ports: dict[str, int]

    def tradebus(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tradebus", *args], capture_output=True, text=True,
                              env=self.env, timeout=timeout)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def data_dir(self) -> Path:
        return Path(self.env["TRADEBUS_DATA_DIR"])

    def demo_credentials(self) -> tuple[str, str, str]:
        """(password, fmz access_key, fmz secret_key) that the first run printed once for user ``demo``."""
        output = self.output()
        password = output.split("user=demo password=", 1)[1].split()[0]
        access = output.split("access_key=", 1)[1].split()[0]
        secret = output.split("secret_key=", 1)[1].split()[0]
        return password, access, secret

    def demo_accounts(self) -> list[tuple[str, str]]:
        demo = UserStore(self.data_dir / "users.json").get("demo")
        assert demo is not None, "tradebus up created no demo user"
        return demo.account_list()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still "exists" for kill(0); it is gone for every purpose that matters here.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1].split(" ", 1)[0] != "Z"


def port_free(port: int) -> bool:
    """Whether nothing listens on (or holds) ``port`` on 127.0.0.1 right now."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def up_ports() -> dict[str, int]:
    names = ("nats", "monitor", "opend", "telnet", "ctp_td", "ctp_md", "health", *SERVICES, "auth_ws",
             "ws_md", "ws_td", "fmz")
    ports: dict[str, int] = {}
    while len(set(ports.values())) < len(names):
        ports = {name: free_port() for name in names}
    return ports


EDGE_PORTS = ("ws_edge", "fmz_edge", "ws_md", "ws_td", "fmz")


def instance_port_step(run_ports: dict[str, int], moved: tuple[str, ...] = EDGE_PORTS) -> int:
    """An ``[up] instance_port_step`` that puts every second instance's ``moved`` ports (the edges' by
    default) on free ports no other process of the run uses."""
    for step in range(101, 1000, 37):
        shifted = [run_ports[name] + step for name in moved]
        if all(p < 65536 and p not in run_ports.values() and port_free(p) for p in shifted):
            return step
    raise AssertionError("no free port step")


@contextmanager
def run_up(tmp_path: Path, extra_env: dict[str, str] | None = None, up_args: tuple[str, ...] = (),
           ports: dict[str, int] | None = None) -> Iterator[UpRun]:
    """Start ``tradebus up`` (plus ``up_args``) with its data under ``tmp_path/var`` on ``ports`` (free ones
    by default); kill its process group on exit."""
    ports = ports or up_ports()
    env = {**os.environ, "TRADEBUS_HEALTH_SUPERVISOR": str(ports["health"]), "TRADEBUS_RUNTIME_HEARTBEAT_S": "0.5",
           "PYTHONUNBUFFERED": "1", "HOME": str(tmp_path),
           # status / tail find the operator credentials `tradebus up` writes under the data folder.
           "TRADEBUS_DATA_DIR": str(tmp_path / "var"),
           **{f"TRADEBUS_HEALTH_{name.upper()}": str(ports[name]) for name in SERVICES},
           "TRADEBUS_AUTH_WS_PORT": str(ports["auth_ws"]), "TRADEBUS_WS_MD_PORT": str(ports["ws_md"]),
           "TRADEBUS_WS_TD_PORT": str(ports["ws_td"]), "TRADEBUS_FMZ_PORT": str(ports["fmz"]),
           **(extra_env or {})}
    env.pop("TRADEBUS_CONFIG", None)
    log_path = tmp_path / "up.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "supervisor", "up", "--data-dir", str(tmp_path / "var"),
             "--nats-port", str(ports["nats"]), "--monitor-port", str(ports["monitor"]),
             "--opend-port", str(ports["opend"]), "--opend-telnet-port", str(ports["telnet"]),
             "--ctp-td-port", str(ports["ctp_td"]), "--ctp-md-port", str(ports["ctp_md"]), *up_args],
            stdout=log, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    run = UpRun(process, f"nats://127.0.0.1:{ports['nats']}", env, log_path, ports)
    try:
        yield run
    finally:
        stop_up(process)


def config_file_for(tmp_path: Path, ports: dict[str, int], extra: str = "") -> Path:
    """A TOML file moving every port `tradebus up` binds to ``ports``: the only place they are set."""
    health = "\n".join(f"{name} = {ports[name]}" for name in SERVICES)
    text = f"""
[nats]
url = "nats://127.0.0.1:{ports['nats']}"

[data]
dir = "{tmp_path / 'var'}"

[runtime]
heartbeat_s = 0.5

[health]
supervisor = {ports['health']}
{health}

[up]
nats_port = {ports['nats']}
monitor_port = {ports['monitor']}
opend_api_port = {ports['opend']}
opend_telnet_port = {ports['telnet']}
ctp_td_port = {ports['ctp_td']}
ctp_md_port = {ports['ctp_md']}

[auth]
ws_port = {ports['auth_ws']}

[ws]
md_port = {ports['ws_md']}
td_port = {ports['ws_td']}

[fmz]
port = {ports['fmz']}
{extra}"""
    path = tmp_path / "tradebus.toml"
    path.write_text(text)
    return path


def clean_env(tmp_path: Path) -> dict[str, str]:
    """This process's environment without any TRADEBUS_ setting, and a HOME of the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBUS_") or k.startswith("TRADEBUS_TEST_")}
    return {**env, "HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"}


@contextmanager
def run_up_with_config(tmp_path: Path, config: Path, ports: dict[str, int], *up_args: str) -> Iterator[UpRun]:
    """``tradebus --config FILE up``: no TRADEBUS_ variable and no port flag, only the file."""
    env = clean_env(tmp_path)
    log_path = tmp_path / "up.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "supervisor", "--config", str(config), "up", *up_args],
                                   stdout=log, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    # The helper commands (status, verify-code) read the same file.
    helper_env = {**env, "TRADEBUS_CONFIG": str(config), "TRADEBUS_DATA_DIR": str(tmp_path / "var")}
    run = UpRun(process, f"nats://127.0.0.1:{ports['nats']}", helper_env, log_path, ports)
    try:
        yield run
    finally:
        stop_up(process)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, grandchildren…), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        children.setdefault(parent, []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def stop_up(process: subprocess.Popen[str], timeout: float = 20.0) -> None:
    """Ctrl-C as an operator would, then SIGKILL by pid whatever is left of the tree.

    The supervisor starts nats-server in a session of its own and auth_broker runs OpenD in a pty (a
    session too), so killing ``tradebus up``'s process group alone would orphan them.
    """
    if process.poll() is not None:
        return
    tree = descendants(process.pid)
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for pid in tree:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def healthy_rows(run: UpRun) -> list[dict] | None:
    """`tradebus status --json` rows once every process is healthy, else None."""
    result = run.tradebus("status", "--nats-url", run.nats_url, "--json", "--timeout", "3")
    if result.returncode != 0:
        return None
    return [json.loads(line) for line in result.stdout.splitlines()]


def wait_healthy(run: UpRun, timeout: float = 60) -> list[dict]:
    """Every process healthy in `tradebus status`; on failure the status and the log's tail say why."""
    try:
        return wait_for(lambda: healthy_rows(run), timeout, "every process of `tradebus up` healthy")
    except AssertionError as exc:
        status = run.tradebus("status", "--nats-url", run.nats_url, "--json", "--timeout", "3").stdout
        raise AssertionError(f"{exc}; status:\n{status}\nlog:\n{run.output()[-3000:]}") from None


def wait_for_broker(run: UpRun) -> None:
    def broker_reports() -> bool:
        result = run.tradebus("status", "--nats-url", run.nats_url, "--json", "--timeout", "3")
        return '"service":"auth_broker"' in result.stdout

    try:
        wait_for(broker_reports, 60, "auth_broker to report in `tradebus status`")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; tradebus up (exit {run.process.poll()}) said:\n{run.output()[-4000:]}") from None


def finish_opend_login(run: UpRun) -> None:
    """opend_sim (under auth_broker) asks for an SMS code on a new device: give it, as a user would."""
    wait_for_broker(run)

    def delivered() -> bool:
        result = run.tradebus("verify-code", SIM_VERIFY_CODE, "--nats-url", run.nats_url, "--wait", "20")
        return result.returncode == 0 and "STATUS 3" in result.stdout

    wait_for(delivered, 60, "`tradebus verify-code 123456` to log OpenD in")
