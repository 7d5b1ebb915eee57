"""The double's line supervision against a front that says hello and then falls silent."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from ctpsim_helpers import TraderSpi

from tradebus.ctp import sim_api, wire
from tradebus.ctp.sim_api import SimTraderApi


@pytest.fixture
def silent_front() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    conns: list[socket.socket] = []

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conns.append(conn)
            conn.sendall(wire.encode(wire.Frame(kind="hello", trading_day="20251211", front_id=1)))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in conns:
            conn.close()
        server.close()


def test_silence_warns_then_disconnects_then_reconnects(silent_front: int, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim_api, "HEARTBEAT_INTERVAL", 0.2)
    monkeypatch.setattr(sim_api, "HEARTBEAT_WARNING", 0.4)
    monkeypatch.setattr(sim_api, "HEARTBEAT_TIMEOUT", 1.0)
    monkeypatch.setattr(sim_api, "RECONNECT_INTERVAL", 0.1)
    api = SimTraderApi(str(tmp_path))
    spi = TraderSpi()
    api.RegisterSpi(spi)
    api.RegisterFront(f"sim://127.0.0.1:{silent_front}")
    api.Init()
    try:
        spi.rec.wait("OnFrontConnected")
        assert api.GetTradingDay() == "20251211"
        lapse = spi.rec.wait("OnHeartBeatWarning").args[0]
        assert lapse >= 0
        assert spi.rec.wait("OnFrontDisconnected").args[0] == 0x2001
        spi.rec.wait("OnFrontConnected")  # the api keeps trying and gets back in
    finally:
        api.Release()
