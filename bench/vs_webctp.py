"""tradebus (ws_edge) side by side with webctp's own server, on the same ctp_sim feed (issue #21).

webctp (openctp/webctp) is fetched at bench time into this run's scratch folder — ``git clone`` of
``--webctp-source`` (its public repository by default; a local mirror path works too) — and never
copied into this repository. Its dependencies (fastapi, uvicorn, pyyaml) are installed with pip into
the scratch folder (``--deps`` reuses a folder). It runs unchanged, in its own process, as
``python main.py --app_type dev`` (``/md/`` and ``/td/`` on one port), started by this file's
``--launch`` mode, which first points openctp-ctp's API factories (``CThostFtdcMdApi.CreateFtdcMdApi``,
``CThostFtdcTraderApi.CreateFtdcTraderApi``) at tradebus's CTP API double (``tradebus.ctp.sim_api``),
so its CTP sessions reach ctp_sim as ours do. Each webctp client opens its own CTP session (its design).

The tradebus side is the chain of ``bench/ws_edge.py`` (nats-server, ctp_sim, md_ingest, td_exec,
ws_edge, one picows client process). Both servers are fed by the same ctp_sim; for each client count
the two are measured one after the other (``--repeat`` rounds alternate which goes first):

* delivered ``RtnDepthMarketData`` frames/s (all clients) and the ticks/s ctp_sim offered;
* p50 / p99 ms from the tick's origin: md_ingest's ``Tick.ts_init`` (its CTP callback) to the client's
  receive, the frame matched to its tick by content (webctp's frames are built from the same CTP
  struct, so they match the same tick; ``match`` is the share of sampled frames matched);
* server CPU (% of one core) and RSS: ws_edge alone, and the tradebus chain that serves market data
  (ws_edge + md_ingest + nats-server); webctp's one process;
* CTP sessions open to ctp_sim (md + td) from the server side: tradebus's md_ingest and td_exec, and
  webctp's process (counted from their established TCP connections);
* the order round trip: ``ReqOrderInsert`` → ``RtnOrder`` with ``OrderStatus`` 3, sequential, at most
  40/s, on each server's ``/td/``.

    .venv/bin/python bench/vs_webctp.py                                   # 1, 10, 100 clients at 200 ticks/s
    .venv/bin/python bench/vs_webctp.py --webctp-source /path/to/a/webctp/clone --deps /tmp/webctp-deps
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import runpy
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

WEBCTP_SOURCE = "https://github.com/openctp/webctp"
WEBCTP_DEPS = ("fastapi", "uvicorn", "pyyaml")


# --- the --launch mode: runs inside webctp's process ---------------------------------------------------


def launch(webctp_dir: str, config: str) -> None:
    """Point openctp-ctp's factories at the double, then run webctp's own ``main.py`` as it is."""
    sys.path.insert(0, webctp_dir)  # webctp's top-level packages (services, clients …) come first
    from openctp_ctp import mdapi, tdapi

    from tradebus.ctp.sim_api import SimMdApi, SimTraderApi

    def md_factory(flow: str = "", *_native_flags: Any) -> SimMdApi:
        return SimMdApi(flow)

    def td_factory(flow: str = "", *_native_flags: Any) -> SimTraderApi:
        return SimTraderApi(flow)

    mdapi.CThostFtdcMdApi.CreateFtdcMdApi = staticmethod(md_factory)
    tdapi.CThostFtdcTraderApi.CreateFtdcTraderApi = staticmethod(td_factory)
    os.chdir(webctp_dir)
    sys.argv = ["main.py", "--config", config, "--app_type", "dev"]
    runpy.run_path("main.py", run_name="__main__")


# --- the driver ----------------------------------------------------------------------------------------


def load_chain() -> Any:
    spec = importlib.util.spec_from_file_location("bench_ws_edge", ROOT / "bench" / "ws_edge.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # also puts services/ and libs/ on sys.path
    return module


def fetch_webctp(source: str, dest: Path) -> str:
    """Clone webctp into the scratch folder; returns its commit."""
    done = subprocess.run(["git", "clone", "--quiet", "--depth", "1", source, str(dest)], capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"bench: cannot fetch webctp from {source}: {done.stderr.strip()}")
    return subprocess.run(["git", "-C", str(dest), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()


def ensure_deps(folder: Path) -> None:
    if (folder / "fastapi").is_dir() and (folder / "uvicorn").is_dir() and (folder / "yaml").is_dir():
        return
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(folder), *WEBCTP_DEPS],
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"bench: pip cannot install webctp's dependencies {WEBCTP_DEPS}: {done.stderr[-2000:]}")


def wait_port(port: int, proc: subprocess.Popen[Any], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench: webctp exited with status {proc.returncode} at start-up")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)  # polling another process's port, bounded by the deadline
    raise SystemExit(f"bench: webctp did not listen on {port} within {timeout:g}s")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ctp_sessions(pids: list[int], ports: tuple[int, int]) -> int:
    """Established TCP connections from these processes to ctp_sim's td and md ports."""
    inodes: set[str] = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "01" and int(cols[2].rsplit(":", 1)[1], 16) in ports and cols[9] in inodes:
                count += 1
    return count


