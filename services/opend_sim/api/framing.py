"""The 44-byte OpenD packet header (``<1s1sI2B2I20s8s``, little-endian, packed) and frame I/O."""

from __future__ import annotations

import asyncio
import hashlib
import struct
from dataclasses import dataclass

HEADER = struct.Struct("<1s1sI2B2I20s8s")
HEADER_SIZE = HEADER.size  # 44
MAGIC = (b"F", b"T")
FMT_PROTOBUF = 0
FMT_JSON = 1
PROTO_VER = 0
# real requests are a few KB; anything this large means a desynchronised or hostile stream
MAX_BODY = 16 * 1024 * 1024


class FrameError(Exception):
    """The byte stream cannot be framed any more (bad magic, absurd length): close the connection."""


@dataclass(frozen=True, slots=True)
class Frame:
    proto_id: int
    fmt: int
    serial: int
    body: bytes
    sha1_ok: bool


def pack(proto_id: int, serial: int, body: bytes) -> bytes:
    """A complete packet; replies and pushes are always protobuf (fmt 0).

    See docs/simulators.md, 'OpenD API framing'."""
    head = HEADER.pack(
        MAGIC[0], MAGIC[1], proto_id, FMT_PROTOBUF, PROTO_VER, serial & 0xFFFFFFFF, len(body),
        hashlib.sha1(body).digest(), b"\0" * 8,
    )
    return head + body


def unpack_header(raw: bytes) -> tuple[int, int, int, int, bytes]:
    """(proto_id, fmt, serial, body_len, sha1) of a 44-byte header; FrameError if it is not one."""
    f0, f1, proto_id, fmt, _ver, serial, body_len, sha1, _reserved = HEADER.unpack(raw)
    if (f0, f1) != MAGIC:
        raise FrameError(f"bad header magic {f0 + f1!r}")
    if body_len > MAX_BODY:
        raise FrameError(f"body length {body_len} exceeds {MAX_BODY}")
    return proto_id, fmt, serial, body_len, sha1


async def read_frame(reader: asyncio.StreamReader) -> Frame:
    """Read one packet; asyncio.IncompleteReadError at EOF, FrameError when the stream is unusable."""
    proto_id, fmt, serial, body_len, sha1 = unpack_header(await reader.readexactly(HEADER_SIZE))
    body = await reader.readexactly(body_len)
    return Frame(proto_id, fmt, serial, body, hashlib.sha1(body).digest() == sha1)
