"""td_exec failover time (issue 19): kill -9 the active td_exec → first order accepted again.

Three setups in the same run, on one nats-server (R1), each repeated ``--trials`` times:

* baseline: one td_exec, killed with SIGKILL and started again at once (same instance id, so it takes its
  own lease back at once, its previous pid being gone): process start + rebuild + fence + reconcile;
* active/standby with ``[td] lease_s`` 1 s and 3 s: two td_exec processes, the standby already running;
  the active one is killed and the standby takes over once the lease lapsed by its own clock.

The clock starts at the kill; the client resends a fresh limit order (far from the market, so it rests)
every 20 ms until one comes back ``CommandAccepted``; denials (``reconciling``) and timeouts are counted.
Each td_exec runs the in-process sim venue (its own market), so the figure is td_exec's own failover,
not a venue's reconnect.

    .venv/bin/python bench/td_failover.py --trials 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "services"), str(ROOT / "libs")]

import msgspec  # noqa: E402

from tradebus.bus import Bus, RequestFailed, RequestTimeout, connect, ensure_topology  # noqa: E402
from tradebus.config import NatsConfig, StreamsConfig  # noqa: E402
from tradebus.natsd import NatsServer, free_port  # noqa: E402
from tradebus.schemas import TRADE_REPLY_DECODER  # noqa: E402
from tradebus.schemas.orders import CommandAccepted, CommandDenied, SubmitOrder  # noqa: E402
from tradebus.subjects import td_cmd  # noqa: E402


class Proc:
    def __init__(self, url: str, data_dir: Path, instance: str, lease_s: float, log: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "TRADEBUS_NATS_URL": url, "TRADEBUS_DATA_DIR": str(data_dir),
               "TRADEBUS_LOG_FORMAT": "json", "TRADEBUS_TD_FUTU": "0", "TRADEBUS_TD_CTP": "0",
               "TRADEBUS_TD_SIM": "1", "TRADEBUS_TD_SIM_TICK_S": "0", "TRADEBUS_TD_INSTANCE_ID": instance,
               "TRADEBUS_TD_LEASE_S": str(lease_s),
               "PYTHONPATH": os.pathsep.join([str(ROOT / "services"), str(ROOT / "libs")])}
        self.args = [sys.executable, "-m", "td_exec", "--health-port", str(self.port)]
        self.env = env
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        out = open(self.log, "ab")  # noqa: ASYNC230 - once per process start; the child writes to it
        self.process = await asyncio.create_subprocess_exec(*self.args, env=self.env, stdout=out, stderr=out)
        out.close()

    def health(self) -> dict[str, object]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())
        except OSError:
            return {}

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()


def order(coid: str) -> SubmitOrder:
    return msgspec.convert({"venue": "sim", "account": "SIM-FUT", "exchange": "SHFE", "symbol": "rb2601",
                            "side": "buy", "qty": 1, "price": 3000.0, "offset": "open", "order_type": "limit",
                            "client_order_id": coid}, SubmitOrder)


async def accepted(bus: Bus, prefix: str, deadline_s: float = 60.0) -> tuple[float, int, int]:
    """Seconds until an order is accepted, with the denials and timeouts met on the way."""
    started = time.monotonic()
    denied = timeouts = 0
    i = 0
    while time.monotonic() - started < deadline_s:
        i += 1
        try:
            reply = await bus.request(td_cmd("sim", "SIM-FUT"), order(f"{prefix}-{i}"), TRADE_REPLY_DECODER,
                                      timeout=2.0)
        except RequestTimeout:
            timeouts += 1
            continue
        except RequestFailed:  # no responders: nobody subscribed right now
            reply = None
        if isinstance(reply, CommandAccepted):
            return time.monotonic() - started, denied, timeouts
        if isinstance(reply, CommandDenied):
            denied += 1
        await asyncio.sleep(0.02)  # the client's resend pace
    raise TimeoutError(f"no order accepted within {deadline_s}s")


async def until_standby(proc: Proc, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        checks = (await asyncio.to_thread(proc.health)).get("checks") or {}
        if str(checks.get("venue_sim", "")).startswith("ok, STANDBY"):  # type: ignore[union-attr]
            return
        await asyncio.sleep(0.1)  # polling the health endpoint, bounded by the deadline
    raise TimeoutError("the standby did not report STANDBY")


async def trial(url: str, base: Path, bus: Bus, mode: str, lease_s: float, n: int) -> tuple[float, int, int]:
    run = base / f"{mode}-{lease_s:g}-{n}"
    run.mkdir(parents=True)
    a = Proc(url, run / "a", "a", lease_s, run / "a.log")
    await a.start()
    await accepted(bus, f"{run.name}-warm")
    b: Proc | None = None
    if mode == "standby":
        b = Proc(url, run / "b", "b", lease_s, run / "b.log")
        await b.start()
        await until_standby(b)
    await a.kill()
    started = time.monotonic()
    try:
        if b is None:  # the baseline: the same instance again
            a = Proc(url, run / "a", "a", lease_s, run / "a.log")
            await a.start()
        _, denied, timeouts = await accepted(bus, f"{run.name}-after")
        return time.monotonic() - started, denied, timeouts
    finally:
        await a.kill()
        if b is not None:
            await b.kill()


def _stats(values: list[float]) -> str:
    return (f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="td_failover_") as tmp:
        base = Path(tmp)
        server = NatsServer(store_dir=base / "nats")
        server.start()
        try:
            bus = await connect(NatsConfig(url=server.url, connect_timeout_s=2, reconnect_wait_s=0.1,
                                           request_timeout_s=5), "bench-client")
            await ensure_topology(bus.js, StreamsConfig())
            for name, mode, lease_s in (("baseline: kill -9, restart the same td_exec", "restart", 3.0),
                                        ("standby takes over, lease_s 1", "standby", 1.0),
                                        ("standby takes over, lease_s 3", "standby", 3.0)):
                results = [await trial(server.url, base, bus, mode, lease_s, n) for n in range(args.trials)]
                times = [r[0] for r in results]
                rows.append(f"| {name} | {_stats(times)} | {sum(r[1] for r in results)} | "
                            f"{sum(r[2] for r in results)} |")
            await bus.close()
        finally:
            server.stop()
    print(f"| {args.trials} trials each | kill → first accepted order, s (min / median / max) | "
          "`reconciling` answers | request timeouts (2 s) |")
    print("|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main())
