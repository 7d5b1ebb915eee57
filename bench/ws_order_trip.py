"""The order round trip through ws_edge at a steady rate, and where its time goes (issue #21).

Real processes on this machine: nats-server, ``ctp_sim``, ``python -m md_ingest`` (rb2601 only: the
bench takes a price from its ticks), ``python -m td_exec`` (the CTP venue on ctp_sim) and
``python -m ws_edge`` (``/td/``). This process is the webctp client (``websockets``): it logs in on
``/td/`` and sends ``ReqOrderInsert`` (a resting buy of rb2601, far below the market) on a fixed
schedule of ``--rate`` orders/s (open loop: a slow answer does not delay the next send; ws_edge allows
50 requests/s per connection), and measures, per order:

* ``ReqOrderInsert`` sent → the first ``RtnOrder`` (ws_edge renders it from ``OrderSubmitted``);
* ``ReqOrderInsert`` sent → the ``RtnOrder`` with ``OrderStatus`` ``3`` (from ``OrderAccepted``: the
  venue took it).

Where the time goes: the same process subscribes to ``td.evt.ctp.>`` and notes when each event arrives
(ws_edge receives it at the same moment, on its own subscription), and each event carries ``ts_init``,
td_exec's clock when it built the event. All stamps are ``time.time_ns()`` on one host, so the legs are:

* send → ``OrderSubmitted`` built: the client's frame, ws_edge's parse and checks, the ``td.cmd``
  request over NATS, td_exec's dispatch, instrument lookup and pre-trade checks;
* built → on the bus: TD_EVT storing it (JetStream's ack and the delivery to subscribers);
* on the bus → first ``RtnOrder``: ws_edge's fold of the event, the render and the socket;
* ``OrderSubmitted`` built → ``OrderAccepted`` built: td_exec waiting for the ack, the CTP API double's
  ``ReqOrderInsert`` to ctp_sim and back (``OnRtnOrder``), the report queue;
* ``OrderAccepted`` built → on the bus → ``RtnOrder`` 3 at the client, as above.

    .venv/bin/python bench/ws_order_trip.py                       # 400 orders at 40/s: about a minute
    .venv/bin/python bench/ws_order_trip.py --orders 1000 --rate 40
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "services"), str(ROOT / "libs")]

# The chain's process helpers live in bench/ws_edge.py (a file name the ws_edge package also has).
_spec = importlib.util.spec_from_file_location("bench_ws_edge", ROOT / "bench" / "ws_edge.py")
assert _spec is not None and _spec.loader is not None
chain = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(chain)

from tradebus.natsd import NatsServer, free_port  # noqa: E402
from tradebus.schemas import ORDER_EVENT_DECODER  # noqa: E402
from tradebus.schemas.orders import OrderAccepted, OrderSubmitted  # noqa: E402

LEGS = (
    ("send -> first RtnOrder", "sent", "first_rtn"),
    ("  send -> OrderSubmitted built (edge, bus, td_exec checks)", "sent", "sub_built"),
    ("  built -> on the bus (TD_EVT store)", "sub_built", "sub_seen"),
    ("  on the bus -> first RtnOrder (ws_edge fold, socket)", "sub_seen", "first_rtn"),
    ("send -> RtnOrder OrderStatus 3", "sent", "acc_rtn"),
    ("  OrderSubmitted built -> OrderAccepted built (ack, venue)", "sub_built", "acc_built"),
    ("  built -> on the bus (TD_EVT store)", "acc_built", "acc_seen"),
    ("  on the bus -> RtnOrder 3 (ws_edge fold, socket)", "acc_seen", "acc_rtn"),
)


def start_chain(procs: Any, tmp: Path, nats_url: str) -> int:
    """ctp_sim, md_ingest (rb2601), td_exec (CTP), ws_edge; returns ws_edge's port."""
    from tradebus.users import UserStore

    UserStore(tmp / "users.json").add(chain.USER, chain.PASSWORD, [f"ctp:{chain.CTP_INVESTOR}"])
    chain.cheapen_password_hash(tmp / "users.json")
    td, md = chain.start_ctp_sim(procs, tmp, 2 * len(chain.INSTRUMENTS))
    env = chain.service_env(tmp, nats_url, td, md)
    port = free_port()
    envs = (("md_ingest", {**env, "TRADEBUS_MD_FUTU": "false", "TRADEBUS_MD_SUBSCRIPTIONS": "ctp.SHFE.rb2601",
                           "TRADEBUS_MD_STALE_HOURS": "always"}),
            ("td_exec", {**env, "TRADEBUS_TD_FUTU": "false", "TRADEBUS_TD_CTP": "true"}),
            ("ws_edge", {**env, "TRADEBUS_WS_MD_PORT": str(port), "TRADEBUS_WS_TD_PORT": "0"}))
    started = [(name, *chain.start_service(procs, name, e, tmp)) for name, e in envs]
    for name, _proc, health in started:
        chain.wait_healthy(procs, name, health, tmp)
    return port


