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
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from operator import itemgetter
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


def _gb18030_text(text: str, size: int) -> bytes:
    """``text`` as GB18030 in at most ``size - 1`` bytes, never cutting a multi-byte character in half."""
    data = text.encode("gb18030")[: size - 1]
    while data:
        try:
            data.decode("gb18030")
            break
        except UnicodeDecodeError:
            data = data[:-1]
    return data


def _set_text(obj: Any, name: str, text: str) -> None:
    if text.isascii():
        setattr(obj, name, text)
        return
    field = _verified_text_field(type(obj), name)
    if field is None:
        setattr(obj, name, text)
        return
    data = _gb18030_text(text, field.size)
    buf = data + b"\0" * (field.size - len(data))
    ctypes.memmove(int(obj.this) + field.offset, buf, field.size)


class _Packer:
    """The whole C struct as one ``struct.Struct``: one pack and one memmove instead of a SWIG setter
    call per field (a depth update has 48 fields; the setters cost about 90 µs, the pack a few).
    Used only for a class whose packed bytes were found identical to what its setters write."""

    def __init__(self, layout: dict[str, _Field]) -> None:
        fmt, end = ["="], 0
        for f in layout.values():
            if f.offset > end:
                fmt.append(f"{f.offset - end}x")
            fmt.append({"double": "d", "int": "i" if f.size == 4 else "h"}.get(f.kind, f"{f.size}s"))
            end = f.offset + f.size
        self.struct = struct.Struct("".join(fmt))
        self.index = {name: i for i, name in enumerate(layout)}
        self.fields = list(layout.values())
        self.blank = [0.0 if f.kind == "double" else 0 if f.kind == "int" else b"" for f in self.fields]

    def values(self, values: dict[str, Any]) -> list[Any] | None:
        """The pack arguments for ``values``; None when a value needs the setters (to raise their error)."""
        out = list(self.blank)
        for name, value in values.items():
            i = self.index.get(name)
            if i is None:
                continue
            f = self.fields[i]
            if f.kind == "double":
                out[i] = float(value)
            elif f.kind == "int":
                out[i] = int(value)
            else:
                text = str(value)
                if not text.isascii() and f.size < 2:
                    return None  # a single char: the setter decides what non-ASCII text becomes
                data = text.encode("ascii") if text.isascii() else _gb18030_text(text, f.size)
                if len(data) > max(1, f.size - 1):
                    return None  # the setter refuses it with its own TypeError
                out[i] = data
        return out

    def fill(self, obj: Any, values: dict[str, Any]) -> bool:
        args = self.values(values)
        if args is None:
            return False
        try:
            data = self.struct.pack(*args)
        except struct.error:
            return False  # an int out of range: the setter raises its OverflowError
        ctypes.memmove(int(obj.this), data, self.struct.size)
        return True


def _field_bytes(obj: Any, layout: dict[str, _Field]) -> list[bytes]:
    """The bytes of each field (padding between fields is left out: the C++ constructor leaves it unset)."""
    return [ctypes.string_at(int(obj.this) + f.offset, f.size) for f in layout.values()]


def _probe_values(layout: dict[str, _Field]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for i, f in enumerate(layout.values()):
        if f.kind == "double":
            values[f.name] = i + 0.25
        elif f.kind == "int":
            values[f.name] = -(i + 1) if f.size == 2 else (i + 1) * 65537
        else:
            values[f.name] = "".join(chr(0x41 + (i + k) % 26) for k in range(max(1, f.size - 1)))
    return values


@cache
def _packer(cls: type) -> _Packer | None:
    """The class's packer if its bytes match the setters' for a probe of every field and for a blank."""
    layout = _layout(cls)
    packer = _Packer(layout)
    by_setters, by_packer, blank, probe = cls(), cls(), cls(), _probe_values(layout)
    for name, value in probe.items():
        setattr(by_setters, name, value)
    packer.fill(by_packer, probe)
    unset = cls()
    packer.fill(unset, {})
    if _field_bytes(by_setters, layout) != _field_bytes(by_packer, layout) or (
            _field_bytes(blank, layout) != _field_bytes(unset, layout)):
        log.warning("ctp struct layout of %s not reproduced; filling it field by field", cls.__name__)
        return None
    return packer


def make_struct(module: ModuleType, struct_name: str, values: dict[str, Any]) -> Any:
    """A real openctp-ctp struct of ``module`` filled from ``values`` (unknown keys are ignored)."""
    if not struct_name.startswith("CThostFtdc") or not struct_name.endswith("Field"):
        raise ValueError(f"not a CTP struct name: {struct_name!r}")
    cls = getattr(module, struct_name)
    obj = cls()
    packer = _packer(cls)
    if packer is not None and packer.fill(obj, values):
        return obj
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


def _c_text(data: bytes) -> str:
    """A C ``char`` array as openctp-ctp's getter reads it: up to the terminator, GB18030."""
    return data.split(b"\0", 1)[0].decode("gb18030")


def _read_by_getters(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    def read(obj: Any) -> tuple[Any, ...]:
        return tuple(getattr(obj, name) for name in names)

    return read


@cache
def _unpacking_reader(cls: type, names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]] | None:
    """``names`` of a ``cls`` instance from one copy of its memory and one unpack, or None where that
    does not give what the getters give (a probe of every field, and a blank)."""
    layout = _layout(cls)
    if any(layout.get(name) is None or (layout[name].kind == "text" and layout[name].size < 2) for name in names):
        return None  # unknown, or a single ``char``: the getter decides what that reads as
    whole = _Packer(layout).struct
    unpack, size = whole.unpack, whole.size
    pick = itemgetter(*(list(layout).index(name) for name in names))
    texts = tuple(i for i, name in enumerate(names) if layout[name].kind == "text")
    string_at = ctypes.string_at

    def read(obj: Any) -> tuple[Any, ...]:
        values = pick(unpack(string_at(int(obj.this), size)))
        if len(names) == 1:
            values = (values,)
        if not texts:
            return values  # type: ignore[no-any-return]
        out = list(values)
        for i in texts:
            out[i] = _c_text(out[i])
        return tuple(out)

    probe, blank = cls(), cls()
    for name, value in _probe_values(layout).items():
        setattr(probe, name, value)
    getters = _read_by_getters(names)
    if read(probe) != getters(probe) or read(blank) != getters(blank):
        log.warning("ctp struct layout of %s not reproduced; reading it field by field", cls.__name__)
        return None
    return read


def struct_reader(cls: type, names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A function that copies ``names`` out of a ``cls`` instance, in that order, as the getters read them.

    One memory copy and one ``struct.unpack`` for the whole struct instead of a SWIG getter call per field
    (48 of them for a depth update, the CTP thread's largest cost per tick), where the layout was checked
    once against the getters; field by field otherwise."""
    return _unpacking_reader(cls, names) or _read_by_getters(names)


def struct_to_dict(obj: Any) -> dict[str, Any]:
    """Every field of a SWIG struct instance (as the caller filled it) as plain values."""
    return {name: getattr(obj, name) for name in field_names(type(obj))}
