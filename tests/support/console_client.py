"""The web console's WebSocket as a test client: a socket with the right Origin, a login, a resume by token
(docs/console.md, 'Security')."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect


async def console(port: int) -> ClientConnection:
    return await connect(f"ws://127.0.0.1:{port}/console/ws", origin=f"http://127.0.0.1:{port}")  # type: ignore[arg-type]


async def answer_of(ws: ClientConnection, types: set[str], timeout: float = 15) -> dict[str, Any]:
    """The next console message whose type is one of ``types`` (others are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] in types:
                return message


async def resume(port: int, token: str) -> tuple[ClientConnection, dict[str, Any]]:
    """A fresh console socket that resumes with ``token``: its answer (login_ok or login_failed)."""
    ws = await console(port)
    await ws.send(json.dumps({"type": "resume", "token": token}))
    return ws, await answer_of(ws, {"login_ok", "login_failed"})
