"""md_ingest failover: kill -9 the holder of the CTP session → the first tick stored from the new holder.

Real nats-server, real ctp_sim (9 futures, every one ticking each ``--tick-interval``), real
``python -m md_ingest`` processes. Per run the time is measured from the SIGKILL to the first tick that
reaches a subscriber after the new holder's fence (``md.fence.ctp``) did:

* **standby, lease L**: two instances, the killed holder is started again (as a supervisor would) and the
  next run waits until it stands by; the survivor takes over once the lease has not moved for L seconds.
* **baseline, restart**: a single md_ingest, killed and started again at once (it takes its own lease back
  at once, its previous pid being gone): what the failover costs without a standby.

    .venv/bin/python bench/md_failover.py                      # 10 runs each of lease 1 s, lease 2 s, baseline
    .venv/bin/python bench/md_failover.py --runs 20 --leases 1,2,3
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "services"), str(ROOT / "libs")]

from tradebus.bus import connect  # noqa: E402
from tradebus.config import NatsConfig  # noqa: E402
from tradebus.natsd import NatsServer  # noqa: E402
from tradebus.schemas import MARKET_DATA_DECODER  # noqa: E402
from tradebus.schemas.market import FeedFence, Tick  # noqa: E402

# bench/md_ingest.py's ctp_sim and child helpers (its module name is the service's, hence loaded by path).
_spec = importlib.util.spec_from_file_location("bench_md_ingest", ROOT / "bench" / "md_ingest.py")
assert _spec is not None and _spec.loader is not None
_md_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_md_bench)
child_env, free_port, start_ctp_sim = _md_bench.child_env, _md_bench.free_port, _md_bench.start_ctp_sim

SYMBOLS = (
    "SHFE.rb2601",
    "SHFE.au2602",
    "DCE.m2601",
    "DCE.i2601",
    "CZCE.TA601",
    "CZCE.SR601",
    "CFFEX.IF2512",
    "CFFEX.IC2512",
    "INE.sc2601",
)
RATE = 900  # offered ticks/s over the 9 futures: one tick per instrument every 10 ms
WAIT_S = 60.0


class Instance:
    def __init__(self, tmp: Path, name: str, nats_url: str, md_port: int, td_port: int, lease_s: float) -> None:
        self.name = name
        self.config = tmp / f"md_{name}.toml"
        subs = ", ".join(f'"ctp.{s}"' for s in SYMBOLS)
        self.config.write_text(f"""
[nats]
url = "{nats_url}"
reconnect_wait_s = 0.2
[data]
dir = "{tmp / "var"}"
[log]
format = "json"
level = "warning"
[ctp]
md_front = "sim://127.0.0.1:{md_port}"
td_front = "sim://127.0.0.1:{td_port}"
password = "123456"
auth_code = "0000000000000000"
[md]
instance_id = "{name}"
futu = false
ctp = true
lease_s = {lease_s}
subscriptions = [{subs}]
""")
        self.proc: subprocess.Popen[bytes] | None = None
        self.health = free_port()

    def standing_by(self) -> bool:
        """Up, following md.ctl, looking at the lease: /metrics says it does not hold ctp."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health}/metrics", timeout=2) as rsp:
                return 'tradebus_md_lease_held{venue="ctp"} 0' in rsp.read().decode()
        except OSError:
            return False

    def start(self) -> None:
        argv = [sys.executable, "-m", "md_ingest", "--config", str(self.config), "--health-port", str(self.health)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env())

    def kill(self) -> float:
        assert self.proc is not None
        killed_at = time.monotonic()
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(15)
        return killed_at

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(15)


