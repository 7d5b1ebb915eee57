"""OpenD's telnet port: operation commands over TCP (docs/auth_broker.md, 'Operation commands').

* A command ends with CRLF. A line ended by a bare LF is dropped without an answer, which is the
  quirk manhinhang's image documents ("bare LF is silently dropped").
* Answers go back to the sender as ``line\\r\\n``; every session also receives a copy of the console
  lines, so login-state text reaches telnet users (greenmtnboy's scraper reads it there).
* Encoding: ASCII for ``-lang=en``; GB18030 (byte-identical to gb2312 for these lines) for
  ``-lang=chs``, as the official Python sample decodes gb2312. Input is read as UTF-8, falling back
  to GB18030.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from opend_sim.console import Console
from opend_sim.texts import Lang

LineHandler = Callable[[str, Callable[[str], None]], None]

MAX_LINE = 64 * 1024


def reply_encoding(lang: Lang) -> str:
    return "gb18030" if lang is Lang.CHS else "utf-8"


def decode_command(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", errors="replace")


def split_crlf(buffer: bytearray) -> list[bytes]:
    """Take complete lines out of ``buffer``; lines ended by a bare LF are discarded."""
    lines: list[bytes] = []
    while (end := buffer.find(b"\n")) >= 0:
        raw = bytes(buffer[:end])
        del buffer[: end + 1]
        if raw.endswith(b"\r"):
            lines.append(raw[:-1])
    return lines


class TelnetServer:
    def __init__(self, console: Console, lang: Lang, on_line: LineHandler) -> None:
        self._console = console
        self._encoding = reply_encoding(lang)
        self._on_line = on_line
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._session, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)

        def send(line: str) -> None:
            if not writer.is_closing():
                writer.write(line.encode(self._encoding, errors="replace") + b"\r\n")

        self._console.add_sink(send)
        buffer = bytearray()
        try:
            while chunk := await reader.read(4096):
                buffer.extend(chunk)
                for raw in split_crlf(buffer):
                    self._on_line(decode_command(raw).strip(), send)
                if len(buffer) > MAX_LINE:
                    buffer.clear()  # a runaway line without LF; OpenD would not act on it either
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            self._console.remove_sink(send)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
