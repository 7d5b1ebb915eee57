"""The console's login goes through the edge's LoginGuard: parallel guesses from one address are one
check, and the right password from another address (127.0.0.2) is not held behind the guesser."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from console_harness import PASSWORDS, start_console, stop_console
from websockets.asyncio.client import connect


async def test_parallel_console_guesses_are_one_check_and_another_address_logs_in(nats_server: Any,
                                                                                 tmp_path: Path) -> None:
    built = await start_console(nats_server.url, tmp_path, login_fail_base_delay_s=2.0, login_fail_max_delay_s=30.0)
    users = built.stack.users
    checked: list[str] = []
    verify = users.verify_password

    def counting_verify(name: str, password: str) -> Any:  # counts what really reaches the hash check
        checked.append(password)
        return verify(name, password)

    users.verify_password = counting_verify  # type: ignore[method-assign]
    try:
        guessers = [await built.client() for _ in range(20)]

        async def guess(i: int) -> str:
            await guessers[i].send({"type": "login", "user": "alice", "password": f"guess-{i}"})
            return str((await guessers[i].expect("login_failed"))["type"])

        assert await asyncio.gather(*(guess(i) for i in range(20))) == ["login_failed"] * 20
        assert len(checked) == 1, checked
        # 127.0.0.1 now waits 2 s before its next check; alice from 127.0.0.2 does not.
        await guessers[0].send({"type": "login", "user": "alice", "password": "guess-again"})
        started = time.monotonic()
        async with connect(f"ws://127.0.0.1:{built.port}/console/ws", origin=built.origin,  # type: ignore[arg-type]
                           local_addr=("127.0.0.2", 0), compression=None, proxy=None) as ws:
            await ws.send(json.dumps({"type": "login", "user": "alice", "password": PASSWORDS["alice"]}))
            while (reply := json.loads(await asyncio.wait_for(ws.recv(), 10)))["type"] not in ("login_ok",
                                                                                             "login_failed"):
                pass
            assert reply["type"] == "login_ok", reply
        assert time.monotonic() - started < 1.5
    finally:
        await stop_console(built)
