"""Waiting on a condition in tests: poll with a deadline, never a bare sleep. The one implementation.

* :func:`until` — async test, plain predicate (optionally woken early by an :class:`asyncio.Event`);
* :func:`until_async` — async test, awaitable predicate (a bus request, a KV read, an HTTP probe);
* :func:`wait_for` — synchronous test (threads, other processes).

Each returns the predicate's first truthy value and fails with ``AssertionError`` naming ``what`` (and
``detail()``, when given, for the state that was waited on) once ``timeout`` seconds have passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class _Deadline:
    """``left()`` is the time that remains, or the failure naming ``what`` once there is none."""

    def __init__(self, timeout: float, what: str, detail: Callable[[], str] | None) -> None:
        self._end, self._what, self._detail = time.monotonic() + timeout, what, detail

    def left(self) -> float:
        remaining = self._end - time.monotonic()
        if remaining <= 0:
            detail = f"; {self._detail()}" if self._detail is not None else ""
            raise AssertionError(f"timed out waiting for {self._what}{detail}")
        return remaining


async def until(predicate: Callable[[], T], timeout: float = 5.0, what: str = "condition", *,
                interval: float = 0.01, changed: asyncio.Event | None = None,
                detail: Callable[[], str] | None = None) -> T:
    """Return ``predicate()`` once it is truthy; fail after ``timeout`` seconds naming ``what``.

    With ``changed``, the predicate is re-checked as soon as the event is set (and at least every
    0.5 s), so a harness that notes each report wakes its waiters without a poll interval."""
    deadline = _Deadline(timeout, what, detail)
    while not (value := predicate()):
        remaining = deadline.left()
        if changed is None:
            await asyncio.sleep(min(interval, remaining))  # a poll interval bounded by the deadline
            continue
        changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), min(remaining, 0.5))
    return value


async def until_async(predicate: Callable[[], Awaitable[T]], timeout: float = 5.0, what: str = "condition", *,
                      interval: float = 0.05, ignore: tuple[type[BaseException], ...] = (),
                      detail: Callable[[], str] | None = None) -> T:
    """:func:`until` for a predicate that must be awaited; exceptions of the ``ignore`` types count as
    "not yet" (a service still starting refuses connections or has no responders)."""
    deadline = _Deadline(timeout, what, detail)
    while True:
        value: Any = None
        with contextlib.suppress(*ignore):
            value = await predicate()
        if value:
            return value
        await asyncio.sleep(min(interval, deadline.left()))  # polling another party's state, bounded by the deadline


def wait_for(predicate: Callable[[], T], timeout: float, what: str = "condition", *, interval: float = 0.2,
             detail: Callable[[], str] | None = None) -> T:
    """The synchronous :func:`until`, for threads and other processes."""
    deadline = _Deadline(timeout, what, detail)
    while not (value := predicate()):
        time.sleep(min(interval, deadline.left()))  # polling another thread's or process's state, bounded
    return value
