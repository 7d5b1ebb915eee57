"""`tradebus up` end to end: NATS + simulators + supervisor, status over the bus, Ctrl-C leaves nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
import websockets
from up_harness import UpRun, finish_opend_login, healthy_rows, pid_alive, run_up, wait_for, wait_healthy
from webctp_frames import BOTH_VENUES, depth_of, rb2601_buy

from tradebus.users import UserStore


@pytest.fixture
def up(tmp_path: Path) -> Iterator[UpRun]:
    with run_up(tmp_path) as run:
        yield run


async def _anonymous_connect(url: str) -> bool:
    try:
        nc = await nats.connect(url, allow_reconnect=False, connect_timeout=2, max_reconnect_attempts=0)
    except Exception:
        return False
    await nc.close()
    return True


def test_up_runs_everything_healthy_then_ctrl_c_leaves_nothing(up: UpRun) -> None:
    finish_opend_login(up)
    rows = wait_healthy(up)
    names = {row["service"] for row in rows}
    assert {"supervisor", "ctp_sim", "auth_broker", "opend", "md_ingest", "td_exec", "ws_edge",
            "fmz_edge"} <= names
    assert all(row["healthy"] for row in rows)

    # Ticks from both venues reach the bus (issue #4: within 10 s of asking).
    ticks = up.tradebus("tail", "md.tick.>", "--nats-url", up.nats_url, "-n", "60", "--duration", "10")
    venues = {json.loads(line)["subject"].split(".")[2] for line in ticks.stdout.splitlines()}
    assert venues == {"futu", "ctp"}, ticks.stdout[-1000:]

    # A first run creates the demo edge user for the simulated accounts and prints its password once.
    output = up.output()
    password = output.split("user=demo password=", 1)[1].split()[0]
    store = UserStore(Path(up.env["TRADEBUS_DATA_DIR"]) / "users.json")
    demo = store.verify_password("demo", password)
    assert demo is not None and demo.may_use("ctp", "000001")
    assert any(venue == "futu" for venue, _ in demo.account_list())
    assert password not in (Path(up.env["TRADEBUS_DATA_DIR"]) / "users.json").read_text()

    # The embedded server runs the repo's permissions: no anonymous client gets in.
    assert not asyncio.run(_anonymous_connect(up.nats_url))

    human = up.tradebus("status", "--nats-url", up.nats_url)
    assert human.returncode == 0 and "md_ingest" in human.stdout and "HEALTHY" in human.stdout

    tail = up.tradebus("tail", "sys.>", "--nats-url", up.nats_url, "-n", "2", "--duration", "10")
    assert tail.returncode == 0
    beats = [json.loads(line) for line in tail.stdout.splitlines()]
    assert len(beats) == 2
    assert all(b["subject"].startswith("sys.health.") and b["data"]["type"] == "Heartbeat" for b in beats)

    nats_pid = int(up.output().split("pid ", 1)[1].split(")", 1)[0])
    pids = [nats_pid, up.process.pid, *(row["pid"] for row in rows if row["pid"])]
    assert all(pid_alive(pid) for pid in pids)

    started = time.monotonic()
    os.kill(up.process.pid, signal.SIGINT)
    code = up.process.wait(timeout=15)
    elapsed = time.monotonic() - started
    assert code == 0, up.output()[-2000:]
    assert elapsed < 10
    wait_for(lambda: not any(pid_alive(pid) for pid in pids), 2, "every process to be gone")
    assert "tradebus up: stopped" in up.output()


def test_up_restarts_a_child_that_dies(up: UpRun) -> None:
    finish_opend_login(up)
    rows = wait_healthy(up)
    victim = next(row for row in rows if row["service"] == "ctp_sim")
    os.kill(victim["pid"], signal.SIGKILL)

    def restarted() -> dict | None:
        again = healthy_rows(up)
        row = next((r for r in again or [] if r["service"] == "ctp_sim"), None)
        return row if row and row["pid"] != victim["pid"] and row["restarts"] == 1 else None

    row = wait_for(restarted, 30, "ctp_sim restarted and healthy")
    assert row["healthy"]


def test_up_with_port_in_use_names_the_port_and_the_flag(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "supervisor", "up", "--data-dir", str(tmp_path), "--nats-port", str(port)],
            capture_output=True, text=True, timeout=30, env={**os.environ, "HOME": str(tmp_path)})
    assert result.returncode == 2
    assert f"port {port} (NATS client port) is already in use; choose another with --nats-port" in result.stderr


async def _recv_until(ws: Any, predicate: Any, timeout: float = 15.0) -> list[dict]:
    """Frames until one satisfies ``predicate`` (all of them returned), within ``timeout``."""
    seen: list[dict] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await ws.recv())
                seen.append(frame)
                if predicate(frame):
                    return seen
    except TimeoutError:
        raise AssertionError(f"no expected frame within {timeout}s; got {seen}") from None


async def _webctp_flow(ws_port: int, password: str) -> dict[str, Any]:
    """webctp's example flow: login, subscribe a CTP contract and HK.00700, depth, order, fills, position."""
    md_url, td_url = f"ws://127.0.0.1:{ws_port}/md/", f"ws://127.0.0.1:{ws_port}/td/"
    login = {"MsgType": "ReqUserLogin", "ReqUserLogin": {"UserID": "demo", "Password": password}, "RequestID": 1}
    async with websockets.connect(md_url) as md, websockets.connect(td_url) as td:
        await md.send(json.dumps(login))
        assert (await _recv_until(md, lambda f: f["MsgType"] == "RspUserLogin"))[-1]["RspInfo"]["ErrorID"] == 0
        await md.send(json.dumps({"MsgType": "SubscribeMarketData", "InstrumentID": list(BOTH_VENUES),
                                  "RequestID": 2}))
        depth, all_seen = depth_of(BOTH_VENUES)
        await _recv_until(md, all_seen)
        await td.send(json.dumps(login))
        assert (await _recv_until(td, lambda f: f["MsgType"] == "RspUserLogin"))[-1]["RspInfo"]["ErrorID"] == 0
        order = rb2601_buy(depth["rb2601"]["AskPrice1"] + 5)
        await td.send(json.dumps({"MsgType": "ReqOrderInsert", "InputOrder": order, "RequestID": 3}))
        pushes = await _recv_until(td, lambda f: f["MsgType"] == "RtnTrade", timeout=20)
        await td.send(json.dumps({"MsgType": "ReqQryInvestorPosition", "RequestID": 4,
                                  "QryInvestorPosition": {"BrokerID": "9999", "InvestorID": "000001"}}))
        positions = await _recv_until(td, lambda f: f["MsgType"] == "RspQryInvestorPosition" and f.get("IsLast"))
    return {"pushes": pushes, "positions": positions}


