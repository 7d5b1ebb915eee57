"""How much market data md_ingest moves from CTP to NATS, how fast, and what memory does when NATS is away.

For each offered rate (ctp_sim's ``--tick-interval`` over its 9 futures, all subscribed), one run prints:

* (a) the rate at which the CTP API's own ``OnRtnDepthMarketData`` fires with an empty SPI (the venue
  ceiling on this machine), (md) ticks/s delivered to a NATS subscriber through md_ingest (a real
  ``python -m md_ingest`` process), and (b) ticks/s a bare nats-py publisher process delivers when it
  sends the same payloads at the rate (a) measured; md_ingest / (a) and md_ingest / (b);
* p50 / p99 latency from the venue callback (``Tick.ts_init`` is stamped there) to the subscriber;
* CPU µs per tick over the measuring window (utime + stime from ``/proc/<pid>/stat``): md_ingest's per
  published tick, (a)'s per callback (the CTP double's own share of md_ingest's figure: it runs in the same
  process) and (b)'s per message. Far less sensitive to other load on the box than p99;
* (c) p99: the bare publisher again, at the same rate, while ctp_sim keeps pushing the whole feed into a
  CTP double with an empty SPI on a thread of the publisher's own process (md_ingest's switch interval).
  (b) runs after ctp_sim stopped, on a quieter box; (c) carries the load md_ingest carries besides its own
  code, so (c) is the floor for md_ingest's p99 on this box with this double;
* then, at the highest rate, peak RSS of md_ingest while nats-server is stopped for ``--nats-down-s``
  seconds, and how many messages it dropped (counted, never buffered).

    .venv/bin/python bench/md_ingest.py                        # default: about 2.5 minutes
    .venv/bin/python bench/md_ingest.py --rates 1000,5000 --seconds 10 --nats-down-s 60
    .venv/bin/python bench/md_ingest.py --nats-down-s 0        # skip the RSS phase

Only the CTP side is driven here: ctp_sim can push thousands of depth updates a second, while
opend_sim's pushes are paced by its market steps (the Futu path shares everything after the adapter).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "services"), str(ROOT / "libs")]

from tradebus.natsd import NatsServer  # noqa: E402
from tradebus.schemas import MARKET_DATA_DECODER  # noqa: E402
from tradebus.schemas.market import Level, Tick  # noqa: E402

INSTRUMENTS = {"rb2601": "SHFE", "au2602": "SHFE", "m2601": "DCE", "i2601": "DCE", "TA601": "CZCE",
               "SR601": "CZCE", "IF2512": "CFFEX", "IC2512": "CFFEX", "sc2601": "INE"}
WARMUP_S = 1.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env() -> dict[str, str]:
    paths = [str(ROOT / "services"), str(ROOT / "libs"), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), "PYTHONUNBUFFERED": "1"}


def start_ctp_sim(state: Path, rate: int) -> tuple[subprocess.Popen[str], int, int]:
    interval = len(INSTRUMENTS) / rate
    td, md = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ctp_sim", "--td-port", str(td), "--md-port", str(md),
                             "--state-dir", str(state), "--tick-interval", f"{interval:.6f}"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=child_env())
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("ctp_sim ready"), line
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    return proc, td, md


def stop(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, sig)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(15)


# --- (a) the SDK's own callback rate with an empty handler ---------------------------------------


def start_empty_spi(md_port: int, flow: Path) -> tuple[Any, list[int]]:
    """A CTP md API (the double) logged in to ctp_sim and subscribed to every instrument, with an SPI that only
    counts its depth callbacks: (the api, [callbacks so far])."""
    from tradebus.ctp import import_ctp_modules
    from tradebus.ctp.api import create_md_api

    md, _ = import_ctp_modules()
    count = [0]
    logged_in = threading.Event()
    front = f"sim://127.0.0.1:{md_port}"
    api = create_md_api(front, str(flow))

    class Spi(md.CThostFtdcMdSpi):  # type: ignore[misc,name-defined]
        def OnFrontConnected(self) -> None:
            field = md.CThostFtdcReqUserLoginField()
            field.BrokerID, field.UserID, field.Password = "9999", "000001", "123456"
            api.ReqUserLogin(field, 1)

        def OnRspUserLogin(self, *args: Any) -> None:
            logged_in.set()

        def OnRtnDepthMarketData(self, field: Any) -> None:
            count[0] += 1

    spi = Spi()
    api.RegisterSpi(spi)
    api.RegisterFront(front)
    api.Init()
    assert logged_in.wait(10)
    names = [name.encode() for name in INSTRUMENTS]
    api.SubscribeMarketData(names, len(names))
    return api, count


def empty_spi_rate(md_port: int, flow: Path, seconds: float) -> tuple[float, float]:
    """Callbacks/s, and CPU µs per callback of this process meanwhile (the loop only waits: the double's)."""
    api, count = start_empty_spi(md_port, flow)
    time.sleep(WARMUP_S)  # a benchmark's measuring window, not a race
    start_count, started, cpu0 = count[0], time.monotonic(), cpu_s(os.getpid())
    time.sleep(seconds)
    got, cpu = count[0] - start_count, cpu_s(os.getpid()) - cpu0
    rate = got / (time.monotonic() - started)
    api.Release()
    return rate, cpu / max(got, 1) * 1e6


# --- the subscriber --------------------------------------------------------------------------------


class Receiver:
    def __init__(self) -> None:
        self.count = 0
        self.latencies: list[int] = []
        self.measuring = False

    async def attach(self, url: str, subject: str) -> Any:
        import nats

        async def quiet(_exc: Exception) -> None:  # the RSS phase stops NATS on purpose
            pass

        nc = await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.2, error_cb=quiet)

        async def on_msg(msg: Any) -> None:
            now = time.time_ns()
            self.count += 1
            if self.measuring:
                tick = MARKET_DATA_DECODER.decode(msg.data)
                self.latencies.append(now - tick.ts_init)

        await nc.subscribe(subject, cb=on_msg)
        return nc

    async def measure(self, seconds: float) -> float:
        self.measuring, self.latencies = True, []
        start, started = self.count, time.monotonic()
        await asyncio.sleep(seconds)
        self.measuring = False
        return (self.count - start) / (time.monotonic() - started)

    def percentiles(self) -> tuple[float, float]:
        if len(self.latencies) < 2:
            return float("nan"), float("nan")
        cuts = statistics.quantiles(self.latencies, n=100)
        return cuts[49] / 1e6, cuts[98] / 1e6


