"""ws_edge's benchmark (issue #7): the whole chain, next to a bare broadcast server, in one run.

Real processes on this one machine: nats-server, ``ctp_sim`` (9 futures, ``--tick-interval`` from
``--rate``), ``python -m md_ingest`` (all 9 subscribed), ``python -m td_exec`` (the CTP venue on
ctp_sim), ``python -m ws_edge`` (``/md/`` and ``/td/`` on one port), a bare broadcast server (this file
with ``--bare-server``) and the webctp clients (``bench/ws_bench_clients.py``, one process, picows by
default). For each client count it prints, for ws_edge and for the bare server one after the other on
the same running chain:

* offered ticks/s (what md_ingest published on ``md.tick.>`` during the window), delivered
  ``RtnDepthMarketData`` frames/s at the clients (all clients together), edge / bare;
* p50 / p99 tick-to-client latency: ``Tick.ts_init`` (stamped in md_ingest when the CTP callback hands
  over the quote) → the client process's receive, both ``time.time_ns()`` on the same host clock (see
  ``ws_bench_clients.py`` for how a frame finds its tick);
* CPU % of the ws_edge and bare server processes (``/proc/<pid>/stat`` utime+stime over the window) and
  of the client process; ticks ws_edge conflated (at its NATS subscription, and in client queues).

Then the order round trip: a ``/td/`` client sends ``ReqOrderInsert`` (a resting buy of rb2601, one at
a time) → first ``RtnOrder`` at the client, through ws_edge → NATS → td_exec → ctp_sim → TD_EVT →
ws_edge; p50 / p99 (and to the ``RtnOrder`` with ``OrderStatus`` 3, the venue's acceptance).

The bare server subscribes to the same NATS subjects and, per tick, renders the same
``RtnDepthMarketData`` bytes with ws_edge's own renderer (``ws_edge.depth`` + ``ws_edge.envelope``, so
payload size and per-tick render cost are identical) and hands them to every client with
``websockets.broadcast``: no sessions, no per-client queues, no conflation, no flow control. Its login
and subscribe replies are canned.

    .venv/bin/python bench/ws_edge.py                                  # default: about 3 minutes
    .venv/bin/python bench/ws_edge.py --clients 10 --seconds 10 --rate 8000 --orders 0
    .venv/bin/python bench/ws_edge.py --client-lib websockets          # websockets clients instead of picows

picows comes with the ``bench`` extra: ``.venv/bin/pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "services"), str(ROOT / "libs")]

from tradebus.natsd import NatsServer, free_port  # noqa: E402

INSTRUMENTS = {"rb2601": "SHFE", "au2602": "SHFE", "m2601": "DCE", "i2601": "DCE", "TA601": "CZCE",
               "SR601": "CZCE", "IF2512": "CFFEX", "IC2512": "CFFEX", "sc2601": "INE"}
USER, PASSWORD = "bench", "bench-password-1"
CTP_INVESTOR, CTP_PASSWORD, CTP_AUTH_CODE = "000001", "123456", "0000000000000000"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- processes ------------------------------------------------------------------------------------------


class Procs:
    """Every child this run starts, stopped by pid (SIGTERM, then SIGKILL) in reverse order."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen[Any]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], **kw: Any) -> subprocess.Popen[Any]:
        proc = subprocess.Popen(argv, env=env, start_new_session=True, **kw)
        self.procs.append((name, proc))
        return proc

    def stop_all(self) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.procs.clear()

    def check(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise SystemExit(f"bench: {name} (pid {proc.pid}) exited with status {proc.returncode}")


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    paths = [str(ROOT / "services"), str(ROOT / "libs"), os.environ.get("PYTHONPATH", "")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBUS_")}
    return {**env, "PYTHONPATH": os.pathsep.join(p for p in paths if p), "PYTHONUNBUFFERED": "1", **(extra or {})}


def service_env(tmp: Path, nats_url: str, td: int, md: int) -> dict[str, str]:
    return child_env({
        "TRADEBUS_NATS_URL": nats_url, "TRADEBUS_DATA_DIR": str(tmp / "var"), "TRADEBUS_LOG_FORMAT": "json",
        "TRADEBUS_LOG_LEVEL": "warning", "TRADEBUS_CTP_MD_FRONT": f"sim://127.0.0.1:{md}",
        "TRADEBUS_CTP_TD_FRONT": f"sim://127.0.0.1:{td}", "TRADEBUS_CTP_USER_ID": CTP_INVESTOR,
        "TRADEBUS_CTP_PASSWORD": CTP_PASSWORD, "TRADEBUS_CTP_AUTH_CODE": CTP_AUTH_CODE,
        "TRADEBUS_USERS_FILE": str(tmp / "users.json"), "HOME": str(tmp)})


def start_ctp_sim(procs: Procs, tmp: Path, rate: float) -> tuple[int, int]:
    td, md = free_port(), free_port()
    proc = procs.start("ctp_sim", [sys.executable, "-m", "ctp_sim", "--td-port", str(td), "--md-port", str(md),
                                   "--state-dir", str(tmp / "ctp_sim"), "--tick-interval",
                                   f"{len(INSTRUMENTS) / rate:.6f}"],
                       child_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ctp_sim ready"):
        raise SystemExit(f"bench: ctp_sim did not start: {line!r}")
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    return td, md


def start_service(procs: Procs, name: str, env: dict[str, str], tmp: Path) -> tuple[subprocess.Popen[Any], int]:
    health = free_port()
    log = open(tmp / f"{name}.log", "w")
    proc = procs.start(name, [sys.executable, "-m", name, "--health-port", str(health)], env,
                       stdout=log, stderr=subprocess.STDOUT)
    return proc, health


def wait_healthy(procs: Procs, name: str, health: int, tmp: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)  # polling another process's health, bounded by the deadline
    tail = (tmp / f"{name}.log").read_text(errors="replace")[-2000:]
    raise SystemExit(f"bench: {name} not healthy within {timeout:g}s; its log ends:\n{tail}")


def metric(health: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{health}/metrics", timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def cheapen_password_hash(path: Path) -> None:
    """--login-cost minimal: the bench user's argon2id hash at minimal cost (verify reads the cost from it).

    Only login time changes (about 0.1 s of one thread per login with the store's default cost, and
    ws_edge verifies one at a time): nothing on the measured market-data or order path.
    """
    from argon2 import PasswordHasher

    data = json.loads(path.read_text())
    data["users"][USER]["password_hash"] = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    path.write_text(json.dumps(data, indent=2))


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# --- the client process ----------------------------------------------------------------------------------


class ClientProc:
    def __init__(self, procs: Procs, nats_url: str, lib: str) -> None:
        self.proc = procs.start("clients", [sys.executable, str(ROOT / "bench" / "ws_bench_clients.py"), "--nats",
                                            nats_url, "--lib", lib],
                                child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        hello = self.answer()
        if not hello.get("ready"):
            raise SystemExit(f"bench: the client process did not start: {hello}")

    def answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"bench: the client process exited ({self.proc.wait()})")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise SystemExit(f"bench: client process: {reply['error']}")
        return reply

    def call(self, cmd: str, **kw: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")
        self.proc.stdin.flush()
        return self.answer()


# --- the bare broadcast server (a child: python bench/ws_edge.py --bare-server URL PORT) --------------------


async def bare_server(nats_url: str, port: int) -> None:
    import nats
    from websockets.asyncio.server import ServerConnection, broadcast, serve
    from websockets.exceptions import ConnectionClosed

    from tradebus.schemas import MARKET_DATA_DECODER
    from tradebus.schemas.market import Tick
    from ws_edge.depth import depth_body
    from ws_edge.envelope import depth, encode

    subscribers: set[ServerConnection] = set()
    ok = {"ErrorID": 0, "ErrorMsg": "CTP:No Error"}

    async def handler(ws: ServerConnection) -> None:
        try:
            async for text in ws:
                message = json.loads(text)
                kind = message.get("MsgType")
                if kind == "ReqUserLogin":
                    await ws.send(json.dumps({"MsgType": "RspUserLogin", "RspInfo": ok, "IsLast": True,
                                              "RspUserLogin": {}}))
                elif kind in ("SubscribeMarketData", "UnSubscribeMarketData"):
                    (subscribers.add if kind == "SubscribeMarketData" else subscribers.discard)(ws)
                    rsp = "RspSubMarketData" if kind == "SubscribeMarketData" else "RspUnSubMarketData"
                    ids = message["InstrumentID"]
                    for i, instrument_id in enumerate(ids):
                        await ws.send(json.dumps({"MsgType": rsp, "RspInfo": ok, "IsLast": i == len(ids) - 1,
                                                  "SpecificInstrument": {"InstrumentID": instrument_id}}))
        except ConnectionClosed:
            pass  # the client process went away at the end of the run
        finally:
            subscribers.discard(ws)

    async def on_tick(msg: Any) -> None:
        if not subscribers:
            return
        tick = MARKET_DATA_DECODER.decode(msg.data)
        if isinstance(tick, Tick):
            broadcast(subscribers, encode(depth(depth_body(tick, tick.symbol, md_push=True))), text=True)

    nc = await nats.connect(nats_url)
    await nc.subscribe("md.tick.>", cb=on_tick, pending_msgs_limit=1_000_000)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with serve(handler, "127.0.0.1", port, compression=None, max_queue=64, ping_interval=20,
                     ping_timeout=20):
        print("bare ready", flush=True)
        await stop.wait()
    await nc.close()


# --- the paced publisher (a child: python bench/ws_edge.py --publisher URL RATE) -----------------------------


async def publisher(nats_url: str, rate: float) -> None:
    """md_ingest's output without ctp_sim and md_ingest: real Tick payloads on the same subjects.

    Every 1 ms (shorter sleeps spin under uvloop) it publishes the ticks that are due, round-robin over
    the 9 futures, each with ``ts_init`` stamped just before encoding (as md_ingest stamps it when the
    CTP callback hands the quote over). Volume grows by one per tick, so every tick's content is unique.
    """
    import msgspec
    import nats

    from tradebus.schemas.base import encode
    from tradebus.schemas.market import Level, Tick
    from tradebus.subjects import md_tick

    base = {"rb2601": 3100.0, "au2602": 560.0, "m2601": 2900.0, "i2601": 780.0, "TA601": 4700.0,
            "SR601": 5600.0, "IF2512": 3900.0, "IC2512": 5800.0, "sc2601": 520.0}
    templates = [(md_tick("ctp", exchange, symbol), Tick(
        venue="ctp", exchange=exchange, symbol=symbol, seq=0, ts_event=0, ts_init=0, trading_day="20261123",
        last=base[symbol], open=base[symbol], high=base[symbol] + 20, low=base[symbol] - 20,
        prev_close=base[symbol] - 1, volume=100_000, turnover=3.1e9, open_interest=450_000,
        upper_limit=base[symbol] * 1.06, lower_limit=base[symbol] * 0.94, average_price=base[symbol],
        bids=tuple(Level(base[symbol] - 1 - i, 10 + i) for i in range(5)),
        asks=tuple(Level(base[symbol] + i, 12 + i) for i in range(5)))) for symbol, exchange in INSTRUMENTS.items()]
    nc = await nats.connect(nats_url)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("publisher ready", flush=True)
    sent, start = 0, time.perf_counter()
    while not stop.is_set():
        due = int((time.perf_counter() - start) * rate) - sent
        for _ in range(due):
            sent += 1
            subject, template = templates[sent % len(templates)]
            now = time.time_ns()
            tick = msgspec.structs.replace(template, seq=sent, ts_event=now, ts_init=now, volume=100_000 + sent,
                                           last_qty=1 + sent % 7)
            await nc.publish(subject, encode(tick))
        await asyncio.sleep(0.001)
    await nc.close()


# --- the run ---------------------------------------------------------------------------------------------


class Chain:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.procs = Procs()
        self.nats = NatsServer(store_dir=tmp / "js")

    def start(self) -> None:
        from tradebus.users import UserStore

        self.nats.start()
        UserStore(self.tmp / "users.json").add(USER, PASSWORD, [f"ctp:{CTP_INVESTOR}"])
        if self.args.login_cost == "minimal":
            cheapen_password_hash(self.tmp / "users.json")
        # --source publisher: ctp_sim at its default 2 steps/s only feeds td_exec; the paced publisher
        # stands in for ctp_sim + md_ingest on md.tick.* (md_ingest still answers ws_edge's md.ctl).
        sim_rate = self.args.rate if self.args.source == "chain" else 2 * len(INSTRUMENTS)
        td, md = start_ctp_sim(self.procs, self.tmp, sim_rate)
        env = service_env(self.tmp, self.nats.url, td, md)
        subs = ",".join(f"ctp.{exchange}.{symbol}" for symbol, exchange in INSTRUMENTS.items())
        md_env = {**env, "TRADEBUS_MD_FUTU": "false", "TRADEBUS_MD_SUBSCRIPTIONS": subs,
                  "TRADEBUS_MD_STALE_HOURS": "always"}
        self.ws_port = free_port()
        ws_env = {**env, "TRADEBUS_WS_MD_PORT": str(self.ws_port), "TRADEBUS_WS_TD_PORT": "0"}
        if self.args.edge_src:  # A/B runs: ws_edge from another tree (e.g. `git worktree add /tmp/base HEAD`)
            ws_env["PYTHONPATH"] = os.pathsep.join([str(Path(self.args.edge_src).resolve()), ws_env["PYTHONPATH"]])
        td_env = {**env, "TRADEBUS_TD_FUTU": "false", "TRADEBUS_TD_CTP": "true"}
        started = [(name, *start_service(self.procs, name, e, self.tmp))
                   for name, e in (("md_ingest", md_env), ("td_exec", td_env), ("ws_edge", ws_env))]
        self.bare_port = free_port()
        self.bare = self.procs.start("bare", [sys.executable, __file__, "--bare-server", self.nats.url,
                                              str(self.bare_port)], child_env(), stdout=subprocess.PIPE, text=True)
        for name, _proc, health in started:
            wait_healthy(self.procs, name, health, self.tmp)
        self.edge_pid, self.edge_health = started[2][1].pid, started[2][2]
        assert self.bare.stdout is not None
        if self.bare.stdout.readline().strip() != "bare ready":
            raise SystemExit("bench: the bare server did not start")
        if self.args.source == "publisher":
            pub = self.procs.start("publisher", [sys.executable, __file__, "--publisher", self.nats.url,
                                                 str(self.args.rate)], child_env(), stdout=subprocess.PIPE, text=True)
            assert pub.stdout is not None
            if pub.stdout.readline().strip() != "publisher ready":
                raise SystemExit("bench: the publisher did not start")
        self.clients = ClientProc(self.procs, self.nats.url, self.args.client_lib)

    def stop(self) -> None:
        self.procs.stop_all()
        self.nats.stop()

    def url(self, target: str, path: str = "/md/") -> str:
        return f"ws://127.0.0.1:{self.ws_port if target == 'edge' else self.bare_port}{path}"

    def point(self, target: str, count: int) -> dict[str, Any]:
        """Subscribe ``count`` clients, warm up, measure one window, unsubscribe (which drains)."""
        args, clients = self.args, self.clients
        pid = self.edge_pid if target == "edge" else self.bare.pid
        names = list(INSTRUMENTS)
        clients.call("subscribe", target=target, count=count, instruments=names)
        time.sleep(args.warmup)  # the warm-up before the measuring window
        conflated = self._conflation() if target == "edge" else (0.0, 0.0)
        cpu0, wall0 = cpu_s(pid), time.monotonic()
        row = clients.call("measure", target=target, count=count, seconds=args.seconds)
        row["server_cpu"] = 100 * (cpu_s(pid) - cpu0) / (time.monotonic() - wall0)
        after = self._conflation() if target == "edge" else (0.0, 0.0)
        row["conflated_sub"], row["conflated_client"] = after[0] - conflated[0], after[1] - conflated[1]
        row["load"] = os.getloadavg()[0]
        started = time.monotonic()
        if target == "edge":  # logins are dear (argon2): keep the sessions, drain them
            clients.call("unsubscribe", target=target, count=count, instruments=names)
        else:  # the bare server does not bound its buffers: dropping the sockets is the quick way to drain
            clients.call("disconnect", target=target)
        row["drain_s"] = time.monotonic() - started
        self.procs.check()
        return row

    def _conflation(self) -> tuple[float, float]:
        return (metric(self.edge_health, "tradebus_ws_ticks_conflated_at_subscription"),
                metric(self.edge_health, "tradebus_ws_ticks_conflated_total"))

    def resting_buy(self) -> dict[str, Any]:
        return resting_buy_for(asyncio.run(_one_tick(self.nats.url, "md.tick.ctp.SHFE.rb2601")))


def resting_buy_for(tick: Any) -> dict[str, Any]:
    """A limit buy of rb2601 well below the market (it rests: one OrderAccepted, no fill)."""
    bid = tick.bids[0].price if tick.bids else tick.last
    price = float(max(round(bid) - 30, round(tick.lower_limit or 0) + 1))
    return {"BrokerID": "9999", "InvestorID": CTP_INVESTOR, "ExchangeID": "SHFE", "InstrumentID": "rb2601",
            "OrderPriceType": "2", "Direction": "0", "CombOffsetFlag": "0", "CombHedgeFlag": "1",
            "LimitPrice": price, "VolumeTotalOriginal": 1, "TimeCondition": "3", "VolumeCondition": "1",
            "MinVolume": 1, "ContingentCondition": "1", "ForceCloseReason": "0", "IsAutoSuspend": 0,
            "IsSwapOrder": 0}


async def _one_tick(url: str, subject: str) -> Any:
    import nats

    from tradebus.schemas import MARKET_DATA_DECODER

    nc = await nats.connect(url)
    try:
        sub = await nc.subscribe(subject)
        msg = await sub.next_msg(timeout=10)
        return MARKET_DATA_DECODER.decode(msg.data)
    finally:
        await nc.close()


def fmt_row(count: int, edge: dict[str, Any], bare: dict[str, Any]) -> str:
    ratio = edge["delivered"] / bare["delivered"] if bare["delivered"] else float("nan")
    matched = edge["matched"] / max(1, edge["sampled"])
    return (f"{count:>7} {edge['offered']:>8.0f} {edge['delivered']:>9.0f} {bare['delivered']:>9.0f} {ratio:>6.0%} "
            f"{edge['p50']:>7.2f} {edge['p99']:>8.2f} {bare['p50']:>7.2f} {bare['p99']:>8.2f} "
            f"{edge['server_cpu']:>5.0f} {bare['server_cpu']:>5.0f} {edge['client_cpu']:>4.0f}/"
            f"{bare['client_cpu']:<4.0f} {edge['conflated_sub']:>7.0f} {edge['conflated_client']:>8.0f} "
            f"{matched:>5.0%} {edge['load']:>4.1f}/{bare['load']:<4.1f}")


HEADER = (f"{'clients':>7} {'offered':>8} {'edge/s':>9} {'bare/s':>9} {'e/b':>6} {'e p50':>7} {'e p99':>8} "
          f"{'b p50':>7} {'b p99':>8} {'e CPU':>5} {'b CPU':>5} {'cli CPU':>9} {'conf@sub':>7} {'conf@cli':>8} "
          f"{'match':>5} {'load':>9}")


def run(args: argparse.Namespace) -> None:
    counts = sorted(int(c) for c in args.clients.split(",") if c.strip())
    with tempfile.TemporaryDirectory(prefix="ws-edge-bench-") as tmpdir:
        chain = Chain(args, Path(tmpdir))
        try:
            t0 = time.monotonic()
            chain.start()
            source = ("ctp_sim asked for" if args.source == "chain" else "the paced publisher (no ctp_sim -> "
                      "md_ingest ticks) at")
            print(f"ws_edge benchmark: {os.cpu_count()} CPUs; {source} {args.rate:g} ticks/s over "
                  f"{len(INSTRUMENTS)} futures; {args.seconds:g}s windows after {args.warmup:g}s warm-up; "
                  f"{args.client_lib} clients in one process; chain up in {time.monotonic() - t0:.1f}s", flush=True)
            print("latency ms: Tick.ts_init (md_ingest or the publisher) -> client receive; CPU % of one core; "
                  "conf: ticks conflated by "
                  "ws_edge in the window; match: frames whose tick was found; load: 1-min load average after the "
                  f"edge / bare window (was {os.getloadavg()[0]:.1f} at the start)", flush=True)
            print(HEADER, flush=True)
            logins = 0.0
            for count in counts:
                logins += chain.clients.call("connect", target="edge", url=chain.url("edge"), count=count,
                                             user=USER, password=PASSWORD)["seconds"]
                chain.clients.call("connect", target="bare", url=chain.url("bare"), count=count, user=USER,
                                   password=PASSWORD)
                edge = chain.point("edge", count)
                bare = chain.point("bare", count)
                print(fmt_row(count, edge, bare), flush=True)
                if args.json:
                    print(json.dumps({"edge": edge, "bare": bare}), flush=True)
            print(f"{max(counts)} ws_edge logins (argon2 cost: {args.login_cost}, verified one at a time) took "
                  f"{logins:.1f}s in all", flush=True)
            if args.orders > 0:
                order = chain.resting_buy()
                r = chain.clients.call("orders", url=chain.url("edge", "/td/"), user=USER, password=PASSWORD,
                                       count=args.orders, warmup=10, order=order, per_s=40.0)
                print(f"order round trip over {r['orders']} sequential ReqOrderInsert at most 40/s (ws_edge's "
                      "per-connection limit is 50/s), td_exec's CTP venue on "
                      f"ctp_sim, no market-data clients: first RtnOrder p50 {r['first_p50']:.2f} ms, "
                      f"p99 {r['first_p99']:.2f} ms "
                      f"(max {r['first_max']:.2f}); RtnOrder OrderStatus 3 p50 {r['accepted_p50']:.2f} ms, "
                      f"p99 {r['accepted_p99']:.2f} ms", flush=True)
            print(f"total {time.monotonic() - t0:.0f}s", flush=True)
        except BaseException:
            log = Path(tmpdir) / "ws_edge.log"
            if log.exists():
                print("ws_edge's log ends:\n" + log.read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        finally:
            chain.stop()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] in ("--bare-server", "--publisher"):
        import uvloop

        if sys.argv[1] == "--bare-server":
            uvloop.run(bare_server(sys.argv[2], int(sys.argv[3])))
        else:
            uvloop.run(publisher(sys.argv[2], float(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,10,100,500", help="client counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring window per point")
    parser.add_argument("--warmup", type=float, default=1.5, help="seconds between subscribing and measuring")
    parser.add_argument("--rate", type=float, default=5000, help="ticks/s asked of ctp_sim (over 9 futures)")
    parser.add_argument("--orders", type=int, default=200, help="sequential ReqOrderInsert round trips (0: skip)")
    parser.add_argument("--client-lib", choices=("picows", "websockets"), default="picows")
    parser.add_argument("--source", choices=("chain", "publisher"), default="chain",
                        help="chain: ctp_sim -> md_ingest (the whole chain); publisher: a paced publisher of the "
                             "same Tick payloads replaces them on md.tick.* (ws_edge alone at an exact rate)")
    parser.add_argument("--json", action="store_true", help="also print each point's raw figures")
    parser.add_argument("--login-cost", choices=("minimal", "store"), default="minimal",
                        help="argon2 cost of the bench user's hash: minimal (500 logins in about a second) or the "
                             "user store's default (about 0.1 s per login, one at a time: a minute or more for 500); "
                             "login time is printed, not part of any measured figure")
    parser.add_argument("--edge-src", default="", help="a folder holding another ws_edge package to run instead "
                                                       "of services/ws_edge (before/after comparisons)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind through the finally that stops children
    run(args)


if __name__ == "__main__":
    main()
