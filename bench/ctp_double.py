"""What the in-process CTP API double costs with many sessions (issue #21).

One ``ctp_sim`` process (9 futures, ``--tick-interval`` set for ``--rates`` ticks/s) and, in this
process, N md sessions made by ``tradebus.ctp.api.create_md_api`` (the double), each logged in and
subscribed to all 9 futures, with an SPI whose ``OnRtnDepthMarketData`` only counts. For each rate and
each N of ``--sessions`` (the baseline is N = 1: the same feed to one session), over ``--seconds``:

* ticks/s the feed offered (callbacks/s ÷ N) and callbacks/s delivered in all;
* this process's CPU (user + system, % of one core) and context switches/s (``getrusage``: every
  thread's voluntary and involuntary switches), and the same per 1 000 callbacks;
* ctp_sim's CPU (% of one core), which encodes and sends one frame per tick per session;
* the API threads this process runs.

    .venv/bin/python bench/ctp_double.py                              # 1 and 100 sessions at 18 and 200 ticks/s
    .venv/bin/python bench/ctp_double.py --sessions 1,10,100 --rates 18 --seconds 10
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_md_ingest", ROOT / "bench" / "md_ingest.py")
assert _spec is not None and _spec.loader is not None
md_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(md_bench)  # also puts services/ and libs/ on sys.path

from tradebus.ctp import import_ctp_modules  # noqa: E402
from tradebus.ctp.api import create_md_api  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
WARMUP_S = 2.0


def proc_cpu_s(pid: int) -> float:
    """utime + stime of another process, in seconds (/proc/<pid>/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def self_usage() -> tuple[float, int]:
    """This process's CPU seconds and context switches, every thread included."""
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime, u.ru_nvcsw + u.ru_nivcsw


class Sessions:
    """N md sessions on the double, each with a counting SPI."""

    def __init__(self, md_port: int, flow: Path, count: int) -> None:
        md, _ = import_ctp_modules()
        self.callbacks = [0]
        self.subscribed = threading.Semaphore(0)
        front = f"sim://127.0.0.1:{md_port}"
        names = [name.encode() for name in md_bench.INSTRUMENTS]
        self.apis: list[Any] = []
        self._spis: list[Any] = []
        counter = self.callbacks
        done = self.subscribed

        for i in range(count):
            api = create_md_api(front, str(flow / str(i)))

            class Spi(md.CThostFtdcMdSpi):  # type: ignore[misc,name-defined]
                def __init__(self, api: Any) -> None:
                    super().__init__()
                    self.api = api

                def OnFrontConnected(self) -> None:
                    field = md.CThostFtdcReqUserLoginField()
                    field.BrokerID, field.UserID, field.Password = "9999", "000001", "123456"
                    self.api.ReqUserLogin(field, 1)

                def OnRspUserLogin(self, *args: Any) -> None:
                    self.api.SubscribeMarketData(names, len(names))

                def OnRspSubMarketData(self, field: Any, info: Any, rid: int, last: bool) -> None:
                    if last:
                        done.release()

                def OnRtnDepthMarketData(self, field: Any) -> None:
                    counter[0] += 1  # the whole handler: the cost measured is the double's

            spi = Spi(api)
            api.RegisterSpi(spi)
            api.RegisterFront(front)
            self.apis.append(api)
            self._spis.append(spi)
        for api in self.apis:
            api.Init()
        for _ in range(count):
            if not self.subscribed.acquire(timeout=60):
                raise SystemExit("bench: sessions did not subscribe within 60 s")

    def release(self) -> None:
        for api in self.apis:
            api.Release()


def one_point(tmp: Path, rate: int, sessions: int, seconds: float) -> dict[str, float]:
    sim, _td, md_port = md_bench.start_ctp_sim(tmp / f"ctp_{rate}_{sessions}", rate)
    try:
        group = Sessions(md_port, tmp / f"flow_{rate}_{sessions}", sessions)
        try:
            time.sleep(WARMUP_S)  # a benchmark's warm-up window, not a race
            cb0, (cpu0, cs0), sim0, t0 = group.callbacks[0], self_usage(), proc_cpu_s(sim.pid), time.monotonic()
            time.sleep(seconds)  # the measuring window
            cb1, (cpu1, cs1), sim1, t1 = group.callbacks[0], self_usage(), proc_cpu_s(sim.pid), time.monotonic()
            threads = threading.active_count()
        finally:
            group.release()
    finally:
        md_bench.stop(sim)
    wall = t1 - t0
    delivered = (cb1 - cb0) / wall
    return {"rate": rate, "sessions": sessions, "offered": delivered / sessions, "delivered": delivered,
            "cpu": 100 * (cpu1 - cpu0) / wall, "cs": (cs1 - cs0) / wall,
            "cpu_per_k": 1e6 * (cpu1 - cpu0) / max(1, cb1 - cb0), "cs_per_k": 1000 * (cs1 - cs0) / max(1, cb1 - cb0),
            "sim_cpu": 100 * (sim1 - sim0) / wall, "threads": threads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="1,100", help="session counts, comma-separated (1 = the baseline)")
    parser.add_argument("--rates", default="18,200", help="ticks/s ctp_sim is asked for, comma-separated")
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring window per point")
    parser.add_argument("--repeat", type=int, default=1, help="rounds, alternating the session counts")
    args = parser.parse_args()
    counts = [int(n) for n in args.sessions.split(",")]
    rates = [int(r) for r in args.rates.split(",")]
    print(f"CTP API double: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, "
          f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC")
    print(f"{'asked/s':>8}{'sessions':>9}{'feed/s':>8}{'callbacks/s':>12}{'CPU %':>7}{'ctxsw/s':>9}"
          f"{'CPU ms/1k cb':>13}{'ctxsw/1k cb':>12}{'ctp_sim CPU %':>14}{'threads':>8}")
    with tempfile.TemporaryDirectory(prefix="ctp-double-") as tmpdir:
        for round_no in range(args.repeat):
            for rate in rates:
                for sessions in counts:
                    r = one_point(Path(tmpdir) / str(round_no), rate, sessions, args.seconds)
                    print(f"{r['rate']:>8}{r['sessions']:>9}{r['offered']:>8.0f}{r['delivered']:>12.0f}"
                          f"{r['cpu']:>7.0f}{r['cs']:>9.0f}{r['cpu_per_k']:>13.1f}{r['cs_per_k']:>12.0f}"
                          f"{r['sim_cpu']:>14.0f}{r['threads']:>8}", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
