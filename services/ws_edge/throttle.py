"""Rate limits: a token bucket per connection, and the failed-login delay per user and per address."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self.tokens = float(burst)
        self.clock = clock
        self.stamp = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class LoginThrottle:
    """Each failure within ``window_s`` doubles the wait before the next attempt of that user name and
    of that address (the larger of the two applies); a success clears the user's count."""

    def __init__(self, base_delay_s: float, max_delay_s: float, window_s: float, *,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.base = base_delay_s
        self.cap = max_delay_s
        self.window = window_s
        self.clock = clock
        self.max_keys = max_keys
        self._failures: dict[str, tuple[int, float]] = {}  # key → (count, last failure time)

    def _count(self, key: str) -> int:
        entry = self._failures.get(key)
        if entry is None:
            return 0
        count, last = entry
        if self.clock() - last > self.window:
            del self._failures[key]
            return 0
        return count

    def delay(self, user: str, address: str) -> float:
        failures = max(self._count(f"u:{user}"), self._count(f"a:{address}"))
        if failures == 0:
            return 0.0
        return min(self.cap, self.base * 2 ** (failures - 1))

    def failed(self, user: str, address: str) -> None:
        if len(self._failures) >= self.max_keys:  # bounded: forget the oldest half
            for key in list(self._failures)[: self.max_keys // 2]:
                del self._failures[key]
        now = self.clock()
        for key in (f"u:{user}", f"a:{address}"):
            self._failures[key] = (self._count(key) + 1, now)

    def succeeded(self, user: str) -> None:
        self._failures.pop(f"u:{user}", None)
