"""Bounded fuzz of fmz_edge as a real process, with a real ``python -m td_exec`` (sim venue) behind it:
thousands of seeded malformed requests — broken HTTP, broken envelopes, and signed requests with
hostile methods and params — then both services are healthy, td_exec's orders equal the fold of
TD_EVT, and every line either printed is one of its own JSON log records.

Key-check throttling is switched off here (base delay 0) so that the signed requests keep reaching the
methods; it has its own test (test_fmz_security.py)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

from fmz_harness import post_bytes, read_response
from fuzz_inputs import hostile_text, messages
from order_consistency import orders_match_the_event_store
from service_process import service_env, start_service, start_sim_td_exec, stop_and_check_logs

from tradebus.bus import Bus
from tradebus.natsd import free_port
from tradebus.users import UserStore

COUNT = 3000
BUDGET_S = 40.0
WORKERS = 6


def templates(access: str, secret: str) -> list[dict[str, Any]]:
    def signed(method: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"access_key": access, "secret_key": secret, "nonce": 0, "method": method, "params": params}

    rb = "rb2601.SHFE_CNY"
    return [
        signed("trade", {"symbol": rb, "type": "buy", "price": 3100, "amount": 1}),
        signed("trade", {"symbol": rb, "type": "sell", "price": -1, "amount": 1}),
        signed("cancel", {"id": f"{rb},fmz-1"}),
        signed("order", {"id": f"{rb},fmz-1", "symbol": rb}),
        signed("orders", {"symbol": rb}),
        signed("historyorders", {"symbol": rb, "since": 0, "limit": 10}),
        signed("accounts", {}),
        signed("positions", {"symbol": rb}),
        signed("ticker", {"symbol": rb}),
        signed("records", {"symbol": rb, "period": 60, "limit": 10}),
    ]


def raw_http(rng: random.Random, body: bytes) -> bytes:
    """Broken HTTP around a body: bad request lines, lengths, headers, encodings."""
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 300))
    if kind == 1:
        return f"POST /sim/SIM-FUT HTTP/1.1\r\nContent-Length: {len(body) + 50}\r\n\r\n".encode() + body
    if kind == 2:
        return b"POST /sim HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    if kind == 3:
        return f"POST /{hostile_text(rng)} HTTP/1.1\r\nX: {hostile_text(rng)}\r\n\r\n".encode("utf-8", "replace")
    if kind == 4:
        return b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"a" * 20000 + b"\r\n\r\n"
    return post_bytes("/sim/SIM-FUT", body, "Content-Length: 3\r\n")


async def exchange(port: int, raw: bytes) -> int | None:
    """One request on its own connection: the HTTP status, or None when the server closed without one."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        raise AssertionError(f"fmz_edge stopped accepting connections: {exc}") from exc
    try:
        writer.write(raw)
        await writer.drain()
        writer.write_eof()
        status, body = await read_response(reader)
        json.loads(body)  # every answer is JSON
        return status
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    finally:
        writer.close()


async def test_fuzzing_fmz_edge_leaves_it_up_consistent_and_its_logs_its_own(nats_server: Any, bus: Bus,
                                                                             tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json")
    store.add("alice", "alice-password", ["sim:SIM-FUT"])
    access, secret = store.issue_fmz_key("alice")
    td = await start_sim_td_exec(nats_server.url, tmp_path)
    port = free_port()
    fmz = await start_service("fmz_edge", service_env(
        nats_server.url, tmp_path, TRADEBUS_FMZ_PORT=str(port), TRADEBUS_FMZ_KEY_FAIL_BASE_DELAY_S="0",
        TRADEBUS_FMZ_REQUEST_TIMEOUT_S="1", TRADEBUS_FMZ_MD_WAIT_S="0.2"), tmp_path)
    services = [td, fmz]
    try:
        rng = random.Random(1404)
        inputs = list(messages(1405, COUNT, templates(access, secret)))
        answered: list[int | None] = []

        async def worker(share: list[Any]) -> None:
            for message in share:
                if isinstance(message, dict):
                    if message.get("nonce") == 0:
                        message["nonce"] = time.time_ns()
                    body = json.dumps(message).encode()
                else:
                    body = message if isinstance(message, bytes) else message.encode("utf-8", "replace")
                raw = raw_http(rng, body) if rng.random() < 0.15 else post_bytes("/sim/SIM-FUT", body)
                answered.append(await exchange(port, raw))

        started = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(worker(inputs[i::WORKERS]) for i in range(WORKERS))), BUDGET_S)
        assert time.monotonic() - started < BUDGET_S
        assert len(answered) == COUNT and answered.count(200) > COUNT * 0.8
        assert fmz.healthy() and td.healthy()
        count = await orders_match_the_event_store(bus, "sim", "SIM-FUT")
        assert count > 0, "no fuzzed order reached td_exec"
    finally:
        await stop_and_check_logs(services)
