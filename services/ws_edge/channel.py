"""One client's outbound path: frames that must arrive, ticks that may be conflated, bounded.

While the socket keeps up, a frame is written at once, synchronously (the same transport write
``websockets.broadcast`` does, without a task switch per client). When the socket is behind — its
write buffer above ``write_high``, or frames already waiting — frames queue here and a writer task
sends them as the socket drains:

* replies and order/trade pushes wait in a FIFO that is never dropped from; when it holds
  ``max_frames`` the client is too slow to be served correctly and is closed with a reason (it can
  reconnect and re-query);
* market data keeps only the newest frame per instrument (conflation).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from tradebus.logs import get_logger

log = get_logger("ws_edge.channel")
SLOW_CLOSE_CODE = 1008  # policy violation: the client does not read fast enough


class Channel:
    def __init__(self, conn: ServerConnection | Any, *, max_frames: int, write_high: int,
                 on_conflate: Callable[[], None] | None = None) -> None:
        self.conn = conn
        self.max_frames = max_frames
        self.write_high = write_high
        self.frames: deque[bytes] = deque()
        self.ticks: dict[Any, bytes] = {}
        self.closed = False
        self.close_reason = ""
        self._busy = False
        self._wake = asyncio.Event()
        self._on_conflate = on_conflate
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._run(), name="ws-writer")

    # --- enqueue -----------------------------------------------------------------------------

    def send(self, frame: bytes) -> None:
        """A frame that must arrive (a reply, RtnOrder, RtnTrade)."""
        if self.closed:
            return
        if self._idle() and self._write_now(frame):
            return
        if len(self.frames) >= self.max_frames:
            self.close(f"too slow: {len(self.frames)} order/reply frames waiting; reconnect and re-query")
            return
        self.frames.append(frame)
        self._kick()

    def send_tick(self, key: Any, frame: bytes) -> None:
        """Market data: when the client is behind only the newest frame per instrument is kept."""
        if self.closed:
            return
        if self._idle() and self._write_now(frame):
            return
        if key in self.ticks and self._on_conflate is not None:
            self._on_conflate()
        self.ticks[key] = frame
        self._kick()

    def drop_ticks(self, key: Any) -> None:
        self.ticks.pop(key, None)

    def _idle(self) -> bool:
        return not self._busy and not self.frames and not self.ticks

    def _write_now(self, frame: bytes) -> bool:
        conn = self.conn
        transport = conn.transport
        if conn.protocol.state is not State.OPEN or transport.get_write_buffer_size() >= self.write_high:
            return False
        try:
            conn.protocol.send_text(frame)
            conn.send_data()
        except Exception as exc:  # a dying socket: the reader notices and cleans up
            log.debug("write failed", error=str(exc))
            return False
        return True

    def _kick(self) -> None:
        self._busy = True
        self._wake.set()

    # --- writer ------------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while not self.closed:
                await self._wake.wait()
                self._wake.clear()
                while (self.frames or self.ticks) and not self.closed:
                    if self.frames:
                        frame = self.frames.popleft()
                    else:
                        key = next(iter(self.ticks))
                        frame = self.ticks.pop(key)
                    await self.conn.send(frame, text=True)  # waits while the socket is above its limit
                self._busy = False
        except ConnectionClosed:
            self.closed = True

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        self.frames.clear()
        self.ticks.clear()
        log.warning("closing slow client", reason=reason)
        asyncio.get_running_loop().create_task(self.conn.close(SLOW_CLOSE_CODE, reason[:120]))

    async def stop(self) -> None:
        self.closed = True
        self._wake.set()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer
