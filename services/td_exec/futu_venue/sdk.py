"""futu-api calls off the loop: every SDK call blocks its caller (and waits forever while OpenD is
away unless told otherwise), so calls run on a private thread pool with an explicit deadline. futu-api
itself is imported by the kit's loader (``tradebus.futu.loader``), without its side effects.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any, TypeVar

from td_exec.venue import VenueRejected, VenueUnknown

T = TypeVar("T")

# What futu-api returns as the message of a failed call when no answer came from OpenD: its own
# ``Err`` texts, the ``PacketErr`` names/reprs set by ``_pop_all_req_info`` and the request timeout.
# Anything else is OpenD's retMsg (or a refusal by the SDK before sending) — definite evidence.
TRANSPORT_MESSAGES: frozenset[str] = frozenset({
    "Connection lost", "Timeout", "Not connected", "Connection closed", "Connect timeout",
    "Abnormal event timeout", "PacketErr.Timeout", "Disconnect", "SendFail", "Invalid",
    "PacketErr.Disconnect", "PacketErr.SendFail", "PacketErr.Invalid",
})


def is_transport_failure(message: object) -> bool:
    return str(message).strip() in TRANSPORT_MESSAGES


class SdkCaller:
    """Runs blocking SDK calls on a bounded pool and turns ``(ret, data)`` into data or a venue error."""

    def __init__(self, *, timeout_s: float, workers: int = 8) -> None:
        self.timeout_s = timeout_s
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="futu-sdk")

    async def run(self, fn: Callable[[], T], *, what: str) -> T:
        """Run ``fn`` off the loop; a timeout or an exception is :class:`VenueUnknown`."""
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._pool, fn), self.timeout_s)
        except TimeoutError as exc:
            raise VenueUnknown(f"{what}: no answer from OpenD within {self.timeout_s:g} s") from exc
        except (VenueRejected, VenueUnknown):
            raise
        except RuntimeError as exc:
            if "shutdown" in str(exc):  # the pool is closing: the adapter is stopping
                raise VenueUnknown(f"{what}: adapter stopping") from exc
            raise VenueUnknown(f"{what}: {exc}") from exc
        except Exception as exc:  # an SDK bug or a dropped socket mid-call: the outcome is unknown
            raise VenueUnknown(f"{what}: {type(exc).__name__}: {exc}") from exc

    async def call(self, fn: Callable[[], tuple[int, Any]], *, what: str) -> Any:
        """Run an SDK call returning ``(ret, data)``; RET_ERROR from OpenD is :class:`VenueRejected`."""
        ret, data = await self.run(fn, what=what)
        if ret == 0:
            return data
        if is_transport_failure(data):
            raise VenueUnknown(f"{what}: {data}")
        raise VenueRejected("futu_error", str(data))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