class SideBySide:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.chain_mod = load_chain()
        ns = argparse.Namespace(rate=args.rate, source="chain", login_cost="minimal", edge_src="",
                                client_lib=args.client_lib, warmup=args.warmup, seconds=args.seconds)
        self.chain = self.chain_mod.Chain(ns, tmp)

    def start(self, webctp_dir: Path, deps: Path) -> None:
        cm, ch = self.chain_mod, self.chain
        ch.start()
        self.sim_ports = self._ctp_sim_ports()
        pids = {name: proc.pid for name, proc in ch.procs.procs}
        self.edge_pids = [pids["ws_edge"], pids["md_ingest"], ch.nats.pid]
        self.tradebus_ctp_pids = [pids["md_ingest"], pids["td_exec"]]
        self.port = cm.free_port()
        td, md = self.sim_ports
        config = self.tmp / "webctp.yaml"
        config.write_text(
            f'TdFrontAddress: "sim://127.0.0.1:{td}"\nMdFrontAddress: "sim://127.0.0.1:{md}"\nBrokerID: "9999"\n'
            f'AuthCode: "{cm.CTP_AUTH_CODE}"\nAppID: simnow_client_test\nPort: {self.port}\nHost: 127.0.0.1\n'
            f'LogLevel: WARNING\nConFilePath: "{self.tmp / "webctp_flow"}/"\n')
        env = cm.child_env({"PYTHONPATH": os.pathsep.join([str(deps), str(ROOT / "libs")])})
        log = open(self.tmp / "webctp.log", "w")
        self.webctp = ch.procs.start("webctp", [sys.executable, __file__, "--launch", str(webctp_dir), str(config)],
                                     env, stdout=log, stderr=subprocess.STDOUT)
        wait_port(self.port, self.webctp)

    def _ctp_sim_ports(self) -> tuple[int, int]:
        """ctp_sim's td and md ports, from the command line the chain started it with."""
        argv = next(proc.args for name, proc in self.chain.procs.procs if name == "ctp_sim")
        return int(argv[argv.index("--td-port") + 1]), int(argv[argv.index("--md-port") + 1])

    def url(self, target: str, path: str = "/md/") -> str:
        return self.chain.url("edge", path) if target == "edge" else f"ws://127.0.0.1:{self.port}{path}"

    def login(self, target: str) -> tuple[str, str]:
        cm = self.chain_mod
        return (cm.USER, cm.PASSWORD) if target == "edge" else (cm.CTP_INVESTOR, cm.CTP_PASSWORD)

    def point(self, target: str, count: int) -> dict[str, Any]:
        cm, clients, args = self.chain_mod, self.chain.clients, self.args
        user, password = self.login(target)
        clients.call("connect", target=target, url=self.url(target), count=count, user=user, password=password)
        names = list(cm.INSTRUMENTS)
        clients.call("subscribe", target=target, count=count, instruments=names)
        time.sleep(args.warmup)  # the warm-up before the measuring window
        pids = [self.edge_pids[0]] if target == "edge" else [self.webctp.pid]
        whole = self.edge_pids if target == "edge" else [self.webctp.pid]
        cpu0 = [cm.cpu_s(p) for p in whole]
        wall0 = time.monotonic()
        row = clients.call("measure", target=target, count=count, seconds=args.seconds)
        wall = time.monotonic() - wall0
        cpu = [100 * (cm.cpu_s(p) - c) / wall for p, c in zip(whole, cpu0, strict=True)]
        row.update(server_cpu=cpu[0], chain_cpu=sum(cpu), rss=rss_mb(pids[0]), chain_rss=sum(rss_mb(p) for p in whole),
                   sessions=ctp_sessions(self.tradebus_ctp_pids if target == "edge" else [self.webctp.pid],
                                         self.sim_ports),
                   load=os.getloadavg()[0])
        if target == "edge":  # keep ws_edge's sessions (as bench/ws_edge.py does): unsubscribing drains them
            clients.call("unsubscribe", target=target, count=count, instruments=names)
        else:  # webctp releases each client's CTP session with its socket; its queues drain with it
            clients.call("disconnect", target=target)
        self.chain.procs.check()
        return row

    def orders(self, target: str) -> dict[str, Any]:
        user, password = self.login(target)
        return self.chain.clients.call("orders", url=self.url(target, "/td/"), user=user, password=password,
                                       count=self.args.orders, warmup=10, order=self.order, per_s=40.0)