async def wait_until(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out waiting for {what}")
        await asyncio.sleep(0.05)


# --- md_ingest --------------------------------------------------------------------------------------


def start_md_ingest(tmp: Path, nats_url: str, td: int, md: int, health: int) -> subprocess.Popen[str]:
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "md_ingest.toml"
    subs = ", ".join(f'"ctp.{exchange}.{symbol}"' for symbol, exchange in INSTRUMENTS.items())
    config.write_text(f"""
[nats]
url = "{nats_url}"
[data]
dir = "{tmp / 'var'}"
[log]
format = "json"
level = "warning"
[ctp]
md_front = "sim://127.0.0.1:{md}"
td_front = "sim://127.0.0.1:{td}"
password = "123456"
auth_code = "0000000000000000"
[md]
futu = false
subscriptions = [{subs}]
""")
    return subprocess.Popen([sys.executable, "-m", "md_ingest", "--config", str(config), "--health-port",
                             str(health)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env())


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """utime + stime of a process (every thread), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(health: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{health}/metrics", timeout=2).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


# --- (b) a bare nats-py publisher of the same payloads ------------------------------------------------


async def bare_publisher(url: str, rate: float, seconds: float) -> None:
    import nats

    nc = await nats.connect(url)
    template = Tick(venue="ctp", exchange="SHFE", symbol="rb2601", seq=0, ts_event=0, ts_init=0,
                    trading_day="20261123", last=3112.0, open=3100.0, high=3120.0, low=3095.0, prev_close=3101.0,
                    volume=123456, turnover=3.8e9, open_interest=456789, upper_limit=3298.0, lower_limit=2925.0,
                    average_price=3110.2, bids=tuple(Level(3111.0 - i, 10 + i) for i in range(5)),
                    asks=tuple(Level(3112.0 + i, 12 + i) for i in range(5)))
    encode = msgspec.json.Encoder().encode
    slot = 0.005
    per_slot = rate * slot
    owed, seq = 0.0, 0
    end = time.monotonic() + seconds
    next_slot = time.monotonic()
    while time.monotonic() < end:
        owed += per_slot
        while owed >= 1:
            owed -= 1
            seq += 1
            tick = msgspec.structs.replace(template, seq=seq, ts_init=time.time_ns())
            await nc.publish("md.tick.ctp.SHFE.rb2601", encode(tick))
        next_slot += slot
        await asyncio.sleep(max(0.0, next_slot - time.monotonic()))
    await nc.flush()
    await nc.close()


def bare_publisher_with_feed(url: str, rate: float, seconds: float, md_port: int, flow: Path) -> None:
    """(c): the bare publisher with what md_ingest carries besides its own code — the CTP double receiving
    ctp_sim's whole feed on a thread of the same process (empty SPI), at md_ingest's GIL switch interval.
    Its p99 is the floor md_ingest's p99 can reach on this box and this double."""
    from md_ingest.service import SWITCH_INTERVAL_S

    sys.setswitchinterval(SWITCH_INTERVAL_S)
    api, _ = start_empty_spi(md_port, flow)
    try:
        asyncio.run(bare_publisher(url, rate, seconds))
    finally:
        api.Release()


async def bare_rate(url: str, rate: float, seconds: float,
                    feed: tuple[int, Path] | None = None) -> tuple[float, tuple[float, float], float]:
    receiver = Receiver()
    nc = await receiver.attach(url, "md.tick.>")
    argv = [sys.executable, __file__, "--bare-publisher", url, str(rate), str(seconds + WARMUP_S + 1)]
    if feed is not None:
        argv += [str(feed[0]), str(feed[1])]
    proc = await asyncio.to_thread(subprocess.Popen, argv, env=child_env())
    await wait_until(lambda: receiver.count > 0, 10, "the bare publisher")
    await asyncio.sleep(WARMUP_S)
    count0, cpu0 = receiver.count, cpu_s(proc.pid)
    got = await receiver.measure(seconds)
    cpu_us = (cpu_s(proc.pid) - cpu0) / max(receiver.count - count0, 1) * 1e6
    await asyncio.to_thread(proc.wait, 30)
    await nc.close()
    return got, receiver.percentiles(), cpu_us


# --- the run -------------------------------------------------------------------------------------------


async def one_rate(tmp: Path, nats: NatsServer, rate: int, seconds: float) -> dict[str, Any]:
    sim, td, md = start_ctp_sim(tmp / f"ctp_{rate}", rate)
    try:
        sdk, sdk_cpu = await asyncio.to_thread(empty_spi_rate, md, tmp / f"flow_{rate}", seconds)
        receiver = Receiver()
        nc = await receiver.attach(nats.url, "md.tick.>")
        health = free_port()
        service = start_md_ingest(tmp / f"md_{rate}", nats.url, td, md, health)
        try:
            await wait_until(lambda: receiver.count > 0, 20, "md_ingest ticks")
            await asyncio.sleep(WARMUP_S)
            published0, cpu0 = metric(health, "tradebus_md_ticks_published_total"), cpu_s(service.pid)
            delivered = await receiver.measure(seconds)
            cpu = cpu_s(service.pid) - cpu0
            published = metric(health, "tradebus_md_ticks_published_total") - published0
            p50, p99 = receiver.percentiles()
            coalesced = metric(health, "tradebus_md_inbox_coalesced")
        finally:
            stop(service)
            await nc.close()
        _, (_, fed_p99), _ = await bare_rate(nats.url, sdk, seconds, (md, tmp / f"flow_fed_{rate}"))
    finally:
        stop(sim)
    bare, (_, bare_p99), bare_cpu = await bare_rate(nats.url, sdk, seconds)
    return {"rate": rate, "sdk": sdk, "md": delivered, "bare": bare, "p50": p50, "p99": p99, "coalesced": coalesced,
            "bare_p99": bare_p99, "fed_p99": fed_p99, "md_cpu": cpu / max(published, 1) * 1e6, "sdk_cpu": sdk_cpu,
            "bare_cpu": bare_cpu}


async def rss_phase(tmp: Path, nats: NatsServer, rate: int, down_s: float) -> dict[str, float]:
    sim, td, md = start_ctp_sim(tmp / "ctp_rss", rate)
    receiver = Receiver()
    nc = await receiver.attach(nats.url, "md.tick.>")
    health = free_port()
    service = start_md_ingest(tmp / "md_rss", nats.url, td, md, health)
    try:
        await wait_until(lambda: receiver.count > 0, 20, "md_ingest ticks")
        await asyncio.sleep(WARMUP_S)
        before = rss_mb(service.pid)
        nats.stop()
        peak = before
        end = time.monotonic() + down_s
        while time.monotonic() < end:
            peak = max(peak, rss_mb(service.pid))
            await asyncio.sleep(0.5)
        nats.start()
        seen = receiver.count
        await wait_until(lambda: receiver.count > seen + 100, 30, "ticks after NATS came back")
        return {"before": before, "peak": max(peak, rss_mb(service.pid)), "hwm": rss_mb(service.pid, "VmHWM"),
                "dropped": metric(health, "tradebus_md_dropped_total")}
    finally:
        stop(service)
        await nc.close()
        stop(sim)


async def run(args: argparse.Namespace) -> None:
    rates = [int(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory(prefix="md-bench-") as tmpdir:
        tmp = Path(tmpdir)
        nats = NatsServer(store_dir=tmp / "js")
        nats.start()
        try:
            print(f"md_ingest benchmark: {args.seconds:g}s per rate, {os.cpu_count()} CPUs, ctp_sim × 9 futures")
            print(f"{'offered/s':>9} {'(a) sdk/s':>10} {'md_ingest/s':>11} {'(b) bare/s':>10} {'md/(a)':>7} "
                  f"{'md/(b)':>7} {'p50 ms':>7} {'p99 ms':>7} {'(b) p99':>7} {'(c) p99':>7} {'coalesced':>9} "
                  f"{'md µs/tick':>10} {'(a) µs':>6} {'(b) µs':>6}")
            for rate in rates:
                r = await one_rate(tmp, nats, rate, args.seconds)
                print(f"{r['rate']:>9} {r['sdk']:>10.0f} {r['md']:>11.0f} {r['bare']:>10.0f} "
                      f"{r['md'] / r['sdk']:>7.0%} {r['md'] / r['bare']:>7.0%} {r['p50']:>7.2f} {r['p99']:>7.2f} "
                      f"{r['bare_p99']:>7.2f} {r['fed_p99']:>7.2f} {r['coalesced']:>9.0f} {r['md_cpu']:>10.1f} "
                      f"{r['sdk_cpu']:>6.1f} {r['bare_cpu']:>6.1f}", flush=True)
            if args.nats_down_s > 0:
                rate = max(rates)
                r2 = await rss_phase(tmp, nats, rate, args.nats_down_s)
                print(f"NATS stopped {args.nats_down_s:g}s at {rate}/s offered: RSS before {r2['before']:.0f} MB, "
                      f"peak {r2['peak']:.0f} MB (VmHWM {r2['hwm']:.0f} MB), {r2['dropped']:.0f} messages dropped "
                      "and counted")
        finally:
            nats.stop()


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--bare-publisher":
        asyncio.run(bare_publisher(sys.argv[2], float(sys.argv[3]), float(sys.argv[4])))
        return
    if len(sys.argv) == 7 and sys.argv[1] == "--bare-publisher":
        bare_publisher_with_feed(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]),
                                 Path(sys.argv[6]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="500,1000,2000,5000", help="offered ticks/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring window per rate")
    parser.add_argument("--nats-down-s", type=float, default=30.0, help="NATS outage for the RSS phase (0: skip)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
