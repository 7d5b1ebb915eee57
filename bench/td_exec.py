"""td_exec's benchmark (issue #5): order round trip, the JetStream floor under it, rebuild time.

One run, against a fresh embedded nats-server (file storage, as in production) and the in-process sim
venue, prints:

* **sustained orders/s per account**: ``--orders`` limit orders (resting, so each one is exactly one
  ``OrderSubmitted`` + one ``OrderAccepted``) with ``--window`` requests in flight, from the first
  request to the last ``OrderAccepted`` seen by a subscriber on ``td.evt.>``;
* **p50 / p99 round trip at ``--rate`` orders/s** (default 100) for ``--seconds``: request sent →
  ``OrderAccepted`` seen by the subscriber;
* the same two figures for **bare JetStream publish-and-ack** of the same two event sizes, one after
  the other (the store's floor: td_exec cannot be faster than its two acknowledged appends);
* **restart time** for each of ``--rebuild-sizes`` stored events (orders of ten events: submitted,
  accepted, seven fills, cancelled), two ways on the same stream: the full replay (the baseline), and
  td_exec's snapshot (``td_exec.snapshot``, taken at the history's end) plus a replay of the
  ``--tail`` events written after it; with the snapshot's size, the time to take it and the longest
  the event loop (every account's writer) was held up while it was taken.

The client, the engine and the venue share one process and one event loop (uvloop), so the figures
include the client's own CPU: conservative for the engine.

    .venv/bin/python bench/td_exec.py                                  # about 30 s
    .venv/bin/python bench/td_exec.py --rebuild-sizes 100000,1000000   # + the 1 M restart (minutes)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "services"), str(ROOT / "libs")]

from td_exec import snapshot  # noqa: E402
from td_exec.closed import ClosedOrders  # noqa: E402
from td_exec.commands import CommandServer  # noqa: E402
from td_exec.engine import AccountStatus, Engine  # noqa: E402
from td_exec.rebuild import rebuild  # noqa: E402
from td_exec.sim_venue import SimVenue  # noqa: E402
from td_exec.venue import OrderReport, VenueOrder  # noqa: E402
from tradebus.bus import Bus, connect, ensure_topology  # noqa: E402
from tradebus.config import NatsConfig, StreamsConfig  # noqa: E402
from tradebus.config_sections.td import TdConfig  # noqa: E402
from tradebus.ids import order_event_id  # noqa: E402
from tradebus.natsd import NatsServer  # noqa: E402
from tradebus.runtime.metrics import Registry  # noqa: E402
from tradebus.schemas import ORDER_EVENT_DECODER, TRADE_REPLY_DECODER  # noqa: E402
from tradebus.schemas.base import encode  # noqa: E402
from tradebus.schemas.orders import (  # noqa: E402
    Offset,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderStatus,
    OrderSubmitted,
    OrderType,
    Side,
    SubmitOrder,
)
from tradebus.subjects import td_cmd, td_evt  # noqa: E402

# Restarts: every closed order of the history retires at once (see restart_figures).
RESTART_TD = TdConfig(futu=False, ctp=False, sim=True, keep_closed_s=0.0)
HISTORY_WINDOW = 20_000  # history messages per acknowledged publish (the writer's flow control)

ACCOUNT = "SIM-US"  # USD stocks: a far-below-market bid rests and freezes almost no cash


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _bus(url: str, name: str) -> Bus:
    return await connect(NatsConfig(url=url, request_timeout_s=10), name)


class OrderBench:
    def __init__(self, client: Bus) -> None:
        self.client = client
        self.venue = "sim"  # bench/td_accounts.py runs engines with other venue names beside it
        self.accounts = [ACCOUNT]  # orders go round-robin over these (bench/td_accounts.py sets many)
        self.sent: dict[str, int] = {}
        self.latency_ms: dict[str, float] = {}
        self.done: dict[str, asyncio.Event] = {}
        self.seq = 0

    async def start(self) -> None:
        await self.client.nc.subscribe(f"td.evt.{self.venue}.>", cb=self._on_event)

    async def _on_event(self, msg: object) -> None:
        event = ORDER_EVENT_DECODER.decode(msg.data)  # type: ignore[attr-defined]
        if isinstance(event, OrderAccepted) and event.client_order_id in self.sent:
            coid = event.client_order_id
            self.latency_ms[coid] = (time.perf_counter_ns() - self.sent[coid]) / 1e6
            self.done[coid].set()

    async def one(self) -> None:
        self.seq += 1
        coid = f"B{self.seq}"
        self.done[coid] = asyncio.Event()
        account = self.accounts[self.seq % len(self.accounts)]
        cmd = SubmitOrder(venue=self.venue, account=account, exchange="US", symbol="AAPL", side=Side.BUY, qty=1,
                          order_type=OrderType.LIMIT, price=1.00, client_order_id=coid)
        self.sent[coid] = time.perf_counter_ns()
        await self.client.request(td_cmd(self.venue, account), cmd, TRADE_REPLY_DECODER, timeout=10)
        await asyncio.wait_for(self.done[coid].wait(), 10)


async def sustained(run: callable, count: int, window: int) -> float:  # type: ignore[valid-type]
    sem = asyncio.Semaphore(window)

    async def guarded() -> None:
        async with sem:
            await run()

    started = time.perf_counter()
    await asyncio.gather(*(guarded() for _ in range(count)))
    return count / (time.perf_counter() - started)


async def paced(run: callable, rate: float, seconds: float) -> list[float]:  # type: ignore[valid-type]
    """Start one operation every 1/rate s on a fixed schedule; returns each one's latency in ms."""
    latencies: list[float] = []

    async def timed() -> None:
        t0 = time.perf_counter_ns()
        await run()
        latencies.append((time.perf_counter_ns() - t0) / 1e6)

    tasks = []
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # the pacing schedule itself
        tasks.append(asyncio.create_task(timed()))
    await asyncio.gather(*tasks)
    return latencies