def _fmz(port: int, access: str, secret: str, path: str, method: str, params: dict) -> dict:
    body = json.dumps({"access_key": access, "secret_key": secret, "method": method, "params": params,
                       "nonce": time.time_ns() // 1_000_000}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", body, method="POST")
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.loads(response.read())


def test_up_edges_reach_both_venues_through_the_whole_chain(up: UpRun) -> None:
    finish_opend_login(up)
    wait_healthy(up)
    password, access, secret = up.demo_credentials()

    flow = asyncio.run(_webctp_flow(int(up.env["TRADEBUS_WS_MD_PORT"]), password))
    kinds = [f["MsgType"] for f in flow["pushes"]]
    assert "RtnOrder" in kinds and kinds[-1] == "RtnTrade"
    assert flow["pushes"][-1]["Trade"]["InstrumentID"] == "rb2601"
    held = [f["InvestorPosition"] for f in flow["positions"] if f.get("InvestorPosition")]
    assert any(p["InstrumentID"] == "rb2601" and p["Position"] >= 1 for p in held)

    fmz_port = int(up.env["TRADEBUS_FMZ_PORT"])
    ticker = _fmz(fmz_port, access, secret, "/ctp", "ticker", {"symbol": "rb2601.SHFE_CNY"})
    assert float(ticker.get("data", {}).get("last", 0)) > 0, ticker
    futu_account = next(account for venue, account in up.demo_accounts() if venue == "futu")
    hk = _fmz(fmz_port, access, secret, f"/futu/{futu_account}", "ticker", {"symbol": "00700.HK_HKD"})
    assert float(hk.get("data", {}).get("last", 0)) > 0, hk
    wrong = _fmz(fmz_port, access, "0" * 64, "/ctp", "ticker", {"symbol": "rb2601.SHFE_CNY"})
    assert "error" in wrong
