"""td_exec with orders spread over many accounts (issue #21: "ten accounts scale with cores").

For each count in ``--accounts`` (default 1, 2, 10, 100), ``--repeat`` times, a fresh child process
(this file with ``--point N``) starts a file-storage nats-server, td_exec's engine with the instant
venue of ``bench/td_exec.py`` (every order accepted at once, so the figures are td_exec's own cost)
serving N accounts, and a client on the same event loop. It prints, per point:

* **sustained orders/s, all accounts together**: ``--orders`` resting limit orders sent round-robin
  over the N accounts with ``--window`` requests in flight in total, from the first request to the
  last ``OrderAccepted`` seen on ``td.evt.>``; with the CPU of this process and of nats-server over
  that phase (% of one core) and this process's RSS at the end;
* **p50 / p99 submit → OrderAccepted at ``--rate`` orders/s** (all accounts together, round-robin)
  for ``--seconds``;
* the baseline in the same process and run: bare JetStream publish+ack of the same two event sizes,
  sustained (pairs/s) and paced at ``--rate``.

td_exec is one process with one event loop: its accounts share one core however many there are
(each account's writer is a task on that loop). On a 2-core machine a second core can only help
through the nats-server, which runs in its own process. So this bench shows what one td_exec process
does with many accounts, not how several processes would scale.

    .venv/bin/python bench/td_accounts.py                                # about 2 minutes
    .venv/bin/python bench/td_accounts.py --accounts 1,10,100 --repeat 2 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "services"), str(ROOT / "libs")]

from bench_modules import load_bench  # noqa: E402

td_bench = load_bench("td_exec")  # bench/td_exec.py: its instant venue, order client and JetStream baseline
cpu_s = load_bench("ws_edge").cpu_s  # a process's CPU seconds, from /proc
from td_exec.commands import CommandServer  # noqa: E402
from td_exec.engine import AccountStatus, Engine  # noqa: E402
from tradebus.bus import ensure_topology  # noqa: E402
from tradebus.config import StreamsConfig  # noqa: E402
from tradebus.config_sections.td import TdConfig  # noqa: E402
from tradebus.natsd import NatsServer  # noqa: E402
from tradebus.runtime.metrics import Registry  # noqa: E402
from tradebus.sim import InstrumentKind, SimMarket  # noqa: E402

MAX_ACCOUNTS = 1000


class ManyAccountsVenue(td_bench.InstantVenue):  # type: ignore[name-defined,misc]
    """The instant venue with ``count`` USD cash accounts ``BENCH-0000``… instead of the sim's three."""

    def __init__(self, count: int) -> None:
        self.bench_accounts = [f"BENCH-{i:04d}" for i in range(count)]
        market = SimMarket(seed=3)
        for name in self.bench_accounts:
            market.open_account(name, kind=InstrumentKind.STOCK, currency="USD", cash=1_000_000.0)
        super().__init__(market, seed=3)

    def accounts(self) -> list[str]:
        return list(self.bench_accounts)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def measure_point(url: str, nats_pid: int, data_dir: Path, count: int,
                        args: argparse.Namespace) -> dict[str, float]:
    engine_bus, client = await td_bench._bus(url, "td_exec-bench"), await td_bench._bus(url, "bench-client")
    await ensure_topology(engine_bus.js, StreamsConfig())
    venue = ManyAccountsVenue(count)
    cfg = TdConfig(futu=False, ctp=False, sim=True, sim_tick_s=0.0, inflight_check_s=3600.0)
    engine = Engine(engine_bus, [venue], cfg, data_dir, Registry())
    await engine.start()
    server = CommandServer(engine)
    await server.start()
    keys = [("sim", name) for name in venue.bench_accounts]
    while not all(k in engine.accounts and engine.accounts[k].status is AccountStatus.READY for k in keys):  # noqa: ASYNC110
        await asyncio.sleep(0.01)  # polling the start-up reconciliation's end
    bench = td_bench.OrderBench(client)
    bench.accounts = list(venue.bench_accounts)
    await bench.start()
    await td_bench.sustained(bench.one, max(200, 2 * count), args.window)  # warm-up: every account has written
    lat = await td_bench.paced(bench.one, args.rate, args.seconds)
    f = {"accounts": count, "p50_ms": statistics.median(lat), "p99_ms": td_bench.pct(lat, 0.99)}
    cpu0, nats0, wall0 = time.process_time(), cpu_s(nats_pid), time.perf_counter()
    f["orders_per_s"] = await td_bench.sustained(bench.one, args.orders, args.window)
    wall = time.perf_counter() - wall0
    f["cpu_pct"] = 100 * (time.process_time() - cpu0) / wall
    f["nats_cpu_pct"] = 100 * (cpu_s(nats_pid) - nats0) / wall
    f["rss_mb"] = rss_mb()
    js = td_bench.JsBench(client)
    await td_bench.sustained(js.one, 200, args.window)
    f["js_pairs_per_s"] = await td_bench.sustained(js.one, args.orders, args.window)
    jlat = await td_bench.paced(js.one, args.rate, args.seconds)
    f.update(js_p50_ms=statistics.median(jlat), js_p99_ms=td_bench.pct(jlat, 0.99))
    await server.stop()
    await engine.stop()
    await venue.stop()
    await engine_bus.close()
    await client.close()
    return f