def sample_events(coid: str, account: str = "BENCH") -> tuple[OrderSubmitted, OrderAccepted]:
    now = time.time_ns()
    ids = {"venue": "sim", "account": account, "client_order_id": coid, "ts_event": now, "ts_init": now}
    sub = OrderSubmitted(event_id=order_event_id("sim", account, coid, "OrderSubmitted"), **ids, exchange="US",
                         symbol="AAPL", side=Side.BUY, order_type=OrderType.LIMIT, qty=1, price=1.0)
    acc = OrderAccepted(event_id=order_event_id("sim", account, coid, "OrderAccepted"), **ids, venue_order_id="12345")
    return sub, acc


class JsBench:
    """Two acknowledged appends of the same sizes as OrderSubmitted + OrderAccepted."""

    def __init__(self, client: Bus) -> None:
        self.client = client
        self.seq = 0

    async def one(self) -> None:
        self.seq += 1
        coid = f"J{self.seq}"
        sub, acc = sample_events(coid)
        subject = td_evt("sim", "BENCH", coid)
        await self.client.publish_event(subject, sub, msg_id=sub.event_id)
        await self.client.publish_event(subject, acc, msg_id=acc.event_id)


class InstantVenue(SimVenue):
    """The sim venue's session without its market: every order is accepted at once. The sim market's
    cost per order grows with the account's resting orders, so with it the sustained figure measures
    the simulator; with this venue it measures td_exec."""

    async def submit(self, order: VenueOrder) -> str | None:
        self.inserts += 1
        venue_order_id = f"I{self.inserts}"
        assert self._sink is not None
        self._sink.on_order(OrderReport(
            account=order.account, client_order_id=order.client_order_id, venue_order_id=venue_order_id,
            exchange=order.exchange, symbol=order.symbol, side=order.side, qty=order.qty, price=order.price,
            status=OrderStatus.ACCEPTED, offset=order.offset, ts_event=time.time_ns()))
        return venue_order_id


