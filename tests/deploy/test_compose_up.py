"""`docker compose up` for real: the image is built, the stack runs, clients use it through the published ports.

What README "docker compose" tells an operator, done by a test: base images made locally when they
cannot be pulled (scripts/local-images), the image built offline from the locked wheelhouse
(scripts/wheelhouse, --build-arg OFFLINE=1), an .env from .env.example with generated secrets,
`up -d` with the sim profile, OpenD's verify code given by an ostai-protocol client, every service
healthy, a webctp client and an FMZ client at work, then `down` / `up` again with the orders still
there, SIGTERM honoured within the grace period, JSON logs, and `down -v` leaving nothing behind.
Without a Docker engine (and no way to start one) it skips with one line.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nats
import pytest
from docker_engine import Engine, docker_engine, run, why_no_engine
from polling import wait_for
from webctp_frames import BOTH_VENUES, depth_of, rb2601_buy
from websockets.sync.client import ClientConnection, connect

REPO = Path(__file__).resolve().parents[2]
PROJECT = "tradebus-compose-test"
PUBLISHED = {"auth_broker": 8000, "ws_md": 8080, "ws_td": 8081, "fmz": 6666}
SERVICES = ("nats", "ctp_sim", "auth_broker", "md_ingest", "td_exec", "ws_edge", "fmz_edge")
PYTHON_SERVICES = SERVICES[1:]
SIM_VERIFY_CODE = "123456"  # opend_sim's SMS code (docs/simulators.md)
SECRETS = re.compile(r"^(TRADEBUS_NATS_PW_[A-Z_]+|TRADEBUS_NATS_ROUTE_PW|TRADEBUS_AUTH_TOKEN)=.*$", re.M)

pytestmark = pytest.mark.timeout(900)


class Stack:
    """One compose project, driven through the same commands README gives."""

    def __init__(self, engine: Engine, workdir: Path) -> None:
        self.engine = engine
        self.env_file = workdir / ".env"
        self.timings: dict[str, float] = {}

    def compose(self, *args: str, timeout: float = 300, stdin: str | None = None) -> str:
        cmd = [*self.engine.compose, "--project-name", PROJECT, "--file", str(REPO / "compose.yaml"),
               "--env-file", str(self.env_file), "--profile", "sim", *args]
        return run(cmd, self.engine.env, timeout, stdin=stdin).stdout

    def containers(self) -> dict[str, str]:
        """service -> container id, for this project only."""
        out = self.engine.docker("ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}",
                                 "--format", '{{.ID}} {{.Label "com.docker.compose.service"}}').stdout
        return {line.split()[1]: line.split()[0] for line in out.splitlines() if line.strip()}

    def inspect(self, service: str, template: str) -> str:
        return self.engine.docker("inspect", "--format", template, self.containers()[service]).stdout.strip()

    def health(self) -> dict[str, str]:
        return {service: self.inspect(service, "{{if .State.Health}}{{.State.Health.Status}}{{end}}")
                for service in SERVICES}

    def timed(self, phase: str, started: float) -> None:
        self.timings[phase] = round(time.monotonic() - started, 1)


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def make_env_file(path: Path) -> str:
    """.env.example with every NATS password and the auth token replaced by a fresh secret; the token."""
    token = "tb" + secrets.token_hex(16)

    def fresh(match: re.Match[str]) -> str:
        name = match[1]
        return f"{name}={token if name == 'TRADEBUS_AUTH_TOKEN' else 'tb' + secrets.token_hex(16)}"

    path.write_text(SECRETS.sub(fresh, (REPO / ".env.example").read_text()))
    path.chmod(0o600)
    return token


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    reason = why_no_engine()
    if reason:
        pytest.skip(f"compose test skipped: {reason}")
    with docker_engine() as found:
        yield found


def build_images(engine: Engine, stack: Stack) -> None:
    started = time.monotonic()
    run([str(REPO / "scripts" / "local-images")], engine.env, 600)
    stack.timed("base images", started)
    started = time.monotonic()
    run([str(REPO / "scripts" / "wheelhouse")], engine.env, 300)
    # On our own base image (locales built in) the offline build needs no network at all, and --network
    # none proves it; an official python:3.11-slim still fetches Debian's `locales` with apt.
    base = engine.docker("image", "inspect", "--format", "{{.Comment}}", "python:3.11-slim").stdout
    network = ["--network", "none"] if "scripts/local-images" in base else []
    engine.docker("build", *network, "--build-arg", "OFFLINE=1", "--tag", "tradebus:latest", str(REPO), timeout=600)
    stack.timed("image build", started)


def up_and_healthy(stack: Stack, verify_code_token: str | None) -> None:
    started = time.monotonic()
    stack.compose("up", "-d")
    if verify_code_token is not None:
        assert ostai_login(verify_code_token) == ["REQUEST_CODE", "CONNECTED"]
    try:
        wait_for(lambda: all(s == "healthy" for s in stack.health().values()), 180, "every service healthy", interval=1)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {stack.health()}\n{stack.compose('logs', '--tail', '20')[-6000:]}") from None
    stack.timed("up until healthy" + (" (first)" if verify_code_token else " (again)"), started)


def ostai_login(token: str) -> list[str]:
    """An ostai/futuopend client: wait for REQUEST_CODE, send the code, wait for CONNECTED."""
    seen: list[str] = []
    wait_for(lambda: listening(PUBLISHED["auth_broker"]), 60, "auth_broker's WebSocket port", interval=1)
    with connect(f"ws://127.0.0.1:{PUBLISHED['auth_broker']}/?token={token}", open_timeout=10) as ws:
        for kind in ("REQUEST_CODE", "CONNECTED"):
            while True:
                frame = json.loads(ws.recv(timeout=60))
                if frame["type"] == kind:
                    seen.append(kind)
                    break
            if kind == "REQUEST_CODE":
                ws.send(json.dumps({"type": "VERIFY_CODE", "code": SIM_VERIFY_CODE}))
    return seen


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return False
    return True


def recv_until(ws: ClientConnection, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if predicate(frame):
            return frame
        seen.append(frame.get("MsgType", "?"))
    raise AssertionError(f"no expected frame within {timeout}s; got {seen[-20:]}")


@contextmanager
def webctp_login(path: str, port: int, password: str) -> Iterator[ClientConnection]:
    wait_for(lambda: listening(port), 30, f"ws_edge's port {port}", interval=1)
    with connect(f"ws://127.0.0.1:{port}{path}", open_timeout=10) as ws:
        ws.send(json.dumps({"MsgType": "ReqUserLogin", "ReqUserLogin": {"UserID": "demo", "Password": password},
                            "RequestID": 1}))
        reply = recv_until(ws, lambda f: f["MsgType"] == "RspUserLogin")
        assert reply["RspInfo"]["ErrorID"] == 0, reply
        yield ws


def webctp_session(password: str) -> str:
    """Subscribe rb2601 and HK.00700, place an order that rests, cancel it; its OrderSysID."""
    with webctp_login("/md/", PUBLISHED["ws_md"], password) as md:
        md.send(json.dumps({"MsgType": "SubscribeMarketData", "InstrumentID": list(BOTH_VENUES), "RequestID": 2}))
        depth, all_seen = depth_of(BOTH_VENUES)
        recv_until(md, all_seen)
    with webctp_login("/td/", PUBLISHED["ws_td"], password) as td:
        order = rb2601_buy(depth["rb2601"]["BidPrice1"] - 100)  # below the market: it rests
        td.send(json.dumps({"MsgType": "ReqOrderInsert", "InputOrder": order, "RequestID": 3}))
        resting = recv_until(td, lambda f: f["MsgType"] == "RtnOrder" and f["Order"]["OrderStatus"] == "3")["Order"]
        td.send(json.dumps({"MsgType": "ReqOrderAction", "RequestID": 4, "InputOrderAction": {
            "BrokerID": "9999", "InvestorID": "000001", "ExchangeID": "SHFE", "InstrumentID": "rb2601",
            "ActionFlag": "0", "OrderSysID": resting["OrderSysID"]}}))
        recv_until(td, lambda f: f["MsgType"] == "RtnOrder" and f["Order"]["OrderStatus"] == "5")
    return str(resting["OrderSysID"])


def webctp_orders(password: str) -> dict[str, str]:
    """OrderSysID -> OrderStatus of every order ws_edge reports for account 000001."""
    with webctp_login("/td/", PUBLISHED["ws_td"], password) as td:
        td.send(json.dumps({"MsgType": "ReqQryOrder", "QryOrder": {"InvestorID": "000001"}, "RequestID": 5}))
        orders: dict[str, str] = {}

        def last(frame: dict) -> bool:
            if frame["MsgType"] != "RspQryOrder":
                return False
            if frame.get("Order"):
                orders[frame["Order"]["OrderSysID"]] = frame["Order"]["OrderStatus"]
            return bool(frame.get("IsLast"))

        recv_until(td, last)
    return orders


def fmz_ticker(access: str, secret: str) -> dict[str, Any]:
    body = json.dumps({"access_key": access, "secret_key": secret, "method": "ticker",
                       "params": {"symbol": "rb2601.SHFE_CNY"}, "nonce": time.time_ns() // 1_000_000}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{PUBLISHED['fmz']}/ctp", body, method="POST")
    with urllib.request.urlopen(request, timeout=15) as response:
        return dict(json.loads(response.read()))


def add_demo_user(stack: Stack) -> tuple[str, str, str]:
    """README step 3, with the password on stdin; (password, access_key, secret_key)."""
    password = "pw" + secrets.token_hex(10)
    out = stack.compose("run", "--rm", "--no-deps", "-T", "ws_edge", "tradebus", "user", "add", "demo",
                        "--accounts", "ctp:000001,futu:*", "--fmz", "--password-stdin", stdin=password + "\n")
    keys = re.search(r"access_key=(\S+) secret_key=(\S+)", out)
    assert keys, out
    return password, keys[1], keys[2]


def stop_within_grace(stack: Stack) -> None:
    """`stop` sends SIGTERM and SIGKILLs after 10 s: exit 137 would mean a service ignored SIGTERM."""
    started = time.monotonic()
    stack.compose("stop")
    codes = {service: stack.inspect(service, "{{.State.ExitCode}}") for service in SERVICES}
    assert all(code == "0" for code in codes.values()), f"exit codes after SIGTERM: {codes}"
    stack.timed("stop (SIGTERM)", started)


def logs_are_json(stack: Stack) -> None:
    """Every line a container wrote is one JSON object with an event and a level (what a log shipper reads)."""
    for service in PYTHON_SERVICES:
        # compose sets [log] stream = "stdout": the services' JSON lines are on stdout and nothing is on
        # stderr; ctp_sim (no tradebus config) prints its ready line on stdout and logs nothing else here.
        output = stack.engine.docker("logs", stack.containers()[service])
        assert not output.stderr.strip(), f"{service} wrote to stderr: {output.stderr[:300]!r}"
        lines = output.stdout.splitlines()
        assert lines, f"{service} logged nothing"
        for line in lines:
            if service == "ctp_sim" and line.startswith("ctp_sim ready "):
                continue  # the simulator's one readiness line, which its harnesses wait for (docs/simulators.md)
            try:
                record = json.loads(line)  # every stdout line is one JSON object
            except ValueError:
                raise AssertionError(f"{service} logged a line that is not JSON: {line[:300]!r}") from None
            assert "event" in record and "level" in record, (service, line)


def test_compose_up_for_real(engine: Engine, tmp_path: Path) -> None:
    busy = [port for port in PUBLISHED.values() if not port_free(port)]
    if busy:
        pytest.skip(f"compose test skipped: 127.0.0.1 ports {busy} are in use (another tradebus is running)")
    stack = Stack(engine, tmp_path)
    token = make_env_file(stack.env_file)
    stack.compose("down", "--volumes", "--remove-orphans")  # a run that was killed may have left some
    try:
        build_images(engine, stack)
        up_and_healthy(stack, verify_code_token=token)
        password, access, secret = add_demo_user(stack)
        order_id = webctp_session(password)
        ticker = fmz_ticker(access, secret)
        assert float(ticker.get("data", {}).get("last", 0)) > 0, ticker
        assert webctp_orders(password)[order_id] == "5"

        stop_within_grace(stack)
        logs_are_json(stack)
        stack.compose("down")
        up_and_healthy(stack, verify_code_token=None)  # the device is trusted now: no code asked
        assert webctp_orders(password).get(order_id) == "5", "the cancelled order did not survive down/up"
    finally:
        stack.compose("down", "--volumes", "--remove-orphans")
        print(f"compose test timings (s): {stack.timings}")
    assert stack.containers() == {}
    volumes = engine.docker("volume", "ls", "--quiet", "--filter", f"label=com.docker.compose.project={PROJECT}")
    assert volumes.stdout.strip() == ""


def test_testcontainers_nats_runs_from_the_local_image(engine: Engine, request: pytest.FixtureRequest,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite's nats_server fixture, when an engine has compose's NATS image, runs it with testcontainers."""
    run([str(REPO / "scripts" / "local-images")], engine.env, 600)
    if "DOCKER_HOST" in engine.env:
        monkeypatch.setenv("DOCKER_HOST", engine.env["DOCKER_HOST"])
    endpoint = request.getfixturevalue("nats_server")
    assert endpoint.server is None, "expected a container, got the embedded nats-server"

    async def jetstream_roundtrip() -> int:
        nc = await nats.connect(endpoint.url, connect_timeout=5)
        try:
            js = nc.jetstream()
            await js.add_stream(name="CHECK", subjects=["check.>"])
            ack = await js.publish("check.one", b"x")
            return ack.seq
        finally:
            await nc.close()

    assert asyncio.run(jetstream_roundtrip()) == 1


def test_make_env_file_replaces_every_secret_but_keeps_the_rest(tmp_path: Path) -> None:
    token = make_env_file(tmp_path / ".env")
    made = (tmp_path / ".env").read_text()
    assert f"TRADEBUS_AUTH_TOKEN={token}" in made and "changeme" not in made
    example = (REPO / ".env.example").read_text()
    assert len(SECRETS.findall(example)) == 9  # seven bus users, the cluster routes, the token
    assert [line for line in made.splitlines() if not SECRETS.match(line)] == \
        [line for line in example.splitlines() if not SECRETS.match(line)]
    assert (tmp_path / ".env").stat().st_mode & 0o777 == 0o600


def test_skip_reason_is_one_line_without_an_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEBUS_TEST_NO_DOCKER", "1")
    reason = why_no_engine()
    assert reason and "\n" not in reason


def test_helpers_fail_clearly() -> None:
    with pytest.raises(AssertionError, match="exited 3"):
        run(["sh", "-c", "exit 3"], {"PATH": "/usr/bin:/bin"}, 10)
    with pytest.raises(subprocess.TimeoutExpired):
        run(["sleep", "5"], {"PATH": "/usr/bin:/bin"}, 0.2)