async def round_trips(nats_url: str, url: str, count: int, warmup: int, rate: float) -> list[dict[str, int]]:
    import nats
    import websockets

    order = chain.resting_buy_for(await chain._one_tick(nats_url, "md.tick.ctp.SHFE.rb2601"))
    stamps: dict[str, dict[str, int]] = {}
    nc = await nats.connect(nats_url)

    async def on_event(msg: Any) -> None:
        now = time.time_ns()
        event = ORDER_EVENT_DECODER.decode(msg.data)
        rec = stamps.setdefault(event.client_order_id.rsplit("-", 1)[-1], {})
        if isinstance(event, OrderSubmitted):
            rec.update(sub_built=event.ts_init, sub_seen=now)
        elif isinstance(event, OrderAccepted):
            rec.update(acc_built=event.ts_init, acc_seen=now)

    await nc.subscribe("td.evt.ctp.>", cb=on_event)
    await nc.flush()
    refused: list[Any] = []
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"MsgType": "ReqUserLogin", "RequestID": 1,
                                  "ReqUserLogin": {"UserID": chain.USER, "Password": chain.PASSWORD}}))
        while True:
            reply = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if reply.get("MsgType") == "RspUserLogin":
                break
        if (reply.get("RspInfo") or {}).get("ErrorID") != 0:
            raise SystemExit(f"bench: login refused: {reply}")
        max_ref = int(reply["RspUserLogin"]["MaxOrderRef"] or 0)
        refs = [str(max_ref + 1 + i) for i in range(warmup + count)]
        done = asyncio.Event()

        async def reader() -> None:
            async for raw in ws:
                now = time.time_ns()
                message = json.loads(raw)
                kind = message.get("MsgType")
                if kind in ("RspOrderInsert", "ErrRtnOrderInsert"):
                    refused.append(message)
                if kind != "RtnOrder":
                    continue
                rec = stamps.setdefault(message["Order"]["OrderRef"].strip(), {})
                rec.setdefault("first_rtn", now)
                if message["Order"]["OrderStatus"] == "3":
                    rec.setdefault("acc_rtn", now)
                    if all("acc_rtn" in stamps.get(r, {}) for r in refs[-1:]):
                        done.set()

        task = asyncio.create_task(reader())
        start = time.perf_counter()
        for i, ref in enumerate(refs):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # the fixed sending schedule itself
            stamps.setdefault(ref, {})["sent"] = time.time_ns()
            await ws.send(json.dumps({"MsgType": "ReqOrderInsert", "RequestID": 10 + i,
                                      "InputOrder": {**order, "OrderRef": ref}}))
        try:
            await asyncio.wait_for(done.wait(), 30)
        except TimeoutError:
            pass
        task.cancel()
    await nc.close()
    if refused:
        raise SystemExit(f"bench: {len(refused)} orders refused, e.g. {refused[0]}")
    return [stamps[r] for r in refs[warmup:]]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(rows: list[dict[str, int]], rate: float) -> None:
    complete = [r for r in rows if all(k in r for _, a, b in LEGS for k in (a, b))]
    print(f"{len(complete)} of {len(rows)} orders complete, sent at {rate:g}/s; load average "
          f"{os.getloadavg()[0]:.2f}")
    print(f"{'ms':60}{'p50':>8}{'p99':>8}{'max':>8}{'mean':>8}")
    for name, a, b in LEGS:
        values = [(r[b] - r[a]) / 1e6 for r in complete]
        print(f"{name:60}{pct(values, 0.5):>8.2f}{pct(values, 0.99):>8.2f}{max(values):>8.2f}"
              f"{statistics.fmean(values):>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=400, help="measured orders")
    parser.add_argument("--warmup", type=int, default=40, help="orders sent first and not measured")
    parser.add_argument("--rate", type=float, default=40.0, help="orders/s (ws_edge allows 50 requests/s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ws-order-trip-") as tmpdir:
        tmp = Path(tmpdir)
        nats_server = NatsServer(store_dir=tmp / "js")
        nats_server.start()
        procs = chain.Procs()
        try:
            port = start_chain(procs, tmp, nats_server.url)
            rows = asyncio.run(round_trips(nats_server.url, f"ws://127.0.0.1:{port}/td/", args.orders,
                                           args.warmup, args.rate))
            report(rows, args.rate)
        finally:
            procs.stop_all()
            nats_server.stop()


if __name__ == "__main__":
    main()
