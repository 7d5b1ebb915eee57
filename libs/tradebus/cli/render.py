"""Terminal output of ``tradebus up`` and ``tradebus status``: prefixed coloured log lines, tables."""

from __future__ import annotations

import time
from collections.abc import Sequence

import msgspec

from tradebus.log_escape import escape_text

_COLOURS = ("36", "35", "33", "32", "34", "91", "96", "95", "93")
_LEVEL_COLOUR = {"debug": "2", "info": "32", "warning": "33", "error": "31", "critical": "31;1"}
_json = msgspec.json.Decoder()
_SKIP_KEYS = {"event", "level", "timestamp", "service", "logger"}


class LinePrinter:
    """Prefixes each child's lines with its name, in a stable colour per name (when on a TTY).

    Children log JSON lines (they are not on a TTY); those are rendered as
    ``level  event  key=value …`` so one stream reads the same whatever process wrote it.

    A child's line cannot forge another: everything taken from it — a JSON record's level, event,
    keys and values, or a line that is not JSON at all — is escaped (``log_escape.py``) before it is
    printed, so a newline, carriage return or ANSI escape inside it shows as ``\\n`` / ``\\x1b``
    after the child's own prefix, never as a new ``<name> | …`` line or terminal control.
    """

    def __init__(self, colour: bool, width: int = 12) -> None:
        self.colour = colour
        self.width = width
        self._assigned: dict[str, str] = {}

    def _paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour else text

    def format(self, name: str, line: str) -> str:
        code = self._assigned.setdefault(name, _COLOURS[len(self._assigned) % len(_COLOURS)])
        prefix = self._paint(f"{name:<{self.width}}|", code)
        return f"{prefix} {self._render(line)}"

    def _render(self, line: str) -> str:
        if not line.startswith("{"):
            return escape_text(line)
        try:
            record = _json.decode(line)
        except msgspec.DecodeError:
            return escape_text(line)
        if not isinstance(record, dict) or "event" not in record:
            return escape_text(line)
        level = escape_text(str(record.get("level", "info")))
        fields = " ".join(f"{escape_text(str(k))}={escape_text(str(v))}"
                          for k, v in record.items() if k not in _SKIP_KEYS)
        head = self._paint(f"{level:<7}", _LEVEL_COLOUR.get(level, "0"))
        return f"{head} {escape_text(str(record['event']))}" + (f"  {fields}" if fields else "")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers], *[["-" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def age(ts_ns: int | None, now_ns: int | None = None) -> str:
    if not ts_ns:
        return "-"
    seconds = ((now_ns or time.time_ns()) - ts_ns) / 1e9
    return f"{seconds:.1f}s ago" if seconds < 120 else f"{seconds / 60:.0f}m ago"
