"""Lookup tables written once in the direction natural to read, the way back generated.

Every venue kit (``tradebus.ctp``, ``tradebus.futu``) and simulator builds its reverse tables with
:func:`inverse`, so a table that stops being one-to-one fails at import instead of silently losing a
value on the way back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def inverse(table: Mapping[K, V]) -> dict[V, K]:
    """The way back of a one-to-one table; a table that maps two keys to one value is a programming error."""
    back = {value: key for key, value in table.items()}
    if len(back) != len(table):
        raise ValueError(f"table is not one-to-one, it has no inverse: {dict(table)!r}")
    return back
