"""What md_ingest and ws_edge cost as the subscribed instruments grow (issue #21: 1 → 1 000 instruments).

For each count N in ``--counts`` (default 1, 10, 100, 1 000), ``--repeat`` times, a fresh chain of real
processes: nats-server, ``ctp_sim --synthetic-futures N`` (N made-up SHFE futures ``wr00000``… after its
nine real ones, each stepped every ``--tick-interval`` s: 2 ticks/s per instrument by default, a CTP
front's own pace), ``python -m md_ingest`` subscribed to the N, ``python -m ws_edge``, the bare broadcast
server of ``bench/ws_edge.py`` and its client process (``--clients`` webctp clients, each subscribed
to all N on ``/md/``). It prints, per point:

* ticks/s md_ingest published (seen by a NATS subscriber in this process) against what ctp_sim was
  asked for (N / interval), and their p50 / p99 from ``Tick.ts_init`` (md_ingest's stamp at the CTP
  callback) to that subscriber;
* md_ingest's and ws_edge's CPU (% of one core, over the window) and RSS at the end of the window;
* frames/s and p50 / p99 tick → client for ws_edge, then the same for the bare broadcast server on the
  same running chain (the baseline: no sessions, no queues, no subscription bookkeeping), with its CPU.

    .venv/bin/python bench/instruments.py                              # about 3 minutes
    .venv/bin/python bench/instruments.py --counts 1,1000 --repeat 1 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "services"), str(ROOT / "libs")]

from bench_modules import load_bench  # noqa: E402

edge_bench = load_bench("ws_edge")  # processes, services, the bare broadcast server, the client process
md_bench = load_bench("md_ingest")  # the NATS subscriber with its latency record, RSS

from tradebus.natsd import NatsServer, free_port  # noqa: E402
from tradebus.sim.instruments import MAX_SYNTHETIC_FUTURES, synthetic_futures  # noqa: E402

MAX_COUNT = 1000  # md_ingest's default ctp_max_subscriptions


def start_ctp_sim(procs: Any, tmp: Path, count: int, interval: float) -> tuple[int, int]:
    td, md = free_port(), free_port()
    proc = procs.start("ctp_sim", [sys.executable, "-m", "ctp_sim", "--td-port", str(td), "--md-port", str(md),
                                   "--state-dir", str(tmp / "ctp_sim"), "--tick-interval", f"{interval:.6f}",
                                   "--synthetic-futures", str(count)],
                       edge_bench.child_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line.startswith("ctp_sim ready"):
        raise SystemExit(f"bench: ctp_sim did not start: {line!r}")
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return td, md


class Chain:
    """One point's processes: nats-server, ctp_sim, md_ingest, ws_edge, the bare server, the clients."""

    def __init__(self, tmp: Path, count: int, args: argparse.Namespace) -> None:
        self.tmp, self.count, self.args = tmp, count, args
        self.procs = edge_bench.Procs()
        self.nats = NatsServer(store_dir=tmp / "js")
        self.symbols = [i.symbol for i in synthetic_futures(count)]

    def start(self) -> None:
        from tradebus.users import UserStore

        self.nats.start()
        UserStore(self.tmp / "users.json").add(edge_bench.USER, edge_bench.PASSWORD, [])
        edge_bench.cheapen_password_hash(self.tmp / "users.json")
        td, md = start_ctp_sim(self.procs, self.tmp, self.count, self.args.tick_interval)
        env = edge_bench.service_env(self.tmp, self.nats.url, td, md)
        md_env = {**env, "TRADEBUS_MD_FUTU": "false", "TRADEBUS_MD_STALE_HOURS": "always",
                  "TRADEBUS_MD_SUBSCRIPTIONS": ",".join(f"ctp.SHFE.{s}" for s in self.symbols)}
        self.ws_port = free_port()
        ws_env = {**env, "TRADEBUS_WS_MD_PORT": str(self.ws_port), "TRADEBUS_WS_TD_PORT": "0"}
        self.md_proc, md_health = edge_bench.start_service(self.procs, "md_ingest", md_env, self.tmp)
        self.edge_proc, edge_health = edge_bench.start_service(self.procs, "ws_edge", ws_env, self.tmp)
        self.bare_port = free_port()
        self.bare = self.procs.start("bare", [sys.executable, str(ROOT / "bench" / "ws_edge.py"), "--bare-server",
                                              self.nats.url, str(self.bare_port)],
                                     edge_bench.child_env(), stdout=subprocess.PIPE, text=True)
        for name, health in (("md_ingest", md_health), ("ws_edge", edge_health)):
            edge_bench.wait_healthy(self.procs, name, health, self.tmp)
        if self.bare.stdout.readline().strip() != "bare ready":
            raise SystemExit("bench: the bare server did not start")
        self.clients = edge_bench.ClientProc(self.procs, self.nats.url, "picows")

    def stop(self) -> None:
        self.procs.stop_all()
        self.nats.stop()

    def _subscribed(self, target: str, port: int) -> None:
        """The clients connected to a server, logged in and subscribed to every instrument; warmed up."""
        n = self.args.clients
        self.clients.call("connect", target=target, url=f"ws://127.0.0.1:{port}/md/", count=n,
                          user=edge_bench.USER, password=edge_bench.PASSWORD)
        self.clients.call("subscribe", target=target, count=n, instruments=self.symbols)
        time.sleep(self.args.warmup)  # the warm-up before the measuring window

    def edge_window(self, receiver: Any) -> dict[str, float]:
        """ws_edge's clients subscribed; md_ingest's and ws_edge's costs over the same window."""
        args, n = self.args, self.args.clients
        self._subscribed("edge", self.ws_port)
        pids = {"md": self.md_proc.pid, "edge": self.edge_proc.pid}
        cpu0, wall0 = {k: edge_bench.cpu_s(p) for k, p in pids.items()}, time.monotonic()
        receiver.measuring, receiver.latencies, seen0 = True, [], receiver.count
        row = self.clients.call("measure", target="edge", count=n, seconds=args.seconds)
        receiver.measuring = False
        wall = time.monotonic() - wall0
        out = {f"{k}_cpu": 100 * (edge_bench.cpu_s(p) - cpu0[k]) / wall for k, p in pids.items()}
        out.update({f"{k}_rss": md_bench.rss_mb(p) for k, p in pids.items()})
        md_p50, md_p99 = receiver.percentiles()
        out.update(md_rate=(receiver.count - seen0) / wall, md_p50=md_p50, md_p99=md_p99,
                   edge_rate=row["delivered"], edge_p50=row["p50"], edge_p99=row["p99"],
                   matched=row["matched"] / max(1, row["sampled"]))
        # The clients share one frame counter: the edge's stop before the bare server's window (this drains).
        self.clients.call("unsubscribe", target="edge", count=n, instruments=self.symbols)
        self.procs.check()
        return out

    def bare_window(self) -> dict[str, float]:
        self._subscribed("bare", self.bare_port)
        cpu0, wall0 = edge_bench.cpu_s(self.bare.pid), time.monotonic()
        row = self.clients.call("measure", target="bare", count=self.args.clients, seconds=self.args.seconds)
        cpu = 100 * (edge_bench.cpu_s(self.bare.pid) - cpu0) / (time.monotonic() - wall0)
        self.clients.call("disconnect", target="bare")
        return {"bare_rate": row["delivered"], "bare_p50": row["p50"], "bare_p99": row["p99"], "bare_cpu": cpu}


