"""OpenD's packet: a 44-byte little-endian header, then the body (``docs/td_exec_futu.md``, "The Futu kit").

The header is ``"F"``, ``"T"``, the proto id (u32), the body format (u8: 0 protobuf, 1 JSON), the
protocol version (u8, 0), the serial (u32, echoed by the reply), the body length (u32), the SHA1 of
the body (20 bytes) and 8 reserved bytes. Both ends of tradebus's OpenD links use it: the login watch
of an external OpenD (``tradebus.opend_login``) and opend_sim's API port.
"""

from __future__ import annotations

import hashlib
import struct

HEADER = struct.Struct("<1s1sI2B2I20s8s")
HEADER_SIZE = HEADER.size  # 44
MAGIC = b"FT"
FMT_PROTOBUF = 0
FMT_JSON = 1
PROTO_VER = 0
# a real packet is a few KB; anything this large means a desynchronised or hostile stream
MAX_BODY = 16 * 1024 * 1024

# the connection protos every OpenD client starts with
INIT_CONNECT, GET_GLOBAL_STATE, NOTIFY, KEEP_ALIVE = 1001, 1002, 1003, 1004


class FrameError(Exception):
    """The byte stream cannot be framed any more (bad magic, absurd length): close the connection."""


def pack(proto_id: int, serial: int, body: bytes) -> bytes:
    """A complete packet with a protobuf body."""
    head = HEADER.pack(MAGIC[:1], MAGIC[1:], proto_id, FMT_PROTOBUF, PROTO_VER, serial & 0xFFFFFFFF, len(body),
                       hashlib.sha1(body).digest(), b"\0" * 8)
    return head + body


def unpack_header(raw: bytes, max_body: int = MAX_BODY) -> tuple[int, int, int, int, bytes]:
    """``(proto_id, fmt, serial, body_len, sha1)`` of a 44-byte header; FrameError if it is not one."""
    f0, f1, proto_id, fmt, _ver, serial, body_len, sha1, _reserved = HEADER.unpack(raw)
    if f0 + f1 != MAGIC:
        raise FrameError(f"bad header magic {f0 + f1!r}")
    if body_len > max_body:
        raise FrameError(f"body length {body_len} exceeds {max_body}")
    return proto_id, fmt, serial, body_len, sha1


def body_matches(body: bytes, sha1: bytes) -> bool:
    """Whether ``body`` is the one the header's SHA1 names."""
    return hashlib.sha1(body).digest() == sha1
