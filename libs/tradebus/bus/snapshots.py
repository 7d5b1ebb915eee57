"""Objects of an object store bucket read and written whole, fast: the snapshots of folds.

Its own module so that every fold that starts from a snapshot (td_exec's orders, ws_edge's account
books) uploads and checks its bytes the same way.
"""

from __future__ import annotations

import base64
import hashlib
import io
from typing import Any

from tradebus.bus.connection import Bus


async def download(bus: Bus, bucket: str, name: str, timeout: float = 5.0) -> bytes:
    """An object's bytes, checked against its size and SHA-256 digest (``ValueError`` when they differ).

    Reads the chunks with one ordered consumer into a list: the object store client's own ``get``
    appends chunk to chunk (quadratic) or hands each one to a thread, several times slower.
    """
    info = await (await bus.js.object_store(bucket)).get_info(name)
    if not info.size or not info.nuid or not info.digest:
        raise ValueError(f"snapshot {name!r} is empty")
    sub = await bus.js.subscribe(f"$O.{bucket}.C.{info.nuid}", ordered_consumer=True, pending_bytes_limit=1 << 30)
    parts: list[bytes] = []
    digest = hashlib.sha256()
    try:
        while True:
            msg = await sub.next_msg(timeout=timeout)
            parts.append(msg.data)
            digest.update(msg.data)
            if msg.metadata.num_pending == 0:
                break
    finally:
        await sub.unsubscribe()
    data = b"".join(parts)
    expected = base64.urlsafe_b64decode(info.digest.split("=", 1)[1])
    if len(data) != info.size or digest.digest() != expected:
        raise ValueError(f"snapshot {name!r} is damaged: {len(data)} bytes of {info.size}, digest mismatch")
    return data


class _Reader(io.RawIOBase):
    """``data`` without a copy; the object store client reads a file object in a worker thread, so
    hundreds of megabytes are never copied on the event loop."""

    def __init__(self, data: bytes) -> None:
        self._view = memoryview(data)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), len(self._view) - self._pos)
        buffer[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n


async def save(bus: Bus, bucket: str, name: str, data: bytes) -> None:
    store = await bus.js.object_store(bucket)
    await store.put(name, _Reader(data))
