"""Copy plain dicts into real openctp-ctp struct instances, and back.

The CTP library hands its SPI structs whose text fields hold GB18030 bytes, and openctp-ctp's
getters decode them as GB18030 (so ``pRspInfo.ErrorMsg`` reads ``"CTP:资金不足"``). Its setters,
however, encode Python text as UTF-8, so ``field.ErrorMsg = "CTP:资金不足"`` would read back as
mojibake. To hand the SPI exactly what the native library hands it, non-ASCII text is written as
GB18030 bytes straight into the C struct, at an offset computed from the struct layout and
verified against the setter before any byte is written.
"""

from __future__ import annotations

import ctypes
import logging
import re
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

DBL_MAX = 1.7976931348623157e308
_PROBE_LIMIT = 65536


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    kind: str  # "double" | "int" | "text"
    size: int
    offset: int


def field_names(cls: type) -> list[str]:
    """The C fields of a SWIG struct class, in declaration order."""
    return [k for k, v in vars(cls).items() if isinstance(v, property) and k != "thisown"]


_ARRAY_TYPE = re.compile(r"of type 'char \[(\d+)\]'")


def _text_size(cls: type, name: str) -> int:
    """Size in bytes of a text field: SWIG names the C type when it refuses an oversized value."""
    try:
        setattr(cls(), name, "x" * _PROBE_LIMIT)
    except TypeError as exc:
        found = _ARRAY_TYPE.search(str(exc))
        if found:
            return int(found.group(1))
        return 1  # a single ``char`` (SWIG names its typedef, e.g. TThostFtdcDirectionType)
    raise RuntimeError(f"{cls.__name__}.{name} accepted {_PROBE_LIMIT} characters")


def _int_size(cls: type, name: str) -> int:
    """4 for ``int``; 2 for the few ``short`` typedefs (SWIG refuses a value beyond 16 bits)."""
    try:
        setattr(cls(), name, 1 << 20)
    except (OverflowError, TypeError):
        return 2
    return 4


@cache
def _layout(cls: type) -> dict[str, _Field]:
    blank = cls()
    fields: dict[str, _Field] = {}
    offset = 0
    for name in field_names(cls):
        value = getattr(blank, name)
        if isinstance(value, float):
            kind, size, align = "double", 8, 8
        elif isinstance(value, int):
            kind = "int"
            size = align = _int_size(cls, name)
        else:
            kind, align = "text", 1
            size = _text_size(cls, name)
        offset = (offset + align - 1) // align * align
        fields[name] = _Field(name, kind, size, offset)
        offset += size
    return fields


@cache
def _verified_text_field(cls: type, name: str) -> _Field | None:
    """The layout entry of a text field, if a marker written by the setter is found at its offset."""
    field = _layout(cls).get(name)
    if field is None or field.kind != "text" or field.size < 2:
        return None
    probe = cls()
    marker = "".join(chr(0x41 + i % 26) for i in range(field.size - 1))
    setattr(probe, name, marker)
    raw = ctypes.string_at(int(probe.this) + field.offset, field.size - 1)
    if raw != marker.encode():
        log.warning("ctp struct layout mismatch for %s.%s; non-ASCII text will be UTF-8", cls.__name__, name)
        return None
    return field


def _set_text(obj: Any, name: str, text: str) -> None:
    if text.isascii():
        setattr(obj, name, text)
        return
    field = _verified_text_field(type(obj), name)
    if field is None:
        setattr(obj, name, text)
        return
    data = text.encode("gb18030")[: field.size - 1]
    # Never cut a multi-byte character in half: drop a trailing partial sequence.
    while data:
        try:
            data.decode("gb18030")
            break
        except UnicodeDecodeError:
            data = data[:-1]
    buf = data + b"\0" * (field.size - len(data))
    ctypes.memmove(int(obj.this) + field.offset, buf, field.size)


def make_struct(module: ModuleType, struct_name: str, values: dict[str, Any]) -> Any:
    """A real openctp-ctp struct of ``module`` filled from ``values`` (unknown keys are ignored)."""
    if not struct_name.startswith("CThostFtdc") or not struct_name.endswith("Field"):
        raise ValueError(f"not a CTP struct name: {struct_name!r}")
    cls = getattr(module, struct_name)
    obj = cls()
    known = _layout(cls)
    for name, value in values.items():
        field = known.get(name)
        if field is None:
            continue
        if field.kind == "text":
            _set_text(obj, name, str(value))
        elif field.kind == "double":
            setattr(obj, name, float(value))
        else:
            setattr(obj, name, int(value))
    return obj


def struct_to_dict(obj: Any) -> dict[str, Any]:
    """Every field of a SWIG struct instance (as the caller filled it) as plain values."""
    return {name: getattr(obj, name) for name in field_names(type(obj))}