class Watch:
    """Follows md.fence.ctp and md.tick.ctp.> live: who holds the venue, and when its first tick came."""

    def __init__(self) -> None:
        self.holder = ""
        self.first_tick_at: float | None = None  # after the latest fence
        self.fence_at = 0.0  # when the latest holder's fence arrived
        self.changed = asyncio.Event()

    def on_message(self, msg: Any) -> None:
        message = MARKET_DATA_DECODER.decode(msg.data)
        if isinstance(message, FeedFence):
            if message.holder != self.holder:
                self.holder, self.first_tick_at, self.fence_at = message.holder, None, time.monotonic()
        elif isinstance(message, Tick) and self.first_tick_at is None and self.holder:
            self.first_tick_at = time.monotonic()
        self.changed.set()

    async def until(self, predicate: Any, what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(what)
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                raise TimeoutError(what) from None


async def _scenario(
    tmp: Path, nats: NatsServer, md: int, td: int, lease_s: float, runs: int, standby: bool
) -> tuple[list[float], list[float]]:
    bus = await connect(NatsConfig(url=nats.url), "md-failover-bench")
    watch = Watch()

    async def cb(msg: Any) -> None:
        watch.on_message(msg)

    await bus.nc.subscribe("md.fence.ctp", cb=cb)
    await bus.nc.subscribe("md.tick.ctp.>", cb=cb)
    names = ("a", "b") if standby else ("solo",)
    instances = {n: Instance(tmp, f"{n}{lease_s:g}".replace(".", "_"), nats.url, md, td, lease_s) for n in names}
    by_id = {inst.name: inst for inst in instances.values()}
    times: list[float] = []
    fenced: list[float] = []  # kill → the new holder's fence: the lease's part of the failover
    try:
        first = next(iter(instances.values()))
        first.start()
        await watch.until(lambda: watch.holder == first.name and watch.first_tick_at is not None, "first holder")
        for inst in instances.values():
            if inst is not first:
                inst.start()
        for _ in range(runs):
            if standby:
                other = next(inst for inst in instances.values() if inst.name != watch.holder)
                await _poll(other.standing_by, "the other instance standing by")
            # Kill at a random point of the holder's renewal cycle (the time left of its lease varies with it).
            await asyncio.sleep(random.uniform(0.0, lease_s))
            victim = by_id[watch.holder]
            killed_at = victim.kill()
            if standby:
                await watch.until(
                    lambda v=victim: watch.holder not in ("", v.name) and watch.first_tick_at is not None, "takeover"
                )
            else:
                victim.start()
                watch.holder = ""  # the restarted process fences again under the same id
                await watch.until(lambda: watch.holder and watch.first_tick_at is not None, "restart")
            assert watch.first_tick_at is not None
            times.append(watch.first_tick_at - killed_at)
            fenced.append(watch.fence_at - killed_at)
            if standby:
                victim.start()
    finally:
        for inst in instances.values():
            inst.stop()
        await bus.close()
    return times, fenced


async def _poll(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not await asyncio.to_thread(predicate):
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)  # polling another process's /metrics


def _row(label: str, result: tuple[list[float], list[float]]) -> str:
    times, fenced = result
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return (
        f"{label:<22} {len(times):>4} {min(times):>7.2f} {statistics.median(times):>7.2f} {p90:>7.2f} "
        f"{max(times):>7.2f} {statistics.mean(times):>7.2f} {statistics.median(fenced):>11.2f}"
    )


async def run(args: argparse.Namespace) -> None:
    leases = [float(x) for x in args.leases.split(",")]
    with tempfile.TemporaryDirectory(prefix="md-failover-") as tmpdir:
        tmp = Path(tmpdir)
        nats = NatsServer(store_dir=tmp / "js")
        nats.start()
        sim, td, md = start_ctp_sim(tmp / "ctp", RATE)
        try:
            print(
                f"md_ingest failover: {args.runs} runs each, ctp_sim × 9 futures at {RATE} ticks/s, "
                f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
            )
            print(
                f"{'scenario':<22} {'runs':>4} {'min s':>7} {'p50 s':>7} {'p90 s':>7} {'max s':>7} {'mean s':>7} "
                f"{'fence p50 s':>11}"
            )
            for lease_s in leases:
                times = await _scenario(tmp, nats, md, td, lease_s, args.runs, standby=True)
                print(_row(f"standby, lease {lease_s:g} s", times), flush=True)
            base = await _scenario(tmp, nats, md, td, leases[0], args.runs, standby=False)
            print(_row("baseline: restart", base), flush=True)
        finally:
            sim.terminate()
            sim.wait(15)
            nats.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="kills per scenario")
    parser.add_argument("--leases", default="1,2", help="[md] lease_s values to measure, comma-separated")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
