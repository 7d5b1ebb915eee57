"""Choose the WebSocket library for the edges by measuring both on this machine.

One run measures, for ``websockets`` and ``picows`` alike, a server that sends one frame per tick to N
clients (the webctp rule: one ``RtnDepthMarketData`` per frame) at a paced rate. The clients run in
another process (picows, the cheapest client, so the server gets the most CPU) and stamp each frame's
latency from the send time written into it. Printed per library and size: delivered frames/s, p50/p99
latency, server CPU %; and the ratio picows / websockets.

    .venv/bin/python bench/ws_libs.py                      # default matrix, about 1 minute
    .venv/bin/python bench/ws_libs.py --clients 10 --rate 5000 --seconds 5

Needs the ``bench`` extra (``pip install -e '.[bench]'``) for picows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time

import msgspec

END = b"END"


class BenchTick(msgspec.Struct):
    """The shape of a webctp depth push, shortened: what matters here is size (~200 B) and encoding."""

    InstrumentID: str
    LastPrice: float
    BidPrice1: float
    AskPrice1: float
    BidVolume1: int
    AskVolume1: int
    Volume: int
    Turnover: float
    OpenInterest: float
    UpdateTime: str
    sent_ns: int
    seq: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _pace(rate: int, seconds: float, send_batch) -> int:  # type: ignore[no-untyped-def]
    """Call ``send_batch(n)`` every 1 ms with the ticks that are due (sleeps < 1 ms spin under uvloop)."""
    encoder = msgspec.json.Encoder()
    start = time.perf_counter()
    sent = 0
    while (elapsed := time.perf_counter() - start) < seconds:
        due = int(elapsed * rate) - sent
        for _ in range(due):
            sent += 1
            tick = BenchTick("rb2601", 3120.0, 3119.0, 3120.0, 12, 5, 100 + sent, 3.1e6, 1.5e5, "09:30:01",
                             time.time_ns(), sent)
            send_batch(encoder.encode(tick))
        await asyncio.sleep(0.001)
    return sent


async def serve_websockets(port: int, clients: int, rate: int, seconds: float) -> dict[str, float]:
    import websockets

    connected: set = set()
    ready = asyncio.Event()

    async def handler(ws) -> None:  # type: ignore[no-untyped-def]
        connected.add(ws)
        if len(connected) >= clients:
            ready.set()
        await ws.wait_closed()

    async with websockets.serve(handler, "127.0.0.1", port, compression=None, max_queue=None):
        print("READY", flush=True)
        await ready.wait()
        cpu0, wall0 = _cpu_seconds(), time.perf_counter()
        sent = await _pace(rate, seconds, lambda frame: websockets.broadcast(connected, frame.decode()))
        cpu = _cpu_seconds() - cpu0
        wall = time.perf_counter() - wall0
        websockets.broadcast(connected, END.decode())
        await asyncio.sleep(0.5)  # let the END frames flush before closing
    return {"sent": sent, "cpu_pct": 100 * cpu / wall}


async def serve_picows(port: int, clients: int, rate: int, seconds: float) -> dict[str, float]:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

    connected: set[WSTransport] = set()
    ready = asyncio.Event()

    class Listener(WSListener):  # type: ignore[misc]
        def on_ws_connected(self, transport: WSTransport) -> None:
            connected.add(transport)
            if len(connected) >= clients:
                ready.set()

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            connected.discard(transport)

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.CLOSE:
                transport.disconnect()

    def broadcast(frame: bytes) -> None:
        for transport in connected:
            transport.send(WSMsgType.TEXT, frame)

    server = await ws_create_server(lambda _request: Listener(), "127.0.0.1", port)
    print("READY", flush=True)
    await ready.wait()
    cpu0, wall0 = _cpu_seconds(), time.perf_counter()
    sent = await _pace(rate, seconds, broadcast)
    cpu = _cpu_seconds() - cpu0
    wall = time.perf_counter() - wall0
    broadcast(END)
    await asyncio.sleep(0.5)
    server.close()
    return {"sent": sent, "cpu_pct": 100 * cpu / wall}


async def run_clients(port: int, clients: int) -> dict[str, float]:
    from picows import WSFrame, WSListener, WSTransport, ws_connect

    latencies: list[int] = []
    done = 0
    finished = asyncio.Event()
    first_ns = last_ns = 0
    decoder = msgspec.json.Decoder(BenchTick)

    class Client(WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            nonlocal done, first_ns, last_ns
            payload = frame.get_payload_as_bytes()
            if payload == END:
                done += 1
                if done >= clients:
                    finished.set()
                return
            now = time.time_ns()
            first_ns = first_ns or now
            last_ns = now
            latencies.append(now - decoder.decode(payload).sent_ns)

    transports = [(await ws_connect(Client, f"ws://127.0.0.1:{port}/"))[0] for _ in range(clients)]
    print("CONNECTED", flush=True)
    await asyncio.wait_for(finished.wait(), 120)
    for transport in transports:
        transport.disconnect()
    latencies.sort()
    span = max(1, last_ns - first_ns) / 1e9
    return {
        "delivered": len(latencies),
        "rate": len(latencies) / span,
        "p50_us": latencies[len(latencies) // 2] / 1e3 if latencies else 0.0,
        "p99_us": latencies[int(len(latencies) * 0.99)] / 1e3 if latencies else 0.0,
    }


def measure(lib: str, clients: int, rate: int, seconds: float) -> dict[str, float]:
    port = _free_port()
    me = [sys.executable, __file__]
    server = subprocess.Popen([*me, "_serve", lib, str(port), str(clients), str(rate), str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "READY"
        client = subprocess.run([*me, "_clients", str(port), str(clients)], capture_output=True, text=True,
                                timeout=seconds + 120)
        client_stats = json.loads(client.stdout.strip().splitlines()[-1])
        server_stats = json.loads(server.stdout.read().strip().splitlines()[-1])
    finally:
        server.kill()
        server.wait()
    return {**client_stats, **server_stats}


def _run_loop(coro):  # type: ignore[no-untyped-def]
    import uvloop

    return uvloop.run(coro)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        lib, port, clients, rate, seconds = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), \
            float(sys.argv[6])
        serve = serve_websockets if lib == "websockets" else serve_picows
        print(json.dumps(_run_loop(serve(port, clients, rate, seconds))), flush=True)
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_clients":
        print(json.dumps(_run_loop(run_clients(int(sys.argv[2]), int(sys.argv[3])))), flush=True)
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="*", default=[1, 10, 50])
    parser.add_argument("--rate", type=int, default=2000, help="ticks per second")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell; the median is printed")
    args = parser.parse_args()
    print(f"one frame per tick, {args.rate} ticks/s for {args.seconds:g}s, server and clients in separate "
          f"processes, median of {args.repeat} runs, {os.cpu_count()} CPUs")
    print(f"{'library':<11}{'clients':>8}{'delivered/s':>13}{'p50 µs':>9}{'p99 µs':>9}{'server CPU %':>14}")
    results: dict[tuple[str, int], dict[str, float]] = {}
    for clients in args.clients:
        for lib in ("websockets", "picows"):
            runs = [measure(lib, clients, args.rate, args.seconds) for _ in range(args.repeat)]
            cell = {key: statistics.median(run[key] for run in runs) for key in ("rate", "p50_us", "p99_us",
                                                                                 "cpu_pct")}
            results[(lib, clients)] = cell
            print(f"{lib:<11}{clients:>8}{cell['rate']:>13,.0f}{cell['p50_us']:>9.0f}{cell['p99_us']:>9.0f}"
                  f"{cell['cpu_pct']:>14.1f}", flush=True)
    print("\npicows / websockets (server CPU, lower is better; p99 latency, lower is better):")
    for clients in args.clients:
        ws, pw = results[("websockets", clients)], results[("picows", clients)]
        print(f"  {clients:>4} clients: CPU {pw['cpu_pct'] / max(ws['cpu_pct'], 1e-9):.2f}x, "
              f"p99 {pw['p99_us'] / max(ws['p99_us'], 1e-9):.2f}x")


if __name__ == "__main__":
    main()
