"""Wrong key pairs against a real ``python -m fmz_edge`` process: slowed and refused per address, never
a lock-out for the right key from another address (issue 14)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from fmz_harness import post_bytes, read_response
from service_process import ServiceProcess, port_open, service_env, start_service

from tradebus.natsd import free_port
from tradebus.users import UserStore

EVALUATED = "invalid access_key or secret_key"
REFUSED = "too many invalid access_key/secret_key pairs from this address; retry later"


async def call(port: int, access_key: str, secret_key: str, path: str = "/ctp", *,
               source: str = "127.0.0.1") -> str:
    body = json.dumps({"access_key": access_key, "secret_key": secret_key, "method": "accounts",
                       "nonce": time.time_ns(), "params": {}}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        writer.write(post_bytes(path, body))
        await writer.drain()
        status, answer = await read_response(reader)
    finally:
        writer.close()
    assert status == 200
    return str(json.loads(answer)["error"])


async def start_fmz(nats_url: str, tmp_path: Path, port: int, **settings: str) -> ServiceProcess:
    env = service_env(nats_url, tmp_path, TRADEBUS_FMZ_PORT=str(port), **settings)
    return await start_service("fmz_edge", env, tmp_path, lambda: port_open(port))


async def test_300_wrong_key_pairs_are_slowed_and_refused(nats_server: Any, tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json")
    store.add("alice", "alice-password", ["ctp:000001"])
    access, secret = store.issue_fmz_key("alice")
    port = free_port()
    fmz = await start_fmz(nats_server.url, tmp_path, port, TRADEBUS_FMZ_KEY_FAIL_BASE_DELAY_S="0.05",
                          TRADEBUS_FMZ_KEY_FAIL_MAX_DELAY_S="0.4")
    try:
        # Sequential guesses from one address wait 0.05, 0.1, 0.2, 0.4 s: slowed, not refused.
        started = time.monotonic()
        for i in range(5):
            assert await call(port, f"guess-{i}", "wrong") == EVALUATED
        assert time.monotonic() - started >= 0.75
        # Then 300 more, 30 at a time: one per address in flight, the rest refused unchecked.
        answers: list[str] = []
        started = time.monotonic()
        for batch in range(10):
            answers += await asyncio.gather(*(call(port, f"k{batch}-{i}", "wrong") for i in range(30)))
        assert len(answers) == 300 and set(answers) <= {EVALUATED, REFUSED}
        evaluated = answers.count(EVALUATED)
        assert evaluated <= 12, evaluated  # ~one per batch (each waits out its growing delay)
        # The right key from another address is checked at once and accepted (the path is what fails).
        started = time.monotonic()
        assert (await call(port, access, secret, "/nowhere", source="127.0.0.2")).startswith("unknown exchange address")
        assert time.monotonic() - started < 1.0
        # From the throttled address even the right key waits its turn (the address is what is slowed).
        assert await call(port, access, secret, "/nowhere") != EVALUATED
        assert fmz.healthy()
    finally:
        assert await fmz.stop() == 0
    records = fmz.records()
    assert sum(1 for r in records if r["event"] == "fmz request refused unchecked: key checks throttled") >= 280
