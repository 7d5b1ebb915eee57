"""`tradebus up --no-sims` against an OpenD and a CTP front it does not run (each its own process).

The OpenD is opend_sim started by the test, as an operator's OpenD on another host would be: tradebus
must follow its login through its API only, never try to start FutuOpenD, and md_ingest / td_exec must
use ``[futu] host/port``. The same runs against ``core_opend`` (tests/support), an independent OpenD
that answers only the protocol's core calls, when that module is present.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import msgspec
import nats
import pytest
from ctp_front import CtpFront
from up_harness import config_file_for, run_up_with_config, up_ports, wait_for, wait_healthy

from supervisor.registry import CTP_SIM_AUTH_CODE, CTP_SIM_PASSWORD, SIM_LOGIN_ACCOUNT, SIM_LOGIN_PWD_MD5
from tradebus.bus.flush import flush_in_order
from tradebus.bus.replay import last_message
from tradebus.natsd import free_port
from tradebus.schemas import MARKET_DATA_DECODER, TRADE_REPLY_DECODER, encode
from tradebus.schemas.orders import CommandAccepted, Side, SubmitOrder
from tradebus.subjects import md_tick, td_cmd

TRADE_PWD_MD5 = hashlib.md5(b"123456").hexdigest()  # opend_sim's default trade password
WAIT = 60.0


@pytest.fixture
def ctp(tmp_path: Path) -> Iterator[CtpFront]:
    front = CtpFront(tmp_path / "ctp_sim").start()
    try:
        yield front
    finally:
        front.stop()


def _start_opend(state_dir: Path, port: int) -> subprocess.Popen[bytes]:
    from opend_sim.state_dir import trust_device

    trust_device(state_dir)  # a device that passed its SMS check before: OpenD logs straight in
    return subprocess.Popen([sys.executable, "-m", "opend_sim", f"-login_account={SIM_LOGIN_ACCOUNT}",
                             f"-login_pwd_md5={SIM_LOGIN_PWD_MD5}", f"-api_port={port}", "-api_ip=127.0.0.1",
                             f"--state-dir={state_dir}"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _config(tmp_path: Path, ports: dict[str, int], opend_port: int, ctp: CtpFront) -> Path:
    extra = f"""
[futu]
host = "127.0.0.1"
port = {opend_port}
trade_pwd_md5 = "{TRADE_PWD_MD5}"

[ctp]
md_front = "sim://127.0.0.1:{ctp.md_port}"
td_front = "sim://127.0.0.1:{ctp.td_port}"
password = "{CTP_SIM_PASSWORD}"
auth_code = "{CTP_SIM_AUTH_CODE}"

[md]
subscriptions = ["futu.HK.00700", "ctp.SHFE.rb2601"]
stale_hours = "always"
"""
    return config_file_for(tmp_path, ports, extra)


def _opend_row(rows: list[dict]) -> dict | None:
    return next((row for row in rows if row["service"] == "opend"), None)


def _status(run: object) -> list[dict]:
    result = run.tradebus("status", "--nats-url", run.nats_url, "--json", "--timeout", "3")  # type: ignore[attr-defined]
    return [json.loads(line) for line in result.stdout.splitlines()]


async def _tick_then_order(url: str, account: str, cid: str = "remote-opend-1") -> tuple[dict, list[dict]]:
    nc = await nats.connect(url, allow_reconnect=False)
    try:
        ticks = await nc.subscribe("md.tick.futu.>")
        await flush_in_order(nc)
        # The tick md_ingest stored, or the next one live: an OpenD that pushes a quote only once, when the
        # subscription is made (the core OpenD), may have done so before this test subscribed.
        stored = await last_message(nc.jetstream(), "MD", md_tick("futu", "HK", "00700"), MARKET_DATA_DECODER)
        if stored is None:
            stored = MARKET_DATA_DECODER.decode((await ticks.next_msg(timeout=WAIT)).data)
        tick = msgspec.to_builtins(stored)
        events = await nc.subscribe(f"td.evt.futu.{account}.>")
        order = SubmitOrder(venue="futu", account=account, exchange="HK", symbol="00700", side=Side.BUY, qty=100,
                            price=tick["last"], client_order_id=cid)
        reply = TRADE_REPLY_DECODER.decode((await nc.request(td_cmd("futu", account), encode(order),
                                                             timeout=30)).data)
        assert isinstance(reply, CommandAccepted), reply
        seen: list[dict] = []
        async with asyncio.timeout(WAIT):
            while not any(event.get("venue_order_id") for event in seen):
                seen.append(json.loads((await events.next_msg(timeout=WAIT)).data))
        return tick, seen
    finally:
        await nc.close()


def test_no_sims_uses_an_opend_run_elsewhere_through_its_api(tmp_path: Path, ctp: CtpFront) -> None:
    ports = up_ports()
    # Not [up] opend_api_port (that is where an OpenD run by tradebus would listen): [futu] port only.
    opend_port = next(port for port in iter(free_port, 0) if port not in ports.values())
    config = _config(tmp_path, ports, opend_port, ctp)
    opend: subprocess.Popen[bytes] | None = None
    with run_up_with_config(tmp_path, config, ports, "--no-sims", "--open-bus") as run:
        try:
            # No OpenD yet: the broker says so (from the API port, not from a process) and starts none.
            closed = wait_for(lambda: (row := _opend_row(_status(run))) and row["state"] == "external, closed"
                              and row, WAIT, "auth_broker to report the external OpenD closed")
            assert not closed["healthy"] and closed["pid"] is None
            assert f"127.0.0.1:{opend_port}" in closed["detail"]

            opend = _start_opend(tmp_path / "opend_state", opend_port)
            rows = wait_healthy(run, timeout=WAIT)
            row = _opend_row(rows)
            assert row is not None and row["state"] == "external, connected" and row["healthy"]
            assert "ctp_sim" not in {r["service"] for r in rows}  # --no-sims: tradebus runs no venue

            from opend_sim.api.accounts import build_accounts

            account = str(build_accounts(SIM_LOGIN_ACCOUNT)[0].acc_id)
            tick, events = asyncio.run(_tick_then_order(run.nats_url, account))
            assert tick["venue"] == "futu" and tick["symbol"] == "00700" and tick["last"]
            assert any(e.get("venue_order_id") for e in events), events

            output = run.output()
            assert "opend started" not in output and "opend could not be started" not in output

            # OpenD gone: reported closed again, and nothing tries to start one.
            opend.kill()
            opend.wait()
            wait_for(lambda: (row := _opend_row(_status(run))) and row["state"] == "external, closed",
                     WAIT, "auth_broker to see the external OpenD go away")
            assert "opend started" not in run.output()
        finally:
            if opend is not None:
                opend.kill()
                opend.wait()


def test_no_sims_with_an_opend_that_answers_only_the_core_calls(tmp_path: Path, ctp: CtpFront) -> None:
    core_opend = pytest.importorskip("core_opend")
    opend = core_opend.CoreOpenDThread()
    opend_port = opend.start()
    try:
        ports = up_ports()
        config = _config(tmp_path, ports, opend_port, ctp)
        with run_up_with_config(tmp_path, config, ports, "--no-sims", "--open-bus") as run:
            row = _opend_row(wait_healthy(run, timeout=WAIT))
            assert row is not None and row["state"] == "external, connected", row
            account = str(next(iter(opend.call(lambda: dict(opend.opend.accounts)))))
            tick, events = asyncio.run(_tick_then_order(run.nats_url, account, "remote-core-1"))
            assert tick["symbol"] == "00700" and tick["last"]
            assert any(e.get("venue_order_id") for e in events), events
    finally:
        opend.stop()