HEADER = (f"{'server':>7} {'clients':>7} {'offered':>8} {'frames/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'match':>6} "
          f"{'CPU %':>6} {'chain CPU %':>11} {'RSS MB':>7} {'chain RSS':>9} {'CTP sessions':>12} {'load':>5}")


def fmt(target: str, r: dict[str, Any]) -> str:
    name = "tradebus" if target == "edge" else "webctp"
    matched = r["matched"] / max(1, r["sampled"])
    return (f"{name:>7} {r['clients']:>7} {r['offered']:>8.0f} {r['delivered']:>9.0f} {r['p50']:>8.2f} "
            f"{r['p99']:>8.2f} {matched:>6.0%} {r['server_cpu']:>6.0f} {r['chain_cpu']:>11.0f} {r['rss']:>7.0f} "
            f"{r['chain_rss']:>9.0f} {r['sessions']:>12} {r['load']:>5.1f}")


def run(args: argparse.Namespace) -> None:
    counts = [int(c) for c in args.clients.split(",") if c.strip()]
    with tempfile.TemporaryDirectory(prefix="vs-webctp-") as tmpdir:
        tmp = Path(tmpdir)
        commit = fetch_webctp(args.webctp_source, tmp / "webctp")
        deps = Path(args.deps) if args.deps else tmp / "deps"
        ensure_deps(deps)
        bench = SideBySide(args, tmp)
        try:
            bench.start(tmp / "webctp", deps)
            print(f"tradebus vs webctp ({args.webctp_source} at {commit}): {os.cpu_count()} CPUs, ctp_sim asked for "
                  f"{args.rate:g} ticks/s over 9 futures, {args.seconds:g}s windows after {args.warmup:g}s warm-up, "
                  f"load average {os.getloadavg()[0]:.2f}, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC",
                  flush=True)
            print("CPU % of one core; chain = ws_edge + md_ingest + nats-server (tradebus) / the one process (webctp)",
                  flush=True)
            print(HEADER, flush=True)
            for round_no in range(args.repeat):
                order = ("edge", "webctp") if round_no % 2 == 0 else ("webctp", "edge")
                for count in counts:
                    for target in order:
                        print(fmt(target, bench.point(target, count)), flush=True)
            if args.orders > 0:
                bench.order = bench.chain.resting_buy()
                for round_no in range(args.repeat):
                    for target in ("edge", "webctp") if round_no % 2 == 0 else ("webctp", "edge"):
                        r = bench.orders(target)
                        print(f"{'tradebus' if target == 'edge' else 'webctp':>8} orders: {r['orders']} sequential "
                              f"ReqOrderInsert at most 40/s -> RtnOrder OrderStatus 3 p50 {r['accepted_p50']:.2f} ms, "
                              f"p99 {r['accepted_p99']:.2f} ms; first RtnOrder p50 {r['first_p50']:.2f}, "
                              f"p99 {r['first_p99']:.2f} ms", flush=True)
        except BaseException:
            for name in ("webctp.log", "ws_edge.log"):
                log = tmp / name
                if log.exists():
                    print(f"{name} ends:\n" + log.read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        finally:
            bench.chain.stop()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--launch":
        launch(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,10,100", help="client counts, comma-separated")
    parser.add_argument("--rate", type=float, default=200, help="ticks/s asked of ctp_sim (over 9 futures)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring window per point")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds between subscribing and measuring")
    parser.add_argument("--orders", type=int, default=100, help="sequential ReqOrderInsert per server (0: skip)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds, alternating which server goes first")
    parser.add_argument("--client-lib", choices=("picows", "websockets"), default="picows")
    parser.add_argument("--webctp-source", default=WEBCTP_SOURCE, help="where to git clone webctp from")
    parser.add_argument("--deps", default="", help="a pip --target folder for webctp's dependencies (reused)")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
