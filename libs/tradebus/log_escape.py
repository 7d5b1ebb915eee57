"""Outside text made harmless before it reaches a log line.

A user name, an instrument id, a frame or an HTTP path can carry a newline (a forged second log
line), an ANSI escape (recoloured or erased terminal output), a NUL, a carriage return (a line
overwritten in place), a Unicode line separator or a bidirectional override (text shown in another
order than it was written). Every such character is replaced by a visible escape (``\\n``,
``\\x1b``, ``\\u202e``), so one log call is one line whatever it prints, and the terminal shows what
was received. Printable text, including non-ASCII letters, is left alone. Backslashes are not
doubled: an escape in a log line is ambiguous with the same characters typed literally, which is
harmless (it can only make a line look *more* escaped, never add one).

Done once, as the last structlog processor before rendering (:func:`escape_processor`), so no call
site can forget it; ``tradebus up`` escapes its children's output again when it prefixes it.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

# C0 controls, DEL, C1 controls, line/paragraph separators, bidi embeddings/overrides/isolates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Multi-line by nature (a traceback): newlines kept so it stays readable on a terminal, all else
# escaped, and every line after the first indented, so text from outside inside an exception message
# can never start a line at the margin where a log line would start.
MULTILINE_KEYS = frozenset({"exception", "stack"})


def _escape_char(match: re.Match[str]) -> str:
    char = match.group(0)
    named = _NAMED.get(char)
    if named is not None:
        return named
    point = ord(char)
    return f"\\x{point:02x}" if point <= 0xFF else f"\\u{point:04x}"


def escape_text(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control / line-breaking / reordering character shown as an escape."""
    if _UNSAFE.search(text) is None:
        return text
    if keep_newlines:
        return "\n".join(_UNSAFE.sub(_escape_char, part) for part in text.split("\n"))
    return _UNSAFE.sub(_escape_char, text)


def escape_value(value: Any) -> Any:
    """Strings escaped; containers walked (their keys too); anything else (numbers, None) unchanged."""
    if isinstance(value, str):
        return escape_text(value)
    if isinstance(value, bytes | bytearray):
        return escape_text(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, dict):
        return {escape_value(k) if isinstance(k, str) else k: escape_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [escape_value(v) for v in value]
    return value


def escape_processor(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: every string in the event (the event text, values, nested keys) escaped."""
    for key in list(event_dict):
        value = event_dict[key]
        if key in MULTILINE_KEYS and isinstance(value, str):
            event_dict[key] = escape_text(value, keep_newlines=True).replace("\n", "\n  ")
        else:
            safe_key = escape_text(key) if isinstance(key, str) else key
            if safe_key != key:
                del event_dict[key]
            event_dict[safe_key] = escape_value(value)
    return event_dict
