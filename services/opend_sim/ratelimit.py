"""Sliding-window limits of OpenD's operation commands (docs/auth_broker.md, 'Operation commands')."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class SlidingWindow:
    """At most ``limit`` accepted calls in any ``window`` seconds; refused calls do not count."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._stamps: deque[float] = deque()

    def try_acquire(self) -> bool:
        now = self._clock()
        while self._stamps and now - self._stamps[0] >= self._window:
            self._stamps.popleft()
        if len(self._stamps) >= self._limit:
            return False
        self._stamps.append(now)
        return True

    def retry_after(self) -> float:
        """Seconds until the next call would be accepted (0 when it would be now)."""
        if len(self._stamps) < self._limit:
            return 0.0
        return max(0.0, self._stamps[0] + self._window - self._clock())