async def order_figures(url: str, data_dir: Path, args: argparse.Namespace, venue: SimVenue,
                        streams: StreamsConfig | None = None) -> dict[str, float]:
    """``streams``: the topology to declare (bench/cluster.py passes R3 on a cluster)."""
    engine_bus, client = await _bus(url, "td_exec-bench"), await _bus(url, "bench-client")
    await ensure_topology(engine_bus.js, streams or StreamsConfig())
    cfg = TdConfig(futu=False, ctp=False, sim=True, sim_tick_s=0.0, inflight_check_s=3600.0)
    engine = Engine(engine_bus, [venue], cfg, data_dir, Registry())
    await engine.start()
    # As td_exec runs: the held account's own subscription on a second connection, unless --no-direct
    # (the command path before that subscription existed, for the comparison in docs/performance.md).
    direct_bus = None if getattr(args, "no_direct", False) else await _bus(url, "td_exec-bench-direct")
    server = CommandServer(engine, direct_bus)
    await server.start()
    key = ("sim", ACCOUNT)
    while key not in engine.accounts or engine.accounts[key].status is not AccountStatus.READY:  # noqa: ASYNC110
        await asyncio.sleep(0.01)  # polling the start-up reconciliation's end
    bench = OrderBench(client)
    await bench.start()
    await sustained(bench.one, 200, args.window)  # warm-up
    # Latency first: every bench order rests in the sim book, and the sim market's cost per order grows
    # with the resting orders of the account (a simulator artefact, not td_exec's).
    lat = await paced(bench.one, args.rate, args.seconds)
    figures = {"p50_ms": statistics.median(lat), "p99_ms": pct(lat, 0.99)}
    figures["orders_per_s"] = await sustained(bench.one, args.orders, args.window)
    js = JsBench(client)
    await sustained(js.one, 200, args.window)
    figures["js_pairs_per_s"] = await sustained(js.one, args.orders, args.window)
    jlat = await paced(js.one, args.rate, args.seconds)
    figures.update(js_p50_ms=statistics.median(jlat), js_p99_ms=pct(jlat, 0.99))
    sub, acc = sample_events("B123456")
    figures.update(submitted_bytes=len(encode(sub)), accepted_bytes=len(encode(acc)))
    await server.stop()
    await engine.stop()
    await venue.stop()
    await engine_bus.close()
    if direct_bus is not None:
        await direct_bus.close()
    await client.close()
    return figures


def order_story(n: int) -> list[tuple[str, object]]:
    """Ten events of one order: submitted, accepted, seven fills, cancelled."""
    coid = f"R{n}"
    sub, acc = sample_events(coid, "REBUILD")
    sub = OrderSubmitted(**{**{f: getattr(sub, f) for f in sub.__struct_fields__}, "qty": 10, "offset": Offset.NONE})
    ids = {"venue": "sim", "account": "REBUILD", "client_order_id": coid, "ts_event": sub.ts_event,
           "ts_init": sub.ts_init, "venue_order_id": "12345"}
    out: list[tuple[str, object]] = [(sub.event_id, sub), (acc.event_id, acc)]
    for k in range(7):
        trade = f"sim:{n}-{k}"
        out.append((order_event_id("sim", "REBUILD", coid, "OrderFilled", trade),
                    OrderFilled(event_id=order_event_id("sim", "REBUILD", coid, "OrderFilled", trade), **ids,
                                trade_id=trade, fill_qty=1, fill_price=1.0 + k / 100)))
    cid = order_event_id("sim", "REBUILD", coid, "OrderCancelled")
    out.append((cid, OrderCancelled(event_id=cid, **ids)))
    return out


