"""Frame I/O on opend_sim's API port; the 44-byte OpenD header itself is the Futu kit's
(``tradebus.futu.frame``, see docs/simulators.md, 'OpenD API framing')."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tradebus.futu.frame import HEADER as HEADER
from tradebus.futu.frame import HEADER_SIZE as HEADER_SIZE
from tradebus.futu.frame import FrameError as FrameError
from tradebus.futu.frame import body_matches, unpack_header
from tradebus.futu.frame import pack as pack


@dataclass(frozen=True, slots=True)
class Frame:
    proto_id: int
    fmt: int
    serial: int
    body: bytes
    sha1_ok: bool


async def read_frame(reader: asyncio.StreamReader) -> Frame:
    """Read one packet; asyncio.IncompleteReadError at EOF, FrameError when the stream is unusable."""
    proto_id, fmt, serial, body_len, sha1 = unpack_header(await reader.readexactly(HEADER_SIZE))
    body = await reader.readexactly(body_len)
    return Frame(proto_id, fmt, serial, body, body_matches(body, sha1))
