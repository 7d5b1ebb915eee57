"""A Docker engine for the compose test: the machine's own if one answers, else one we start as root.

The engine we start is Debian's `dockerd` (package docker.io, installed by scripts/bootstrap as root)
on a socket of its own, so nothing else on the machine mistakes it for the system engine, with its
data under /var/lib/tradebus-docker, kept between runs: the base images, the image layers and the
build cache survive, which is what makes a second run fast. It runs with

``--iptables=false``: the engine leaves the host's firewall alone. It needs no NAT: published ports are
bound on 127.0.0.1 by docker-proxy, nothing in a container reaches outside, and image builds run with
``--network none``. (Seen here: overlay2 on ext4, cgroup v1, the default docker0 bridge; Debian's
dockerd 20.10 starts with these flags as root and nothing else.)

It is stopped by its pid when the test session ends; nothing is left running.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

OWN_ROOT = Path("/run/tradebus-dockerd")
OWN_DATA = Path("/var/lib/tradebus-docker")


@dataclass
class Engine:
    env: dict[str, str]  # os.environ plus DOCKER_HOST when the engine is ours
    compose: list[str]  # `docker compose` or `docker-compose`
    started: subprocess.Popen[bytes] | None = field(default=None)

    def docker(self, *args: str, timeout: float = 120, check: bool = True,
               stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run(["docker", *args], self.env, timeout, check, stdin)


def run(cmd: list[str], env: dict[str, str], timeout: float, check: bool = True,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, input=stdin)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout[-3000:]}\n"
                             f"{result.stderr[-3000:]}")
    return result


def answers(env: dict[str, str]) -> bool:
    try:
        return run(["docker", "version", "--format", "{{.Server.Version}}"], env, 15, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def compose_command(env: dict[str, str]) -> list[str] | None:
    if run(["docker", "compose", "version"], env, 15, check=False).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def why_no_engine() -> str | None:
    """None when an engine can be had; otherwise the one-line reason the compose test skips."""
    if os.environ.get("TRADEBUS_TEST_NO_DOCKER"):
        return "TRADEBUS_TEST_NO_DOCKER is set"
    if shutil.which("docker") is None:
        return "no docker client (as root: apt-get install docker.io docker-compose)"
    if answers(dict(os.environ)):
        return None
    if os.geteuid() != 0:
        return "no Docker engine answers and only root can start one"
    if shutil.which("dockerd") is None:
        return "no Docker engine and no dockerd (as root: apt-get install docker.io docker-compose)"
    return None


def _start_own(env: dict[str, str]) -> subprocess.Popen[bytes]:
    OWN_ROOT.mkdir(parents=True, exist_ok=True)
    OWN_DATA.mkdir(parents=True, exist_ok=True)
    log = open(OWN_ROOT / "dockerd.log", "ab")  # handed to the child, closed below
    try:
        process = subprocess.Popen(
            ["dockerd", "--host", env["DOCKER_HOST"], "--data-root", str(OWN_DATA),
             "--exec-root", str(OWN_ROOT / "exec"), "--pidfile", str(OWN_ROOT / "dockerd.pid"),
             "--iptables=false"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()
    deadline = time.monotonic() + 60
    while not answers(env):
        if process.poll() is not None or time.monotonic() > deadline:
            _stop_own(process)
            tail = (OWN_ROOT / "dockerd.log").read_text(errors="replace")[-2000:]
            raise AssertionError(f"dockerd did not come up:\n{tail}")
        time.sleep(0.5)  # polling another process's readiness, bounded by the deadline
    return process


def _stop_own(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM by pid (dockerd stops its containers and its containerd), SIGKILL after a minute."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextmanager
def docker_engine() -> Iterator[Engine]:
    """The machine's engine, or ours for the duration of the block. Check why_no_engine() first."""
    env = dict(os.environ)
    process = None
    if not answers(env):
        env["DOCKER_HOST"] = f"unix://{OWN_ROOT}/docker.sock"
        process = _start_own(env)
    try:
        compose = compose_command(env)
        if compose is None:
            raise AssertionError("a Docker engine but no compose: apt-get install docker-compose")
        yield Engine(env, compose, process)
    finally:
        if process is not None:
            _stop_own(process)
