"""OpenD's console output, byte for byte in its shape (docs/auth_broker.md, 'Console output').

OpenD keeps a ``>>>`` prompt on the last line. A message overwrites it with a bare ``\\r``, is
space-padded to the console width, ends the line, and the prompt is redrawn without a newline.
So a raw capture reads ``\\r>>>\\rLogin successful<spaces>\\n\\r>>>`` and a capture whose ``\\r`` were
lost reads ``>>>登录成功``, which is what issue pastes show. Consumers must parse line by line after
normalising ``\\r`` and match substrings; this writer keeps them honest. Each line is flushed at once.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Callable
from typing import BinaryIO

PROMPT = ">>>"
CONSOLE_WIDTH = 80

LineSink = Callable[[str], None]


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def pad(text: str, width: int = CONSOLE_WIDTH) -> str:
    return text + " " * max(0, width - display_width(text))


class Console:
    """Writes messages to stdout in OpenD's shape and copies the plain text to the sinks."""

    def __init__(self, out: BinaryIO | None = None) -> None:
        self._out = out if out is not None else sys.stdout.buffer
        self._sinks: list[LineSink] = []
        self._prompt_shown = False

    def add_sink(self, sink: LineSink) -> None:
        self._sinks.append(sink)

    def remove_sink(self, sink: LineSink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    def print(self, text: str) -> None:
        self._write(f"\r{pad(text)}\n\r{PROMPT}")
        self._prompt_shown = True
        for sink in list(self._sinks):
            sink(text)

    def close(self) -> None:
        """End the prompt line so the shell prompt after exit starts on a fresh line."""
        if self._prompt_shown:
            self._write("\n")
            self._prompt_shown = False

    def _write(self, data: str) -> None:
        try:
            self._out.write(data.encode("utf-8"))
            self._out.flush()
        except (BrokenPipeError, ValueError):
            # Nobody reads our console any more (a supervisor died); OpenD keeps running regardless.
            pass
