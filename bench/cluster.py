"""R1 on one nats-server vs R3 on a three-node cluster (issue 19): td_exec's order round trip and sustained
rate, in the same run on the same machine.

Each setup gets a fresh JetStream store; td_exec's engine, its command server and the client share one
uvloop loop (bench/td_exec.py's ``order_figures``, with the instant venue: every order accepted at once, so
the figures are td_exec + JetStream, not a simulator). On the cluster the engine and the client are given
all three node URLs, as `tradebus up --nats-cluster 3` gives them, and every stream is R3: an append is
acknowledged once a majority (two nodes) has it.

    .venv/bin/python bench/cluster.py              # about a minute
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
import tempfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "services"), str(ROOT / "libs")]

from tradebus.config import StreamsConfig  # noqa: E402
from tradebus.nats_cluster import NatsCluster, free_ports  # noqa: E402
from tradebus.natsd import NatsServer  # noqa: E402


def _td_exec_bench() -> ModuleType:
    """bench/td_exec.py, loaded by path: its module name would be the td_exec service's."""
    spec = importlib.util.spec_from_file_location("bench_td_exec", ROOT / "bench" / "td_exec.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def measure(bench: ModuleType, url: str, data_dir: Path, args: argparse.Namespace,
                  replicas: int) -> dict[str, float]:
    venue = bench.InstantVenue(seed=3)
    return await bench.order_figures(url, data_dir, args, venue, StreamsConfig(replicas=replicas))


def _count(value: float) -> str:
    return f"{value:,.0f}".replace(",", " ")


def _row(name: str, f: dict[str, float]) -> str:
    return (f"| {name} | {_count(f['orders_per_s'])} | {f['p50_ms']:.2f} / {f['p99_ms']:.2f} | "
            f"{_count(f['js_pairs_per_s'])} | {f['js_p50_ms']:.2f} / {f['js_p99_ms']:.2f} |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1000, help="orders for the sustained figure")
    parser.add_argument("--window", type=int, default=32, help="requests in flight for the sustained figure")
    parser.add_argument("--rate", type=float, default=100.0, help="orders/s of the latency figure")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of the latency figure")
    args = parser.parse_args()
    bench = _td_exec_bench()
    rows = []
    with tempfile.TemporaryDirectory(prefix="cluster_bench_") as tmp:
        base = Path(tmp)
        single = NatsServer(store_dir=base / "r1")
        single.start()
        try:
            rows.append(_row("R1, one nats-server", await measure(bench, single.url, base / "td-r1", args, 1)))
        finally:
            single.stop()
        cluster = NatsCluster(base / "r3", free_ports(3))
        cluster.start()
        try:
            rows.append(_row("R3, three nodes", await measure(bench, cluster.url, base / "td-r3", args, 3)))
        finally:
            cluster.stop()
    print(f"| {args.orders} orders, {args.window} in flight; latency at {args.rate:g}/s for {args.seconds:g} s "
          "| orders/s | p50 / p99 ms | bare JetStream pairs/s | pair p50 / p99 ms |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:  # pragma: no cover
        asyncio.run(main())
