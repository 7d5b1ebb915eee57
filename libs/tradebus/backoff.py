"""Exponential backoff, the one implementation: venue reconnects and relogins, the first NATS connection,
restarts of supervised children and of OpenD, reconciliation retries.

``jitter=0`` gives the plain doubling sequence (initial, 2×, 4× … capped), for callers whose delays are
asserted exactly or that back off alone.
"""

from __future__ import annotations

import random


class Backoff:
    """``next()`` gives initial, 2×, 4× … up to ``maximum``, each ±``jitter`` (a fraction) at random,
    so many clients that lost the same venue do not come back in lockstep. ``reset()`` after success."""

    def __init__(self, initial: float, maximum: float, jitter: float = 0.2,
                 rng: random.Random | None = None) -> None:
        self.initial, self.maximum, self.jitter = initial, maximum, jitter
        self._rng = rng or random.Random()
        self._current = initial
        self.attempts = 0

    def next(self) -> float:
        delay = self._current * (1.0 + self.jitter * (2.0 * self._rng.random() - 1.0))
        self._current = min(self._current * 2.0, self.maximum)
        self.attempts += 1
        return delay

    def reset(self) -> None:
        self._current = self.initial
        self.attempts = 0
