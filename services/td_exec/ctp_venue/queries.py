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
from dataclasses import dataclass
from typing import Any

from td_exec.venue import VenueRejected, VenueUnknown
from tradebus.ctp.codes import RC_NOT_CONNECTED
from tradebus.ctp.session import RequestFailed, Requests

log = logging.getLogger(__name__)

QUERY_INTERVAL = 1.0
QUERY_TIMEOUT = 10.0

Row = dict[str, Any]


@dataclass
class _Query:
    name: str
    call: Callable[[int], int]  # request id → the API's return code
    done: asyncio.Future[list[Row]]


def venue_error(failure: RequestFailed) -> Exception:
    """An ErrorID from the front is definite; anything else leaves the outcome unknown."""
    if failure.answered:
        return VenueRejected(str(failure.code), failure.message)
    if failure.code == RC_NOT_CONNECTED:
        return VenueUnknown(f"{failure.step}: CTP front not connected")
    return VenueUnknown(f"{failure.step}: {failure.message} ({failure.code})")


class QueryQueue:
    """The queue and its pacing; pairing answers with requests and their timeouts are the CTP kit's
    :class:`tradebus.ctp.session.Requests`."""

    def __init__(self, interval: float = QUERY_INTERVAL, timeout: float = QUERY_TIMEOUT) -> None:
        self.interval = interval
        self.timeout = timeout
        self._queue: asyncio.Queue[_Query] = asyncio.Queue()
        self._rid = 1_000_000  # apart from the order request ids
        self._requests = Requests(self._next_rid, timeout)
        self._last_sent = -interval
        self._task: asyncio.Task[None] | None = None

    def _next_rid(self) -> int:
        self._rid += 1
        return self._rid

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
        self._requests.on_rsp(row, error, rid, last)  # an answer after its timeout is dropped

    def fail_all(self, reason: str) -> None:
        """The front went away: unanswered queries will never be answered."""
        self._requests.fail_all(reason)

    # --- the worker -----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            q = await self._queue.get()
            if q.done.done():
                continue  # the caller gave up
            await asyncio.sleep(max(0.0, self._last_sent + self.interval - time.monotonic()))
            try:
                rows = await self._requests.call(q.name, self._paced(q.call), refused_wait=self.interval)
            except RequestFailed as failure:
                _settle(q.done, error=venue_error(failure))
            except Exception as exc:  # never let one bad query stop the queue
                log.exception("ctp query %s failed", q.name)
                _settle(q.done, error=VenueUnknown(f"{q.name}: {exc}"))
            else:
                _settle(q.done, rows=rows)

    def _paced(self, call: Callable[[int], int]) -> Callable[[int], int]:
        def send(rid: int) -> int:
            self._last_sent = time.monotonic()
            return call(rid)

        return send


def _settle(done: asyncio.Future[list[Row]], *, rows: list[Row] | None = None, error: Exception | None = None) -> None:
    if done.done():
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(rows or [])
