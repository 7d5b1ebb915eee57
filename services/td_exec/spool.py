"""A bounded, append-only, fsynced file of events that could not reach JetStream yet.

Record layout: 4-byte big-endian length, then a msgpack ``SpoolRecord``. ``append`` returns only
after ``fsync``, so a record that was appended survives a crash of this process or the machine. A torn
last record (a crash inside ``append``) is dropped on read: its ``append`` never returned, so its event
was never applied to memory either, and reconciliation with the venue produces it again.

The size bound is a hard stop, never a silent drop: :class:`SpoolFull` is raised and the caller
decides (td_exec leaves the event unapplied and re-reconciles the account once NATS is back).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import msgspec

_LEN = struct.Struct(">I")


class SpoolFull(Exception):
    """The spool reached its size limit; nothing was written."""


class SpoolRecord(msgspec.Struct, frozen=True, array_like=True):
    subject: str
    msg_id: str
    data: bytes
    # TD_EVT sequence of the fence the event was written under (td_exec.fence): it is appended only while
    # that fence is still the account's last one, else dropped. 0: a record of a version without fences.
    fence_seq: int = 0


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(SpoolRecord)


class Spool:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.path = directory / "events.spool"
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = self._valid_size()
        os.ftruncate(self._fd, self._size)  # drop a torn tail left by a crash
        self.appended = 0

    @property
    def size(self) -> int:
        return self._size

    @property
    def empty(self) -> bool:
        return self._size == 0

    def append(self, subject: str, msg_id: str, data: bytes, *, fence_seq: int = 0, over_limit: bool = False) -> None:
        """``over_limit``: write even past ``max_bytes`` (an event already applied, whose publish failed
        after it left: refusing it would lose it; bounded by what one ack timeout lets through)."""
        body = _encoder.encode(SpoolRecord(subject, msg_id, data, fence_seq))
        if not over_limit and self._size + _LEN.size + len(body) > self.max_bytes:
            raise SpoolFull(f"spool {self.path} is full ({self._size} of {self.max_bytes} bytes)")
        os.write(self._fd, _LEN.pack(len(body)) + body)
        os.fsync(self._fd)
        self._size += _LEN.size + len(body)
        self.appended += 1

    def records(self) -> list[SpoolRecord]:
        return [rec for rec, _ in self._scan()]

    def drop_first(self, count: int) -> None:
        """Remove the first ``count`` records (they are stored in JetStream); keep the rest in order."""
        tail_offset = 0
        for index, (_, end) in enumerate(self._scan()):
            if index == count - 1:
                tail_offset = end
                break
        with open(self.path, "rb") as src:
            src.seek(tail_offset)
            tail = src.read(self._size - tail_offset)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as out:
            out.write(tail)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND, 0o600)
        self._size = len(tail)

    def close(self) -> None:
        os.close(self._fd)

    def _scan(self) -> list[tuple[SpoolRecord, int]]:
        """Every whole record with the offset just after it."""
        with open(self.path, "rb") as src:
            raw = src.read()
        out: list[tuple[SpoolRecord, int]] = []
        pos = 0
        while pos + _LEN.size <= len(raw):
            (length,) = _LEN.unpack_from(raw, pos)
            end = pos + _LEN.size + length
            if end > len(raw):
                break
            try:
                out.append((_decoder.decode(raw[pos + _LEN.size:end]), end))
            except msgspec.DecodeError:
                break
            pos = end
        return out

    def _valid_size(self) -> int:
        scanned = self._scan()
        return scanned[-1][1] if scanned else 0
