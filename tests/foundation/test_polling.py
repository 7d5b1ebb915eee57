"""The shared test polls (tests/support/polling.py): they return the first truthy value and fail by name."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from polling import until, until_async, wait_for


async def test_until_returns_the_truthy_value_and_names_what_timed_out() -> None:
    counter = itertools.count()
    assert await until(lambda: next(counter) >= 3 and "ready", 1.0) == "ready"
    with pytest.raises(AssertionError, match=r"timed out waiting for never; state=7"):
        await until(lambda: False, 0.05, "never", detail=lambda: "state=7")


async def test_until_wakes_on_the_changed_event() -> None:
    changed, box = asyncio.Event(), []

    async def report() -> None:
        await asyncio.sleep(0.01)
        box.append(1)
        changed.set()

    task = asyncio.create_task(report())
    assert await until(lambda: box, 2.0, "the report", changed=changed) == [1]
    await task


async def test_until_async_counts_ignored_errors_as_not_yet() -> None:
    calls = itertools.count()

    async def probe() -> int:
        if next(calls) < 2:
            raise ConnectionRefusedError
        return 200

    assert await until_async(probe, 1.0, "probe", interval=0.01, ignore=(OSError,)) == 200
    with pytest.raises(ValueError):  # not ignored: the error is the answer
        await until_async(lambda: _raise(ValueError()), 1.0)


async def _raise(exc: Exception) -> None:
    raise exc


def test_wait_for_is_the_synchronous_twin() -> None:
    counter = itertools.count()
    assert wait_for(lambda: next(counter) == 2, 1.0, interval=0.01) is True
    with pytest.raises(AssertionError, match="timed out waiting for nothing"):
        wait_for(lambda: None, 0.05, "nothing", interval=0.01)
