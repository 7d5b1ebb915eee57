"""Two fmz_edge instances side by side on one bus (issue 19), every part a real process: ctp_sim,
md_ingest, td_exec, fmz_edge "a" and fmz_edge "b" on their own ports. Both answer; each holds its own
md_ingest reference; a request replayed from one instance to the other is refused (the nonce ledger in
KV ``fmz_nonces``); after kill -9 of "a", "b" keeps answering and trading, and md_ingest drops "a"'s
reference within its lease (``[fmz] md_lease_s``, 2 s here) plus one housekeeping tick."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ctp_front import CtpFront
from edge_stack import holds, kill9, refcount, refcount_is, start_core
from fmz_harness import Key, http, post_bytes
from polling import until_async
from service_process import ServiceProcess, port_open, service_env, start_service

from tradebus.bus import Bus
from tradebus.natsd import free_port
from tradebus.users import UserStore

LEASE_S = 2.0
RB = ("ctp", "SHFE", "rb2601")
SYMBOL = "rb2601.SHFE_CNY"


async def start_fmz(nats_url: str, data_dir: Path, instance: str, port: int) -> ServiceProcess:
    env = service_env(nats_url, data_dir, TRADEBUS_FMZ_INSTANCE_ID=instance, TRADEBUS_FMZ_PORT=str(port),
                      TRADEBUS_FMZ_MD_LEASE_S=str(LEASE_S), TRADEBUS_FMZ_MD_WAIT_S="5")
    work = data_dir / f"fmz-{instance}"
    work.mkdir(exist_ok=True)
    return await start_service("fmz_edge", env, work, ready=lambda: port_open(port), timeout=60)


def request(key: Key, method: str, params: dict[str, Any], nonce: int | None = None) -> bytes:
    body = {"access_key": key.access_key, "secret_key": key.secret_key, "method": method, "params": params,
            "nonce": nonce or key.nonce()}
    return post_bytes("/ctp", json.dumps(body).encode())


async def answer(port: int, raw: bytes) -> dict[str, Any]:
    status, body = await http(port, raw)
    assert status == 200
    return json.loads(body)


async def test_two_fmz_edges_answer_alone_and_share_nonces(nats_server: Any, bus: Bus, front: CtpFront,
                                                           tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json")
    store.add("alice", "alice-password", ["ctp:000001"])
    key = Key(*store.issue_fmz_key("alice"))
    started: list[ServiceProcess] = []
    try:
        started += await start_core(nats_server.url, front, tmp_path)
        port_a, port_b = free_port(), free_port()
        fmz_a = await start_fmz(nats_server.url, tmp_path, "a", port_a)
        started += [fmz_a, await start_fmz(nats_server.url, tmp_path, "b", port_b)]

        for port in (port_a, port_b):
            ticker = await answer(port, request(key, "ticker", {"symbol": SYMBOL}))
            assert "data" in ticker and float(ticker["data"]["last"]) > 0, ticker
        assert await refcount(bus, *RB) == 3  # fmz_edge:a, fmz_edge:b and this test's probe

        # One request, sent to "a" and replayed to "b" (and to "a" again): only the first is answered.
        once = request(key, "accounts", {})
        assert "data" in await answer(port_a, once)
        for port in (port_b, port_a):
            replayed = await answer(port, once)
            assert "already used" in replayed.get("error", ""), (port, replayed)

        killed_at = time.monotonic()
        kill9(fmz_a)
        assert await fmz_a.process.wait() == -9
        ticker = await answer(port_b, request(key, "ticker", {"symbol": SYMBOL}))
        assert "data" in ticker, ticker
        await until_async(lambda: refcount_is(bus, 2, *RB), LEASE_S * 3 + 2,
                          "fmz_edge:a's reference lapsed at md_ingest")
        dropped_after = time.monotonic() - killed_at
        assert dropped_after <= LEASE_S + 1.5, f"reference dropped {dropped_after:.1f} s after the kill"
        assert not await holds(bus, "fmz_edge:a", *RB)

        # "b" still trades: the order it placed is there when asked for.
        bid = float(ticker["data"]["buy"]) or float(ticker["data"]["last"])
        placed = await answer(port_b, request(key, "trade", {"symbol": SYMBOL, "type": "buy", "amount": "1",
                                                             "price": str(round(bid))}))
        assert "data" in placed, placed
        order = await answer(port_b, request(key, "order", {"id": placed["data"]["id"], "symbol": SYMBOL}))
        assert order["data"]["id"] == placed["data"]["id"] and order["data"]["amount"] == 1, order
    finally:
        for service in reversed(started):
            await service.stop()

