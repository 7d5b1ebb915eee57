"""OpenD's console bytes → clean lines (see docs/auth_broker.md, 'Console output').

OpenD redraws its ``>>>`` prompt with bare ``\\r``, pads lines with spaces to the console width, may
colour them with ANSI codes, and a pty hands us arbitrary chunks: a marker can be split across two
reads, or followed by kilobytes in one. So: decode incrementally (a UTF-8 character can be split too),
treat ``\\r`` and ``\\n`` both as line ends, keep the unfinished line across chunks (capped), and strip
ANSI codes, prompts and padding before anyone matches a substring.
"""

from __future__ import annotations

import codecs
import re

MAX_PARTIAL = 64 * 1024
PROMPT = ">>>"

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_LINE_END = re.compile(r"\r\n|\r|\n")


def clean(text: str) -> str:
    """One console line as a matcher should see it: no ANSI, no leading prompts, no padding."""
    text = _ANSI.sub("", text).strip()
    while text.startswith(PROMPT):
        text = text[len(PROMPT):].lstrip()
    return text.strip()


class LineAssembler:
    """Feed raw pty chunks, get complete cleaned lines; ``partial`` is the unfinished one so far."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""

    def feed(self, chunk: bytes) -> list[str]:
        self._buffer += self._decoder.decode(chunk)
        parts = _LINE_END.split(self._buffer)
        self._buffer = parts.pop()
        if len(self._buffer) > MAX_PARTIAL:  # a runaway line: keep its tail, where a marker would be
            self._buffer = self._buffer[-MAX_PARTIAL:]
        return [line for line in (clean(p) for p in parts) if line]

    @property
    def partial(self) -> str:
        """The line being written, cleaned: interactive prompts end without a newline."""
        return clean(self._buffer)

    def flush(self) -> list[str]:
        """End of output: whatever is left is a last line."""
        rest = self._buffer + self._decoder.decode(b"", final=True)
        self._buffer = ""
        line = clean(rest)
        return [line] if line else []
