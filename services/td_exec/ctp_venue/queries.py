"""One queue for every CTP query: one in flight, at most one per second, each with a timeout.

CTP refuses a query while another is unanswered (-2) or when it comes within a second of the last
(-3); both are decided by the API before anything is sent. The queue waits out the interval rather
than letting callers spin on those codes, and retries a refused query after the interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from td_exec.venue import VenueRejected, VenueUnknown
from tradebus.ctp.codes import RC_IN_FLIGHT, RC_NOT_CONNECTED, RC_TOO_FAST

log = logging.getLogger(__name__)

QUERY_INTERVAL = 1.0
QUERY_TIMEOUT = 10.0
MAX_REFUSALS = 10

Row = dict[str, Any]


@dataclass
class _Query:
    name: str
    call: Callable[[int], int]  # request id → the API's return code
    done: asyncio.Future[list[Row]]
    rows: list[Row] = field(default_factory=list)


class QueryQueue:
    def __init__(self, interval: float = QUERY_INTERVAL, timeout: float = QUERY_TIMEOUT) -> None:
        self.interval = interval
        self.timeout = timeout
        self._queue: asyncio.Queue[_Query] = asyncio.Queue()
        self._active: dict[int, _Query] = {}
        self._next_rid = 1_000_000  # apart from the order request ids
        self._last_sent = -interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ctp-query-queue")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self.fail_all("adapter stopped")
        while not self._queue.empty():
            q = self._queue.get_nowait()
            if not q.done.done():
                q.done.set_exception(VenueUnknown("adapter stopped"))

    async def query(self, name: str, call: Callable[[int], int]) -> list[Row]:
        """Queue ``call`` (which issues ReqQry… with the given request id) and await its rows."""
        q = _Query(name, call, asyncio.get_running_loop().create_future())
        await self._queue.put(q)
        return await q.done

    # --- answers, called on the loop thread by the SPI bridge -----------------------------------

    def on_row(self, rid: int, row: Row | None, error: tuple[int, str] | None, last: bool) -> None:
        q = self._active.get(rid)
        if q is None:
            return  # an answer after its timeout
        if error is not None and error[0] != 0:
            self._active.pop(rid, None)
            if not q.done.done():
                q.done.set_exception(VenueRejected(str(error[0]), error[1]))
            return
        if row is not None:
            q.rows.append(row)
        if last:
            self._active.pop(rid, None)
            if not q.done.done():
                q.done.set_result(q.rows)

    def fail_all(self, reason: str) -> None:
        """The front went away: unanswered queries will never be answered."""
        for q in self._active.values():
            if not q.done.done():
                q.done.set_exception(VenueUnknown(reason))
        self._active.clear()

    # --- the worker -----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            q = await self._queue.get()
            if q.done.done():
                continue  # the caller gave up
            try:
                await self._issue(q)
                # asyncio.wait, not wait_for: Python 3.11's wait_for swallows a cancel that lands
                # as the answer arrives, which would leave this worker running after stop().
                done, _ = await asyncio.wait({q.done}, timeout=self.timeout)
                if not done:
                    self._expire(q)
            except Exception as exc:  # never let one bad query stop the queue
                log.exception("ctp query %s failed", q.name)
                if not q.done.done():
                    q.done.set_exception(VenueUnknown(f"{q.name}: {exc}"))

    async def _issue(self, q: _Query) -> None:
        for _ in range(MAX_REFUSALS):
            await asyncio.sleep(max(0.0, self._last_sent + self.interval - time.monotonic()))
            rid = self._next_rid
            self._next_rid += 1
            self._active[rid] = q
            self._last_sent = time.monotonic()
            rc = q.call(rid)
            if rc == 0:
                return
            self._active.pop(rid, None)
            if rc == RC_NOT_CONNECTED:
                q.done.set_exception(VenueUnknown(f"{q.name}: CTP front not connected"))
                return
            if rc not in (RC_IN_FLIGHT, RC_TOO_FAST):
                q.done.set_exception(VenueUnknown(f"{q.name}: CTP returned {rc}"))
                return
            log.info("ctp query %s refused by flow control (%d); retrying after %.1fs", q.name, rc, self.interval)
        q.done.set_exception(VenueUnknown(f"{q.name}: still refused by CTP flow control"))

    def _expire(self, q: _Query) -> None:
        for rid, active in list(self._active.items()):
            if active is q:
                del self._active[rid]
        if not q.done.done():
            q.done.set_exception(VenueUnknown(f"{q.name}: no answer within {self.timeout:.0f}s"))
