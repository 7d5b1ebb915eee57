"""The client process of ``bench/ws_edge.py``: many webctp clients, one event loop, driven over stdin.

It holds WebSocket clients to servers (``edge``: ws_edge; ``bare``: the bare broadcast server; ``webctp``:
webctp's own server, for ``bench/vs_webctp.py``) and
answers one JSON command per stdin line with one JSON line on stdout:

* ``connect``: open clients to a target until it has ``count``, each logged in (``ReqUserLogin`` on
  ``/md/``);
* ``subscribe`` / ``unsubscribe``: the first ``count`` clients (un)subscribe ``instruments``; the answer
  comes once every client got its ``IsLast`` reply (for ``unsubscribe`` that also drains whatever the
  server still had queued for it: the reply is behind it on the socket);
* ``measure``: count ``RtnDepthMarketData`` frames for ``seconds`` and return delivered frames/s and the
  tick-to-client latency;
* ``orders``: one ``/td/`` client sends ``ReqOrderInsert`` ``count`` times, one at a time, and returns
  each send → first ``RtnOrder`` (and → the venue's ``OrderStatus`` ``3``) in ms.

Tick-to-client latency. ``Tick.ts_init`` is stamped by md_ingest when the CTP callback hands it the
quote; ``RtnDepthMarketData`` does not carry it (and its ``UpdateMillisec`` is venue time at 500 ms
resolution). So this process also subscribes to NATS ``md.tick.>`` and keeps, per tick, a content key
(instrument, volume, turnover, last, open interest, the ten book levels) → ``ts_init``. A received
frame's key finds its tick after the window; keys that occur more than once among the recorded ticks
are ambiguous and left out (their share is reported). md_ingest drops exact re-pushes, so identical
content only recurs when the book comes back to the same state with no trade in between. All times are
``time.time_ns()`` on the one host clock every process here shares (CLOCK_REALTIME).

    .venv/bin/python bench/ws_bench_clients.py --nats nats://127.0.0.1:4222 [--lib picows|websockets]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "services"), str(ROOT / "libs")]

from tradebus.schemas import MARKET_DATA_DECODER  # noqa: E402
from tradebus.schemas.market import Tick  # noqa: E402

DEPTH_PREFIX = b'{"MsgType":"RtnDepthMarketData"'
LEVELS = range(1, 6)


class DepthKey(msgspec.Struct):
    """The fields of a DepthMarketData body that identify the tick it was rendered from."""

    InstrumentID: str
    Volume: int
    Turnover: float
    LastPrice: float
    OpenInterest: float
    BidPrice1: float
    BidVolume1: int
    BidPrice2: float
    BidVolume2: int
    BidPrice3: float
    BidVolume3: int
    BidPrice4: float
    BidVolume4: int
    BidPrice5: float
    BidVolume5: int
    AskPrice1: float
    AskVolume1: int
    AskPrice2: float
    AskVolume2: int
    AskPrice3: float
    AskVolume3: int
    AskPrice4: float
    AskVolume4: int
    AskPrice5: float
    AskVolume5: int


class DepthFrame(msgspec.Struct):
    DepthMarketData: DepthKey


_DEPTH_DECODER = msgspec.json.Decoder(DepthFrame)


def frame_key(payload: bytes | str) -> int:
    d = _DEPTH_DECODER.decode(payload).DepthMarketData
    return hash((d.InstrumentID, d.Volume, d.Turnover, d.LastPrice, int(d.OpenInterest),
                 d.BidPrice1, d.BidVolume1, d.BidPrice2, d.BidVolume2, d.BidPrice3, d.BidVolume3, d.BidPrice4,
                 d.BidVolume4, d.BidPrice5, d.BidVolume5, d.AskPrice1, d.AskVolume1, d.AskPrice2, d.AskVolume2,
                 d.AskPrice3, d.AskVolume3, d.AskPrice4, d.AskVolume4, d.AskPrice5, d.AskVolume5))


def tick_key(tick: Tick) -> int:
    """The same key from the bus tick (a missing price is rendered as 0, a missing level as 0 / 0)."""
    bids = [(lv.price, lv.qty) for lv in tick.bids[:5]] + [(0, 0)] * (5 - min(5, len(tick.bids)))
    asks = [(lv.price, lv.qty) for lv in tick.asks[:5]] + [(0, 0)] * (5 - min(5, len(tick.asks)))
    return hash((tick.symbol, tick.volume, float(tick.turnover), tick.last or 0, tick.open_interest or 0,
                 *(x for level in bids for x in level), *(x for level in asks for x in level)))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Recorder:
    """Frames received while measuring: every ``every``-th frame's key hash and receive time, in flat
    arrays (in arrival order across all clients, so the sample is as early or late as the whole)."""

    def __init__(self) -> None:
        self.on = False
        self.count = 0
        self.every = 1
        self.keys = array("q")
        self.times = array("q")

    def frame(self, payload: bytes | str, now: int) -> None:
        if self.on:
            self.count += 1
            if self.count % self.every == 0:
                self.keys.append(frame_key(payload))
                self.times.append(now)

    def reset(self) -> None:
        self.count = 0
        self.keys = array("q")
        self.times = array("q")


class Conn:
    """One webctp client; ``transport`` is picows's or websockets' connection."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.waiter: tuple[Callable[[dict[str, Any]], bool], asyncio.Future[dict[str, Any]]] | None = None
        self.send_text: Callable[[str], Any] = lambda _text: None
        self.close: Callable[[], Any] = lambda: None
        self.depth_frames = 0

    def on_payload(self, payload: bytes | str, now: int) -> None:
        head = payload[:31] if isinstance(payload, bytes) else payload[:31].encode()
        if head == DEPTH_PREFIX:
            self.depth_frames += 1
            self.recorder.frame(payload, now)
            return
        message = json.loads(payload)
        if self.waiter is not None and self.waiter[0](message) and not self.waiter[1].done():
            self.waiter[1].set_result(message)

    async def ask(self, request: dict[str, Any], done: Callable[[dict[str, Any]], bool],
                  timeout: float = 60.0) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiter = (done, future)
        self.send_text(json.dumps(request, ensure_ascii=False))
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self.waiter = None


async def open_picows(url: str, conn: Conn) -> None:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    class Listener(WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.TEXT:
                conn.on_payload(frame.get_payload_as_bytes(), time.time_ns())
            elif frame.msg_type == WSMsgType.CLOSE:
                transport.disconnect()

    transport, _ = await ws_connect(Listener, url, max_frame_size=2**22)
    conn.send_text = lambda text: transport.send(WSMsgType.TEXT, text.encode())
    conn.close = transport.disconnect


async def open_websockets(url: str, conn: Conn) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    ws = await connect(url, compression=None, max_size=2**22, max_queue=None)

    async def reader() -> None:
        try:
            async for message in ws:
                conn.on_payload(message, time.time_ns())
        except ConnectionClosed:
            pass

    task = asyncio.get_running_loop().create_task(reader())
    conn.send_text = lambda text: asyncio.get_running_loop().create_task(ws.send(text))
    conn.close = lambda: (task.cancel(), asyncio.get_running_loop().create_task(ws.close()))


class Clients:
    def __init__(self, nats_url: str, lib: str) -> None:
        self.nats_url = nats_url
        self.opener = open_picows if lib == "picows" else open_websockets
        self.recorder = Recorder()
        self.conns: dict[str, list[Conn]] = {"edge": [], "bare": [], "webctp": []}
        self.tick_keys = array("q")
        self.tick_ts = array("q")
        self.nc: Any = None

    async def start(self) -> None:
        import nats

        self.nc = await nats.connect(self.nats_url)

        async def on_tick(msg: Any) -> None:
            tick = MARKET_DATA_DECODER.decode(msg.data)
            if isinstance(tick, Tick):
                self.tick_keys.append(tick_key(tick))
                self.tick_ts.append(tick.ts_init)

        await self.nc.subscribe("md.tick.>", cb=on_tick, pending_msgs_limit=1_000_000)

    # --- commands ------------------------------------------------------------------------------------

    async def connect(self, target: str, url: str, count: int, user: str, password: str) -> dict[str, Any]:
        conns = self.conns[target]
        started = time.perf_counter()
        fresh: list[Conn] = []
        while len(conns) + len(fresh) < count:
            conn = Conn(self.recorder)
            await self.opener(url, conn)
            fresh.append(conn)
        login = {"MsgType": "ReqUserLogin", "ReqUserLogin": {"UserID": user, "Password": password}}
        # One login at a time: ws_edge checks one attempt per client address at once and refuses the rest.
        replies = [await c.ask(login, lambda m: m.get("MsgType") == "RspUserLogin", 600) for c in fresh]
        bad = [r for r in replies if (r.get("RspInfo") or {}).get("ErrorID") != 0]
        if bad:
            raise RuntimeError(f"login refused: {bad[0]}")
        conns.extend(fresh)
        return {"clients": len(conns), "logged_in": len(fresh), "seconds": time.perf_counter() - started}

    async def subscribe(self, target: str, count: int, instruments: list[str], unsubscribe: bool) -> dict[str, Any]:
        kind = "UnSubscribeMarketData" if unsubscribe else "SubscribeMarketData"
        rsp = "RspUnSubMarketData" if unsubscribe else "RspSubMarketData"
        request = {"MsgType": kind, "InstrumentID": instruments}

        def last(message: dict[str, Any]) -> bool:
            return message.get("MsgType") == rsp and message.get("IsLast") is True

        if not unsubscribe:  # the tick record starts afresh with each subscription
            self.tick_keys, self.tick_ts = array("q"), array("q")
        replies = await asyncio.gather(*(c.ask(request, last, 300) for c in self.conns[target][:count]))
        bad = [r for r in replies if (r.get("RspInfo") or {}).get("ErrorID") != 0]
        if bad:
            raise RuntimeError(f"{kind} refused: {bad[0]}")
        return {"clients": len(replies)}

    def disconnect(self, target: str) -> dict[str, Any]:
        """Close every client of a target (what a server still had queued for them goes with them)."""
        conns = self.conns[target]
        for conn in conns:
            conn.close()
        self.conns[target] = []
        return {"closed": len(conns)}

    async def measure(self, target: str, count: int, seconds: float) -> dict[str, Any]:
        rec = self.recorder
        rec.reset()
        rec.every = max(1, count // 10)  # about as many latency samples as 10 clients give
        cpu0, wall0 = cpu_seconds(), time.perf_counter()
        ticks0 = len(self.tick_keys)
        rec.on = True
        await asyncio.sleep(seconds)  # the measuring window
        rec.on = False
        wall = time.perf_counter() - wall0
        cpu = cpu_seconds() - cpu0
        offered = (len(self.tick_keys) - ticks0) / wall
        keys, times = rec.keys, rec.times
        # Ticks published up to now cover every frame received in the window (a frame never precedes
        # its tick); give the NATS callback a moment to catch up with what is already on the socket.
        await asyncio.sleep(0.2)
        ts_by_key: dict[int, int] = {}
        ambiguous: set[int] = set()
        for key, ts in zip(self.tick_keys, self.tick_ts, strict=True):
            if key in ts_by_key:
                ambiguous.add(key)
            ts_by_key[key] = ts
        latencies: list[int] = []
        n_ambiguous = n_unmatched = 0
        for key, now in zip(keys, times, strict=True):
            if key in ambiguous:
                n_ambiguous += 1
                continue
            ts = ts_by_key.get(key)
            if ts is None:
                n_unmatched += 1
                continue
            latencies.append(now - ts)
        latencies.sort()

        def pct(q: float) -> float:
            return latencies[min(len(latencies) - 1, int(q * len(latencies)))] / 1e6 if latencies else float("nan")

        return {"target": target, "clients": count, "frames": rec.count, "delivered": rec.count / wall,
                "offered": offered, "sampled": len(keys), "matched": len(latencies), "ambiguous": n_ambiguous,
                "unmatched": n_unmatched,
                "p50": pct(0.50), "p99": pct(0.99), "p999": pct(0.999), "max": pct(1.0),
                "client_cpu": 100 * cpu / wall}

    async def orders(self, url: str, user: str, password: str, count: int, warmup: int,
                     order: dict[str, Any], per_s: float) -> dict[str, Any]:
        conn = Conn(Recorder())
        await self.opener(url, conn)
        login = {"MsgType": "ReqUserLogin", "ReqUserLogin": {"UserID": user, "Password": password}, "RequestID": 1}
        reply = await conn.ask(login, lambda m: m.get("MsgType") == "RspUserLogin", 60)
        if (reply.get("RspInfo") or {}).get("ErrorID") != 0:
            raise RuntimeError(f"td login refused: {reply}")
        max_ref = int(reply["RspUserLogin"]["MaxOrderRef"] or 0)
        first: list[float] = []
        accepted: list[float] = []
        sent = 0
        for i in range(warmup + count):
            ref = str(max_ref + 1 + i)
            seen: dict[str, int] = {}

            def rtn(message: dict[str, Any], ref: str = ref, seen: dict[str, int] = seen) -> bool:
                if message.get("MsgType") in ("RspOrderInsert", "ErrRtnOrderInsert"):
                    return True  # refused: reported below
                if message.get("MsgType") != "RtnOrder" or message["Order"]["OrderRef"].strip() != ref:
                    return False
                seen.setdefault("first", time.perf_counter_ns())
                return bool(message["Order"]["OrderStatus"] == "3")

            request = {"MsgType": "ReqOrderInsert", "RequestID": 10 + i, "InputOrder": {**order, "OrderRef": ref}}
            if i:  # one order at a time, and no faster than the edge's per-connection request limit
                await asyncio.sleep(max(0.0, (sent + 1e9 / per_s - time.perf_counter_ns()) / 1e9))
            sent = time.perf_counter_ns()
            answer = await conn.ask(request, rtn, 30)
            done = time.perf_counter_ns()
            if answer.get("MsgType") != "RtnOrder":
                raise RuntimeError(f"order refused: {answer}")
            if i >= warmup:
                first.append((seen["first"] - sent) / 1e6)
                accepted.append((done - sent) / 1e6)
        conn.close()
        first.sort()
        accepted.sort()

        def pct(values: list[float], q: float) -> float:
            return values[min(len(values) - 1, int(q * len(values)))]

        return {"orders": count, "first_p50": pct(first, 0.5), "first_p99": pct(first, 0.99),
                "first_max": first[-1], "accepted_p50": pct(accepted, 0.5), "accepted_p99": pct(accepted, 0.99)}

    async def close(self) -> None:
        for conns in self.conns.values():
            for conn in conns:
                conn.close()
        if self.nc is not None:
            await self.nc.close()


async def serve(args: argparse.Namespace) -> None:
    clients = Clients(args.nats, args.lib)
    await clients.start()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"ready": True, "lib": args.lib}), flush=True)
    while line := await reader.readline():
        command = json.loads(line)
        name = command.pop("cmd")
        if name == "quit":
            break
        try:
            if name == "connect":
                answer = await clients.connect(**command)
            elif name in ("subscribe", "unsubscribe"):
                answer = await clients.subscribe(**command, unsubscribe=name == "unsubscribe")
            elif name == "disconnect":
                answer = clients.disconnect(**command)
            elif name == "measure":
                answer = await clients.measure(**command)
            elif name == "orders":
                answer = await clients.orders(**command)
            else:
                answer = {"error": f"unknown command {name}"}
        except Exception as exc:  # reported to the driver, which stops the run
            answer = {"error": f"{name}: {type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)
    await clients.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nats", required=True, help="NATS URL (the tick record for latency)")
    parser.add_argument("--lib", choices=("picows", "websockets"), default="picows")
    args = parser.parse_args()
    import uvloop

    uvloop.run(serve(args))


if __name__ == "__main__":
    main()
