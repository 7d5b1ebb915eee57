"""td_exec with orders spread over many accounts, and over engine processes (issue #21: "ten accounts
scale with cores").

Each point: a fresh file-storage nats-server and ``--processes`` engine processes (this file as a child),
each with td_exec's engine, the instant venue of ``bench/td_exec.py`` (every order accepted at once, so
the figures are td_exec's own cost) under a venue name of its own, its share of the N accounts, and a
client on its own event loop. All engines start each phase at the same moment. Per point it prints:

* **sustained orders/s, all accounts together**: ``--orders`` resting limit orders sent round-robin
  over the accounts with ``--window`` requests in flight in total, from the first request to the last
  ``OrderAccepted`` seen on ``td.evt.>``; with the engine processes' CPU and nats-server's over that
  phase (% of one core) and the engine processes' RSS at the end;
* **p50 / p99 submit → OrderAccepted at ``--rate`` orders/s** (all accounts together) for ``--seconds``;
* the baseline in the same run, from the same processes: bare JetStream publish+ack of the same two
  event sizes, sustained (pairs/s) and paced at ``--rate``.

One td_exec process is one event loop: its accounts share one core however many there are (each
account's writer is a task on that loop), so with one process only nats-server can use the second
core. ``--processes 2`` shows what splitting the accounts over two engines gives on two cores: td_exec
itself serves every account of a venue from one process (docs/td_exec.md), so the bench stands in for
that split with one venue name per engine (the bus's three: sim, ctp, futu; so at most 3 engines).

    .venv/bin/python bench/td_accounts.py                                   # about 3 minutes
    .venv/bin/python bench/td_accounts.py --accounts 2,10 --processes 1,2   # one engine vs two
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
from typing import Any

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
# The bus knows three venue names (tradebus.subjects.VENUES); each engine serves the instant venue under
# one of them, which the engine treats alike.
ENGINE_VENUES = ("sim", "ctp", "futu")
MAX_PROCESSES = len(ENGINE_VENUES)


class ManyAccountsVenue(td_bench.InstantVenue):  # type: ignore[name-defined,misc]
    """The instant venue named ``name``, with ``count`` USD cash accounts ``BENCH-0000``… instead of the sim's."""

    def __init__(self, name: str, count: int) -> None:
        self.name = name
        self.bench_accounts = [f"BENCH-{i:04d}" for i in range(count)]
        market = SimMarket(seed=3)
        for account in self.bench_accounts:
            market.open_account(account, kind=InstrumentKind.STOCK, currency="USD", cash=1_000_000.0)
        super().__init__(market, seed=3)

    def accounts(self) -> list[str]:
        return list(self.bench_accounts)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


PHASES = 4  # latency, sustained, bare sustained, bare latency: each starts in every engine at once


async def go_signal() -> None:
    """Tell the parent this engine is ready for its next phase, then wait for its word."""
    print(json.dumps({"ready": True}), flush=True)
    await asyncio.to_thread(sys.stdin.readline)


