"""``python -m md_ingest --config FILE --health-port N``: both venues on the bus, /metrics, clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from mdingest_helpers import WAIT, SimProcess, free_port

from tradebus.bus import Bus
from tradebus.schemas import MARKET_DATA_DECODER
from tradebus.schemas.market import Tick


def _env() -> dict[str, str]:
    # A package added after the editable install is not in its finder until the next `pip install -e .`;
    # pytest puts services/ and libs/ on the path for the same reason, so does this child.
    root = Path(__file__).resolve().parents[2]
    paths = [str(root / "services"), str(root / "libs"), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=2) as rsp:
        return rsp.read().decode()


async def test_service_process(nats_server, bus: Bus, ctp_front: tuple[SimProcess, int, int],
                               opend: tuple[SimProcess, int], tmp_path: Path) -> None:
    _, td, md = ctp_front
    _, futu_port = opend
    health = free_port()
    config = tmp_path / "tradebus.toml"
    config.write_text(f"""
[nats]
url = "{nats_server.url}"
[data]
dir = "{tmp_path / 'var'}"
[log]
format = "json"
[futu]
port = {futu_port}
[ctp]
md_front = "sim://127.0.0.1:{md}"
td_front = "sim://127.0.0.1:{td}"
password = "123456"
auth_code = "0000000000000000"
[md]
subscriptions = ["futu.HK.00700", "ctp.SHFE.rb2601"]
""")
    ticks: dict[str, Tick] = {}
    got_both = asyncio.Event()

    async def on_tick(msg: object) -> None:
        tick = MARKET_DATA_DECODER.decode(msg.data)  # type: ignore[attr-defined]
        ticks[tick.venue] = tick
        if len(ticks) == 2:
            got_both.set()

    await bus.nc.subscribe("md.tick.>", cb=on_tick)
    log_path = tmp_path / "md_ingest.log"
    log_file = log_path.open("w")
    argv = [sys.executable, "-m", "md_ingest", "--config", str(config), "--health-port", str(health)]
    proc = await asyncio.to_thread(lambda: subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT,
                                                            text=True, env=_env()))
    try:
        try:
            await asyncio.wait_for(got_both.wait(), WAIT)
        except TimeoutError:
            raise AssertionError(f"ticks seen: {sorted(ticks)}; log: {log_path.read_text()[-3000:]}") from None
        assert ticks["futu"].symbol == "00700" and ticks["ctp"].symbol == "rb2601"
        metrics = await asyncio.to_thread(_get, f"http://127.0.0.1:{health}/metrics")
        assert 'tradebus_md_ticks_published_total{venue="ctp"}' in metrics
        assert 'tradebus_md_feed_up{venue="futu"} 1' in metrics
        assert "tradebus_md_inbox_coalesced" in metrics
        health_json = await asyncio.to_thread(_get, f"http://127.0.0.1:{health}/healthz")
        assert '"feed_ctp":"ok"' in health_json and '"feed_futu":"ok"' in health_json
        os.kill(proc.pid, signal.SIGTERM)
        await asyncio.to_thread(proc.wait, WAIT)
        log_text = log_path.read_text()
        assert proc.returncode == 0, log_text[-2000:]
        assert "123456" not in log_text  # secrets never reach the log
        assert list((tmp_path / "var" / "md_ingest" / "futu_home").rglob("py_*.log"))  # futu's logs live here
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(WAIT)
        log_file.close()