async def one_point(count: int, args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="instruments-bench-") as tmpdir:
        chain = Chain(Path(tmpdir), count, args)
        try:
            await asyncio.to_thread(chain.start)
            receiver = md_bench.Receiver()
            nc = await receiver.attach(chain.nats.url, "md.tick.>")
            try:
                await md_bench.wait_until(lambda: receiver.count > 0, 30, "md_ingest ticks")
                row = await asyncio.to_thread(chain.edge_window, receiver)
                row.update(await asyncio.to_thread(chain.bare_window))
            finally:
                await nc.close()
            row.update(count=count, asked=count / args.tick_interval, load=os.getloadavg()[0])
            return row
        finally:
            chain.stop()


HEADER = (f"{'instr':>5} {'asked/s':>7} {'md/s':>6} {'md p50':>6} {'md p99':>6} {'md CPU':>6} {'md MB':>5} "
          f"{'edge/s':>6} {'e p50':>6} {'e p99':>6} {'e CPU':>5} {'e MB':>5} {'bare/s':>6} {'b p50':>6} "
          f"{'b p99':>6} {'b CPU':>5} {'match':>5} {'load':>4}")


def fmt(r: dict[str, float]) -> str:
    return (f"{r['count']:>5.0f} {r['asked']:>7.0f} {r['md_rate']:>6.0f} {r['md_p50']:>6.2f} {r['md_p99']:>6.2f} "
            f"{r['md_cpu']:>6.1f} {r['md_rss']:>5.0f} {r['edge_rate']:>6.0f} {r['edge_p50']:>6.2f} "
            f"{r['edge_p99']:>6.2f} {r['edge_cpu']:>5.1f} {r['edge_rss']:>5.0f} {r['bare_rate']:>6.0f} "
            f"{r['bare_p50']:>6.2f} {r['bare_p99']:>6.2f} {r['bare_cpu']:>5.1f} {r['matched']:>5.0%} {r['load']:>4.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="1,10,100,1000", help="subscribed instruments, comma-separated")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each count (a fresh chain each)")
    parser.add_argument("--tick-interval", type=float, default=0.5, help="ctp_sim's step: each instrument ticks "
                                                                         "once per interval")
    parser.add_argument("--clients", type=int, default=1, help="webctp clients, each subscribed to all N")
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring window per server")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds between subscribing and measuring")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",") if c.strip()]
    if not counts or any(not 1 <= c <= min(MAX_COUNT, MAX_SYNTHETIC_FUTURES) for c in counts):
        parser.error(f"--counts wants counts in 1..{MAX_COUNT}")
    if not 0 < args.tick_interval <= 60 or not 1 <= args.clients <= 100:
        parser.error("--tick-interval wants (0, 60] s and --clients 1..100")
    print(f"instruments benchmark: {os.cpu_count()} CPUs; each instrument ticks every {args.tick_interval:g} s; "
          f"{args.clients} client(s) subscribed to all; {args.seconds:g} s windows; load average "
          f"{os.getloadavg()[0]:.1f}")
    print("md: md_ingest's ticks on NATS, ms from Tick.ts_init; e: ws_edge, b: bare broadcast server, ms tick -> "
          "client; CPU % of one core; MB: RSS")
    print(HEADER, flush=True)
    rows: dict[int, list[dict[str, float]]] = {}
    for _ in range(args.repeat):
        for count in counts:
            row = asyncio.run(one_point(count, args))
            rows.setdefault(count, []).append(row)
            print(fmt(row), flush=True)
    if args.repeat > 1:
        print("medians:")
        for runs in rows.values():
            print(fmt({k: statistics.median(r[k] for r in runs) for k in runs[0]}))


if __name__ == "__main__":
    main()
