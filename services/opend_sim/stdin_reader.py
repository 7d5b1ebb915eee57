"""Console stdin: commands end with ``\\r`` (a pty, as Kael's image writes) or ``\\n`` (a pipe).

The reader is a daemon thread on ``os.read`` rather than an asyncio pipe transport: it works for
pipes, ptys, files and ``/dev/null`` alike, never flips the terminal to non-blocking mode (which
would break the user's shell after exit), and holds no ``sys.stdin`` buffer lock at shutdown.
End of input is not an exit: OpenD keeps running under ``nohup`` with stdin closed.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import Callable

_LINE_END = re.compile(rb"\r\n|\r|\n")


class LineSplitter:
    """Splits a byte stream into lines; CR, LF and CRLF each end one, even across chunk edges."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._skip_lf = False  # the previous chunk ended with CR: a leading LF belongs to it

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._skip_lf and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._skip_lf = chunk.endswith(b"\r")
        self._buffer.extend(chunk)
        lines: list[bytes] = []
        while (match := _LINE_END.search(self._buffer)) is not None:
            lines.append(bytes(self._buffer[: match.start()]))
            del self._buffer[: match.end()]
        return lines


def start_stdin_reader(loop: asyncio.AbstractEventLoop, on_line: Callable[[str], None], fd: int = 0) -> None:
    def run() -> None:
        splitter = LineSplitter()
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            for raw in splitter.feed(chunk):
                line = raw.decode("utf-8", errors="replace").strip()
                if not line:
                    continue
                try:
                    loop.call_soon_threadsafe(on_line, line)
                except RuntimeError:
                    return  # the loop is closed: the process is exiting

    threading.Thread(target=run, name="opend-stdin", daemon=True).start()
