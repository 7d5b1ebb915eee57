"""A fixed-size Bloom filter of strings: "certainly never added" or "maybe added".

Used where a process drops old entries from memory but must still recognise their keys (td_exec's
closed orders): a miss is exact, a hit has to be checked against the real store. The bits are a plain
``bytearray`` so a snapshot can save and restore them as they are.
"""

from __future__ import annotations

import hashlib
import math

_MASK64 = (1 << 64) - 1


class BloomFilter:
    def __init__(self, size_bytes: int, hashes: int = 7, bits: bytes | None = None, count: int = 0) -> None:
        if size_bytes < 1 or hashes < 1:
            raise ValueError(f"a Bloom filter needs at least one byte and one hash, got {size_bytes}, {hashes}")
        if bits is not None and len(bits) != size_bytes:
            raise ValueError(f"{len(bits)} bytes of bits for a filter of {size_bytes}")
        self.bits = bytearray(bits) if bits is not None else bytearray(size_bytes)
        self.hashes = hashes
        self.count = count  # keys added (with repeats): what the false-positive estimate is based on
        self._m = size_bytes * 8

    def _positions(self, key: str) -> list[int]:
        # Double hashing (Kirsch-Mitzenmacher): k positions from one 128-bit digest.
        digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
        h1 = int.from_bytes(digest[:8], "little")
        h2 = int.from_bytes(digest[8:], "little") | 1
        m = self._m
        return [((h1 + i * h2) & _MASK64) % m for i in range(self.hashes)]

    def add(self, key: str) -> None:
        bits = self.bits
        for p in self._positions(key):
            bits[p >> 3] |= 1 << (p & 7)
        self.count += 1

    def __contains__(self, key: str) -> bool:
        bits = self.bits
        return all(bits[p >> 3] & (1 << (p & 7)) for p in self._positions(key))

    def false_positive_rate(self) -> float:
        """The expected share of never-added keys that hit, at the current count."""
        return (1.0 - math.exp(-self.hashes * self.count / self._m)) ** self.hashes
