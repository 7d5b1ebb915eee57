"""futu-api as a well-behaved guest: imported once without its side effects, called off the loop.

``import futu`` creates its log folder under ``$HOME`` and, on the main thread, replaces the SIGINT
handler with ``os._exit(0)`` — a gateway must neither litter the operator's home nor die without
flushing its event store on Ctrl-C. Every SDK call blocks its caller (and waits forever while OpenD
is away unless told otherwise), so calls run on a private thread pool with an explicit deadline.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from td_exec.venue import VenueRejected, VenueUnknown

T = TypeVar("T")
_import_lock = threading.Lock()

# What futu-api returns as the message of a failed call when no answer came from OpenD: its own
# ``Err`` texts, the ``PacketErr`` names/reprs set by ``_pop_all_req_info`` and the request timeout.
# Anything else is OpenD's retMsg (or a refusal by the SDK before sending) — definite evidence.
TRANSPORT_MESSAGES: frozenset[str] = frozenset({
    "Connection lost", "Timeout", "Not connected", "Connection closed", "Connect timeout",
    "Abnormal event timeout", "PacketErr.Timeout", "Disconnect", "SendFail", "Invalid",
    "PacketErr.Disconnect", "PacketErr.SendFail", "PacketErr.Invalid",
})


def load_futu(home: Path) -> ModuleType:
    """Import futu with ``home`` as its log root and without its SIGINT hijack (idempotent)."""
    with _import_lock:
        import sys

        already = sys.modules.get("futu")
        if already is not None:
            return already
        home.mkdir(parents=True, exist_ok=True)
        saved_home = os.environ.get("HOME")
        on_main = threading.current_thread() is threading.main_thread()
        previous = signal.getsignal(signal.SIGINT) if on_main else None
        os.environ["HOME"] = str(home)
        try:
            import futu
        finally:
            if saved_home is None:
                os.environ.pop("HOME", None)
            else:
                os.environ["HOME"] = saved_home
            if on_main and previous is not None:
                signal.signal(signal.SIGINT, previous)
        # SDK threads must never keep a stopping gateway alive; its console log is not ours
        futu.SysConfig.set_all_thread_daemon(True)
        futu.SysConfig.enable_console_log(False)
        return futu


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