class LoopLag:
    """The longest the event loop was kept from a 1 ms timer: how long a writer could have waited."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(0.001)  # the probe's own period
            self.worst = max(self.worst, time.perf_counter() - t0 - 0.001)

    async def stop(self) -> float:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return self.worst * 1000


async def write_history(bus: Bus, first_order: int, count: int) -> int:
    """Append ``count`` events of ten-event orders from order number ``first_order``; returns the next one.

    As fast as one Python process can: plain publishes (no ack to wait for, no per-message future),
    one acknowledged publish every ``HISTORY_WINDOW`` messages as the flow control (a stream stores a
    connection's messages in order, so its ack means every earlier one is stored), and the stream's
    count checked at the end (a publish the server dropped fails the bench).
    """
    before = (await bus.js.stream_info("TD_EVT")).state.messages
    written, n = 0, first_order
    while written < count:
        for _msg_id, event in order_story(n):
            if written >= count:
                break
            subject = td_evt("sim", "REBUILD", event.client_order_id)  # type: ignore[attr-defined]
            written += 1
            if written % HISTORY_WINDOW == 0 or written == count:
                await bus.js.publish(subject, encode(event), timeout=30.0)
            else:
                await bus.nc.publish(subject, encode(event))
        n += 1
    stored = (await bus.js.stream_info("TD_EVT")).state.messages - before
    assert stored == count, f"{count - stored} of {count} history events were not stored"
    return n


def open_orders(count: int) -> list[tuple[str, object]]:
    """``count`` resting orders (submitted + accepted): what a live td_exec holds however long its history."""
    out: list[tuple[str, object]] = []
    for n in range(count):
        sub, acc = sample_events(f"OPEN{n}", "REBUILD")
        out += [(sub.event_id, sub), (acc.event_id, acc)]
    return out


async def restart_figures(size: int, tail: int, base: Path, *, baseline: bool, held: int) -> dict[str, float]:
    """Full replay vs snapshot + tail, on one stream of ``size`` + ``tail`` events.

    The history is ``held`` resting orders and then ten-event orders, all closed; td_exec runs with
    ``keep_closed_s = 0`` (every closed order of the history is older than the default 300 s anyway
    in a real year of history), so it holds the resting orders only.
    """
    server = NatsServer(store_dir=base / f"rebuild-{size}")
    server.start()
    try:
        bus = await _bus(server.url, "bench-rebuild")
        await ensure_topology(bus.js, StreamsConfig())
        t0 = time.perf_counter()
        for msg_id, event in open_orders(held):
            await bus.js.publish(td_evt("sim", "REBUILD", event.client_order_id), encode(event),  # type: ignore[attr-defined]
                                 headers={"Nats-Msg-Id": msg_id})
        next_order = await write_history(bus, 0, size - 2 * held)
        f: dict[str, float] = {"write_s": time.perf_counter() - t0}
        # td_exec's first start on this history (no snapshot yet: the full replay, closed orders retired
        # as it goes), then the snapshot it takes (its capture yields every slice).
        closed = ClosedOrders(bus, RESTART_TD, Registry())
        t0 = time.perf_counter()
        ledger = await snapshot.restore_fold(bus, RESTART_TD, ["sim"], closed)
        f["fallback_s"] = time.perf_counter() - t0
        orders = len(ledger.accounts[("sim", "REBUILD")])
        assert orders == held, (orders, held)
        seq = (await bus.js.stream_info("TD_EVT")).state.last_seq
        probe = LoopLag()
        t0 = time.perf_counter()
        data = await snapshot.capture(ledger, ["sim"], seq, {}, closed.filter)
        f["capture_s"] = time.perf_counter() - t0
        await snapshot.save(bus, ["sim"], data)
        f["take_s"] = time.perf_counter() - t0
        f["lag_ms"] = await probe.stop()
        f["snapshot_mb"] = len(data) / 1e6
        del ledger, data
        await write_history(bus, next_order, tail)  # what happened after the snapshot
        f["full_s"] = float("nan")
        if baseline:  # the replay before closed orders left memory: every order held
            t0 = time.perf_counter()
            full = await rebuild(bus)
            f["full_s"] = time.perf_counter() - t0
            assert full.events == size + tail, (full.events, size + tail)
            del full
        t0 = time.perf_counter()
        closed = ClosedOrders(bus, RESTART_TD, Registry())
        ledger = await snapshot.restore_fold(bus, RESTART_TD, ["sim"], closed)
        f["restore_s"] = time.perf_counter() - t0
        assert ledger.events == tail and len(ledger.accounts[("sim", "REBUILD")]) == held
        t0 = time.perf_counter()  # one retired order of the history, looked up by id: read back from TD_EVT
        old = await closed.recall(ledger, "sim", "REBUILD", f"R{next_order // 2}")
        f["recall_ms"] = (time.perf_counter() - t0) * 1000
        assert old is not None and old.status is OrderStatus.CANCELLED and len(old.trades) == 7
        await bus.close()
        return f
    finally:
        server.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1000, help="orders for the sustained figure")
    parser.add_argument("--window", type=int, default=32, help="requests in flight for the sustained figure")
    parser.add_argument("--rate", type=float, default=100.0, help="orders/s of the latency figure")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of the latency figure")
    parser.add_argument("--no-direct", action="store_true",
                        help="no subscription per held account (the command path before it existed)")
    parser.add_argument("--rebuild-sizes", default="100000", help="comma-separated stored-event counts")
    parser.add_argument("--tail", type=int, default=10000, help="events written after the snapshot")
    parser.add_argument("--held", type=int, default=1000, help="resting orders in the history (held in memory)")
    parser.add_argument("--baseline-max", type=int, default=10_000_000,
                        help="no full-replay baseline above this many events (it holds every order: minutes)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="td_exec_bench_") as tmp:
        base = Path(tmp)
        venues = (("sim venue (SimMarket)", lambda: SimVenue(seed=3)), ("instant venue", lambda: InstantVenue(seed=3)))
        for name, make_venue in venues if args.orders > 0 else ():
            server = NatsServer(store_dir=base / f"js-{len(name)}")
            server.start()
            try:
                f = await order_figures(server.url, base / f"td_exec-{len(name)}", args, make_venue())
            finally:
                server.stop()
            print(f"--- {name}; events: OrderSubmitted {f['submitted_bytes']:.0f} B, "
                  f"OrderAccepted {f['accepted_bytes']:.0f} B")
            print(f"{'':34}{'per s':>10}{'p50 ms':>10}{'p99 ms':>10}")
            print(f"{'td_exec submit -> OrderAccepted':34}{f['orders_per_s']:>10.0f}{f['p50_ms']:>10.2f}"
                  f"{f['p99_ms']:>10.2f}")
            print(f"{'bare JetStream 2 x publish+ack':34}{f['js_pairs_per_s']:>10.0f}{f['js_p50_ms']:>10.2f}"
                  f"{f['js_p99_ms']:>10.2f}")
            print(f"(latencies at {args.rate:g}/s for {args.seconds:g} s; per s: {args.orders} orders, "
                  f"{args.window} in flight; td_exec / bare: {f['orders_per_s'] / f['js_pairs_per_s']:.0%})")
        print(f"restart with {args.tail} events after the snapshot, {args.held} resting orders held: "
              "full replay holding every order (baseline) vs snapshot + tail")
        print(f"{'history':>10}{'full s':>9}{'snap+tail s':>13}{'fallback s':>12}{'snap MB':>9}{'take s':>8}"
              f"{'(capture s)':>12}{'loop lag ms':>12}{'recall ms':>10}{'write s':>9}")
        for size in (int(s) for s in args.rebuild_sizes.split(",") if s.strip()):
            r = await restart_figures(size, args.tail, base, baseline=size <= args.baseline_max, held=args.held)
            print(f"{size:>10}{r['full_s']:>9.2f}{r['restore_s']:>13.2f}{r['fallback_s']:>12.2f}"
                  f"{r['snapshot_mb']:>9.1f}{r['take_s']:>8.2f}{r['capture_s']:>12.2f}{r['lag_ms']:>12.1f}"
                  f"{r['recall_ms']:>10.1f}{r['write_s']:>9.1f}", flush=True)


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
