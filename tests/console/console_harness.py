"""The web console on the in-process ws_edge stack (``tests/ws_edge/ws_harness.py``: a real nats-server,
the real td_exec engine with its ``sim`` venue, a stand-in md_ingest peer publishing real ticks), plus
what the browser tests share: Chromium via Playwright, screenshots under ``test-artifacts/console/``.

The console listens on its own port next to the stack's webctp listener, exactly as the combined
listener of ``ws_edge.service`` wires it (``console=`` and ``http_handler=console.http``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ws_edge"))

from ws_harness import PASSWORDS, Stack, build_stack, close_stack, until, ws_config

from ws_edge.console import Console
from ws_edge.server import Listener

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "console"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

__all__ = ["PASSWORDS", "ConsoleClient", "ConsoleStack", "console_stack", "threaded_console_stack", "until"]


@dataclass
class ConsoleStack:
    stack: Stack
    console: Console
    listener: Listener
    port: int
    clients: list[ConsoleClient] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def client(self, *, origin: str | None = None) -> ConsoleClient:
        ws = await connect(f"ws://127.0.0.1:{self.port}/console/ws", origin=origin or self.origin,  # type: ignore[arg-type]
                           compression=None, max_size=2**22, proxy=None)
        client = ConsoleClient(ws)
        self.clients.append(client)
        return client

    async def login(self, user: str = "alice") -> tuple[ConsoleClient, dict[str, Any]]:
        client = await self.client()
        await client.send({"type": "login", "user": user, "password": PASSWORDS[user]})
        ok = await client.expect("login_ok")
        return client, ok


class ConsoleClient:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        await self.ws.send(message if isinstance(message, str | bytes) else json.dumps(message))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        text = await asyncio.wait_for(self.ws.recv(), timeout)
        return json.loads(text)

    async def expect(self, kind: str, timeout: float = 5.0, where: Any = None) -> dict[str, Any]:
        """The next message of ``kind`` (and matching ``where``, when given), skipping the others."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            message = await self.recv(max(0.05, deadline - loop.time()))
            if message["type"] == kind and (where is None or where(message)):
                return message

    async def expect_all(self, wanted: dict[str, Any], timeout: float = 5.0) -> dict[str, dict[str, Any]]:
        """One message per kind in ``wanted`` (kind → predicate or None), in whatever order they come:
        an order's own events may overtake the answer to the command that placed it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        found: dict[str, dict[str, Any]] = {}
        while len(found) < len(wanted):
            message = await self.recv(max(0.05, deadline - loop.time()))
            kind = message["type"]
            if kind in wanted and kind not in found and (wanted[kind] is None or wanted[kind](message)):
                found[kind] = message
        return found

    async def quiet(self, seconds: float = 0.5) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        try:
            while True:
                out.append(await self.recv(seconds))
        except TimeoutError:
            return out


async def start_console(url: str, tmp_path: Path, **overrides: Any) -> ConsoleStack:
    stack = await build_stack(url, tmp_path, ws_config(**overrides))
    console = Console(stack.edge)
    listener = Listener(stack.edge, frozenset({"md", "td"}), console=console, http_handler=console.http)
    port = await listener.start("127.0.0.1", 0)
    return ConsoleStack(stack, console, listener, port)


async def stop_console(built: ConsoleStack) -> None:
    for client in built.clients:
        await client.ws.close()
    await built.listener.stop()
    await built.console.stop()
    await close_stack(built.stack)


@pytest.fixture
async def console_stack(nats_server, tmp_path: Path) -> AsyncIterator[ConsoleStack]:  # type: ignore[no-untyped-def]
    built = await start_console(nats_server.url, tmp_path)
    try:
        yield built
    finally:
        await stop_console(built)


@contextmanager
def threaded_console_stack(url: str, tmp_path: Path, **overrides: Any) -> Iterator[tuple[ConsoleStack, Any]]:
    """The stack on an event loop in a background thread, for sync (browser) tests; (stack, loop)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="console-stack", daemon=True)
    thread.start()
    built = asyncio.run_coroutine_threadsafe(start_console(url, tmp_path, **overrides), loop).result(60)
    try:
        yield built, loop
    finally:
        asyncio.run_coroutine_threadsafe(stop_console(built), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


# --- the browser -----------------------------------------------------------------------------------


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing: install Debian's chromium package (scripts/bootstrap does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


class Shots:
    """Numbered screenshots of one test: ``test-artifacts/console/<test>-<nn>-<step>.png``."""

    def __init__(self, page: Any, test: str) -> None:
        self.page = page
        self.test = test
        self.count = 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def __call__(self, step: str) -> Path:
        self.count += 1
        path = ARTIFACTS / f"{self.test}-{self.count:02d}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@contextmanager
def console_page(browser: Any, test: str) -> Iterator[tuple[Any, Shots]]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    shots = Shots(page, test)
    try:
        yield page, shots
    except BaseException:
        shots("FAILED")  # what the page showed when the test gave up
        raise
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