async def one_point(count: int, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="td_accounts_bench_") as tmp:
        server = NatsServer(store_dir=Path(tmp) / "js")
        server.start()
        try:
            assert server.process is not None
            figures = await measure_point(server.url, server.process.pid, Path(tmp) / "td_exec", count, args)
        finally:
            server.stop()
    print(json.dumps(figures), flush=True)


def run_child(count: int, args: argparse.Namespace) -> dict[str, float]:
    argv = [sys.executable, __file__, "--point", str(count), "--orders", str(args.orders), "--window",
            str(args.window), "--rate", str(args.rate), "--seconds", str(args.seconds)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if out.returncode != 0:
        raise SystemExit(f"bench: the {count}-account point failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", default="1,2,10,100", help="comma-separated account counts")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each count (a fresh process each)")
    parser.add_argument("--orders", type=int, default=5000, help="orders for the sustained figure")
    parser.add_argument("--window", type=int, default=64, help="requests in flight, all accounts together")
    parser.add_argument("--rate", type=float, default=100.0, help="orders/s of the latency figure")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of the latency figure")
    parser.add_argument("--point", type=int, help=argparse.SUPPRESS)  # the child's one account count
    args = parser.parse_args()
    if args.point is not None:
        if not 1 <= args.point <= MAX_ACCOUNTS:
            parser.error(f"--point must be 1..{MAX_ACCOUNTS}")
        try:
            import uvloop

            uvloop.run(one_point(args.point, args))
        except ImportError:
            asyncio.run(one_point(args.point, args))
        return
    counts = [int(c) for c in args.accounts.split(",") if c.strip()]
    if not counts or any(not 1 <= c <= MAX_ACCOUNTS for c in counts):
        parser.error(f"--accounts wants counts in 1..{MAX_ACCOUNTS}")
    print(f"td_exec, instant venue, {os.cpu_count()} CPUs; {args.orders} orders, {args.window} in flight in "
          f"total; latency at {args.rate:g}/s for {args.seconds:g} s; load average {os.getloadavg()[0]:.1f}")
    print("CPU %: this process (engine + client, one loop) and nats-server over the sustained phase, of one core")
    print(f"{'accounts':>8}{'orders/s':>10}{'CPU %':>7}{'nats %':>7}{'RSS MB':>8}{'p50 ms':>8}{'p99 ms':>8}"
          f"{'bare pairs/s':>13}{'bare p50':>9}{'bare p99':>9}{'td/bare':>8}{'load':>6}")
    for _ in range(args.repeat):
        for count in counts:
            f = run_child(count, args)
            print(f"{count:>8}{f['orders_per_s']:>10.0f}{f['cpu_pct']:>7.0f}{f['nats_cpu_pct']:>7.0f}{f['rss_mb']:>8.0f}{f['p50_ms']:>8.2f}"
                  f"{f['p99_ms']:>8.2f}{f['js_pairs_per_s']:>13.0f}{f['js_p50_ms']:>9.2f}{f['js_p99_ms']:>9.2f}"
                  f"{f['orders_per_s'] / f['js_pairs_per_s']:>8.0%}{os.getloadavg()[0]:>6.1f}", flush=True)


if __name__ == "__main__":
    main()
