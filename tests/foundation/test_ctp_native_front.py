"""Real CTP fronts (``tcp://``): the native openctp-ctp API dials the configured address.

No real front is reachable from a test, so a local TCP listener stands in for one: it sees the native
library connect and send its handshake, then closes, as an unreachable or refusing front would. The
services must report the failure (feed status / health, a log line), keep retrying, and never crash.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from up_harness import clean_env, wait_for

from tradebus.natsd import free_port

WAIT = 60.0
HANDSHAKE_BYTES = 40  # the native API's first packet (47 bytes) names its version, e.g. API_20171207


class FakeFront:
    """Accepts connections and never answers: a front that does not speak to this client."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.first_bytes: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed by the test
            self.accepted += 1
            threading.Thread(target=self._silent, args=(conn,), daemon=True).start()

    def _silent(self, conn: socket.socket) -> None:
        """Keep what the client sends first, answer nothing, and let the client give up and close."""
        with conn:
            conn.settimeout(10)
            first = b""
            try:
                while len(first) < HANDSHAKE_BYTES and (chunk := conn.recv(4096)):
                    first += chunk
                self.first_bytes.append(first)
                while conn.recv(4096):
                    pass
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def fronts() -> Iterator[tuple[FakeFront, FakeFront]]:
    md, td = FakeFront(), FakeFront()
    try:
        yield md, td
    finally:
        md.close()
        td.close()


def _healthz(port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:  # 503: not healthy, with the same JSON body
        return json.loads(exc.read())


def _service(module: str, tmp_path: Path, nats_url: str, md: FakeFront, td: FakeFront, health: int,
             extra: dict[str, str]) -> subprocess.Popen[str]:
    env = {**clean_env(tmp_path), "TRADEBUS_NATS_URL": nats_url, "TRADEBUS_DATA_DIR": str(tmp_path / module),
           "TRADEBUS_LOG_FORMAT": "json", "TRADEBUS_CTP_MD_FRONT": md.address, "TRADEBUS_CTP_TD_FRONT": td.address,
           "TRADEBUS_CTP_BROKER_ID": "4040", "TRADEBUS_CTP_USER_ID": "u77", "TRADEBUS_CTP_PASSWORD": "pw-secret-1",
           "TRADEBUS_CTP_APP_ID": "client_tradebus_1.0", "TRADEBUS_CTP_AUTH_CODE": "AUTHCODE00000001", **extra}
    return subprocess.Popen([sys.executable, "-m", module, "--health-port", str(health)], env=env, text=True,
                            stdout=open(tmp_path / f"{module}.log", "w"), stderr=subprocess.STDOUT)


@pytest.mark.parametrize(("module", "extra", "dials"), [
    ("md_ingest", {"TRADEBUS_MD_FUTU": "false", "TRADEBUS_MD_SUBSCRIPTIONS": "ctp.SHFE.rb2601"}, ("md", "td")),
    ("td_exec", {"TRADEBUS_TD_FUTU": "false"}, ("td",)),
])
def test_native_api_dials_the_configured_front_and_reports_the_failure(
        tmp_path: Path, nats_server: object, fronts: tuple[FakeFront, FakeFront], module: str,
        extra: dict[str, str], dials: tuple[str, ...]) -> None:
    md, td = fronts
    health = free_port()
    log_path = tmp_path / f"{module}.log"
    process = _service(module, tmp_path, nats_server.url, md, td, health, extra)  # type: ignore[attr-defined]
    try:
        # The native library itself connects to each configured front (its handshake names the CTP
        # API) and, since the front never answers, connects again: the trader session is retried.
        def dialled() -> bool:
            return all(front.first_bytes for front in (md, td) if (front is md and "md" in dials) or
                       (front is td and "td" in dials)) and td.accepted >= 2

        try:
            wait_for(dialled, WAIT, f"{module} to dial {dials} (the trader front twice)")
        except AssertionError as exc:
            raise AssertionError(f"{exc} (md {md.accepted}, td {td.accepted}); {module} said:\n"
                                 f"{log_path.read_text()[-3000:]}") from None
        for front in (md, td):
            assert all(b"API_" in first for first in front.first_bytes), front.first_bytes
        if "md" not in dials:
            assert md.accepted == 0
        body = wait_for(lambda: _healthz(health) if process.poll() is None else None, WAIT, f"{module} /healthz")
        assert body["state"] != "ok", body  # reported, not hidden
        assert process.poll() is None, f"{module} exited:\n{log_path.read_text()[-2000:]}"
        log = log_path.read_text()
        assert "front disconnected" in log or "connecting to tcp://" in log, log[-2000:]
        assert "pw-secret-1" not in log and "AUTHCODE00000001" not in log
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert process.returncode == 0, log_path.read_text()[-2000:]
