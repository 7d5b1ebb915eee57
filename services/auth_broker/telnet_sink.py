"""OpenD's telnet port as a command channel (docs/auth_broker.md, 'Operation commands').

Commands are CRLF lines, or OpenD drops them.

One short connection per command. OpenD answers in gb2312/GB18030 for ``-lang=chs`` and ASCII/UTF-8
for English; the answer is only read for the log (redacted by the caller), since the login result
shows on the console, which the broker reads anyway.
"""

from __future__ import annotations

import asyncio
import contextlib

CONNECT_TIMEOUT_S = 3.0
REPLY_WAIT_S = 0.3
REPLY_MAX_S = 1.0  # telnet sessions also get a copy of the console: stop listening after this


def decode_reply(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", errors="replace")


async def send_telnet(host: str, port: int, command: str) -> list[str]:
    """Send one command; return the lines OpenD answered within a moment."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT_S)
    try:
        writer.write(command.encode("utf-8") + b"\r\n")
        await writer.drain()
        reply = bytearray()
        deadline = asyncio.get_running_loop().time() + REPLY_MAX_S
        with contextlib.suppress(TimeoutError):
            while asyncio.get_running_loop().time() < deadline:
                chunk = await asyncio.wait_for(reader.read(4096), REPLY_WAIT_S)
                if not chunk:
                    break
                reply.extend(chunk)
        return [line for line in decode_reply(bytes(reply)).replace("\r", "").split("\n") if line.strip()]
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
