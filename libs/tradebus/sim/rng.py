"""A tiny seeded generator (SplitMix64) whose whole state is one integer.

Python's ``random.Random`` would do, but its state is a 625-word tuple; one integer makes the
market snapshot small and exact, and the sequence is the same on every platform and version.
"""

from __future__ import annotations

import math
import zlib

import msgspec

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


class Rng(msgspec.Struct):
    state: int

    @classmethod
    def for_key(cls, seed: int, key: str) -> Rng:
        """Independent stream per (seed, instrument): adding an instrument does not shift the others."""
        mixed = ((seed & _MASK) * _GOLDEN ^ zlib.crc32(key.encode())) & _MASK
        return cls(state=mixed)

    def next_u64(self) -> int:
        self.state = (self.state + _GOLDEN) & _MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def uniform(self) -> float:
        """Uniform in [0, 1)."""
        return (self.next_u64() >> 11) / float(1 << 53)

    def chance(self, p: float) -> bool:
        return self.uniform() < p

    def randint(self, low: int, high: int) -> int:
        """Uniform integer in [low, high]."""
        return low + int(self.uniform() * (high - low + 1))

    def gauss(self) -> float:
        """Standard normal (Box-Muller; one draw per call keeps the state a single integer)."""
        u1 = 1.0 - self.uniform()  # (0, 1]: log() stays finite
        u2 = self.uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