async def measure_point(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    url, count = args.nats, args.point
    engine_bus, client = await td_bench._bus(url, "td_exec-bench"), await td_bench._bus(url, "bench-client")
    await ensure_topology(engine_bus.js, StreamsConfig())
    venue = ManyAccountsVenue(args.venue, count)
    cfg = TdConfig(futu=False, ctp=False, sim=True, sim_tick_s=0.0, inflight_check_s=3600.0)
    engine = Engine(engine_bus, [venue], cfg, data_dir, Registry())
    await engine.start()
    server = CommandServer(engine)
    await server.start()
    keys = [(venue.name, name) for name in venue.bench_accounts]
    while not all(k in engine.accounts and engine.accounts[k].status is AccountStatus.READY for k in keys):  # noqa: ASYNC110
        await asyncio.sleep(0.01)  # polling the start-up reconciliation's end
    bench = td_bench.OrderBench(client)
    bench.venue, bench.accounts = venue.name, list(venue.bench_accounts)
    await bench.start()
    await td_bench.sustained(bench.one, max(200, 2 * count), args.window)  # warm-up: every account has written
    js = td_bench.JsBench(client)
    js.seq = args.js_seq  # message ids unique among the engines sharing the server (no deduplication)
    await td_bench.sustained(js.one, 200, args.window)
    await go_signal()
    f: dict[str, Any] = {"latencies": await td_bench.paced(bench.one, args.rate, args.seconds)}
    await go_signal()
    cpu0, nats0, wall0 = time.process_time(), cpu_s(args.nats_pid), time.perf_counter()
    f["orders_per_s"] = await td_bench.sustained(bench.one, args.orders, args.window)
    wall = time.perf_counter() - wall0
    f["cpu_pct"] = 100 * (time.process_time() - cpu0) / wall
    f["nats_cpu_pct"] = 100 * (cpu_s(args.nats_pid) - nats0) / wall
    f["rss_mb"] = rss_mb()
    await go_signal()
    f["js_pairs_per_s"] = await td_bench.sustained(js.one, args.orders, args.window)
    await go_signal()
    f["js_latencies"] = await td_bench.paced(js.one, args.rate, args.seconds)
    await server.stop()
    await engine.stop()
    await venue.stop()
    await engine_bus.close()
    await client.close()
    return f


async def child(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="td_accounts_bench_") as tmp:
        figures = await measure_point(args, Path(tmp))
    print(json.dumps(figures), flush=True)


def wait_ready(child: subprocess.Popen[str]) -> None:
    """Read the child's stdout up to its ready line (the engine's own log lines come there too)."""
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith('{"ready"'):
            return
    raise SystemExit(f"bench: engine process {child.pid} exited ({child.wait()})")


def run_point(count: int, processes: int, args: argparse.Namespace) -> dict[str, float]:
    """``count`` accounts over ``processes`` engines (td_exec processes) on one fresh nats-server."""
    with tempfile.TemporaryDirectory(prefix="td_accounts_js_") as tmp:
        nats = NatsServer(store_dir=Path(tmp) / "js")
        nats.start()
        children: list[subprocess.Popen[str]] = []
        try:
            assert nats.process is not None
            for p in range(processes):
                share = count // processes + (1 if p < count % processes else 0)
                argv = [sys.executable, __file__, "--point", str(share), "--nats", nats.url, "--nats-pid",
                        str(nats.process.pid), "--venue", ENGINE_VENUES[p], "--js-seq", str(p * 100_000_000),
                        "--orders", str(args.orders // processes), "--window", str(max(1, args.window // processes)),
                        "--rate", str(args.rate / processes), "--seconds", str(args.seconds)]
                children.append(subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
            for _ in range(PHASES):
                for c in children:
                    wait_ready(c)
                for c in children:
                    c.stdin.write("go\n")  # type: ignore[union-attr]
                    c.stdin.flush()  # type: ignore[union-attr]
            results = [json.loads(c.communicate(timeout=600)[0].strip().splitlines()[-1]) for c in children]
        finally:
            for c in children:
                if c.poll() is None:
                    c.kill()
                    c.wait()
            nats.stop()
    lat = [v for r in results for v in r["latencies"]]
    jlat = [v for r in results for v in r["js_latencies"]]
    return {"orders_per_s": sum(r["orders_per_s"] for r in results), "cpu_pct": sum(r["cpu_pct"] for r in results),
            "nats_cpu_pct": statistics.mean(r["nats_cpu_pct"] for r in results),
            "rss_mb": sum(r["rss_mb"] for r in results), "p50_ms": statistics.median(lat),
            "p99_ms": td_bench.pct(lat, 0.99), "js_pairs_per_s": sum(r["js_pairs_per_s"] for r in results),
            "js_p50_ms": statistics.median(jlat), "js_p99_ms": td_bench.pct(jlat, 0.99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", default="1,2,10,100", help="comma-separated account counts")
    parser.add_argument("--processes", default="1", help="comma-separated engine process counts (accounts split "
                                                         "among them)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each point (fresh processes each)")
    parser.add_argument("--orders", type=int, default=5000, help="orders for the sustained figure")
    parser.add_argument("--window", type=int, default=64, help="requests in flight, all accounts together")
    parser.add_argument("--rate", type=float, default=100.0, help="orders/s of the latency figure")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of the latency figure")
    # A child: one engine process on the parent's nats-server.
    for name, kind in (("--point", int), ("--nats", str), ("--nats-pid", int), ("--venue", str), ("--js-seq", int)):
        parser.add_argument(name, type=kind, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.point is not None:
        if not 1 <= args.point <= MAX_ACCOUNTS:
            parser.error(f"--point must be 1..{MAX_ACCOUNTS}")
        try:
            import uvloop

            uvloop.run(child(args))
        except ImportError:
            asyncio.run(child(args))
        return
    counts = [int(c) for c in args.accounts.split(",") if c.strip()]
    procs = [int(c) for c in args.processes.split(",") if c.strip()]
    if not counts or any(not 1 <= c <= MAX_ACCOUNTS for c in counts):
        parser.error(f"--accounts wants counts in 1..{MAX_ACCOUNTS}")
    if not procs or any(not 1 <= p <= MAX_PROCESSES for p in procs):
        parser.error(f"--processes wants counts in 1..{MAX_PROCESSES}")
    print(f"td_exec, instant venue, {os.cpu_count()} CPUs; {args.orders} orders, {args.window} in flight in "
          f"total; latency at {args.rate:g}/s for {args.seconds:g} s; load average {os.getloadavg()[0]:.1f}")
    print("CPU %: the engine processes together (engine + client, one loop each) and nats-server, over the "
          "sustained phase, of one core; RSS: the engine processes together")
    print(f"{'accounts':>8}{'procs':>6}{'orders/s':>10}{'CPU %':>7}{'nats %':>7}{'RSS MB':>8}{'p50 ms':>8}"
          f"{'p99 ms':>8}{'bare pairs/s':>13}{'bare p50':>9}{'bare p99':>9}{'td/bare':>8}{'load':>6}")
    for _ in range(args.repeat):
        for count in counts:
            for processes in (p for p in procs if p <= count):
                f = run_point(count, processes, args)
                print(f"{count:>8}{processes:>6}{f['orders_per_s']:>10.0f}{f['cpu_pct']:>7.0f}"
                      f"{f['nats_cpu_pct']:>7.0f}{f['rss_mb']:>8.0f}{f['p50_ms']:>8.2f}{f['p99_ms']:>8.2f}"
                      f"{f['js_pairs_per_s']:>13.0f}{f['js_p50_ms']:>9.2f}{f['js_p99_ms']:>9.2f}"
                      f"{f['orders_per_s'] / f['js_pairs_per_s']:>8.0%}{os.getloadavg()[0]:>6.1f}", flush=True)


if __name__ == "__main__":
    main()
