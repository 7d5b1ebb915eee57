"""The section base and the secret type, shared by :mod:`tradebus.config` and the section files."""

from __future__ import annotations

import re

import msgspec

# The name of one of several instances of a service run side by side (``[ws]``, ``[fmz]``, ``[md]`` and
# ``[td] instance_id``): it ends up in bus identities (md.ctl requesters, heartbeats) and in the service's
# data folder name, so it stays a plain token.
INSTANCE_PATTERN = r"^[A-Za-z0-9_-]{0,32}$"


def check_instance_id(instance_id: str) -> None:
    """``instance_id`` of any service run side by side; msgspec turns the ValueError into the one-line
    ConfigError "<section>: …"."""
    if not re.match(INSTANCE_PATTERN, instance_id):
        raise ValueError(f"instance_id {instance_id!r}: letters, digits, '-' and '_', at most 32")


def check_instance(instance_id: str, md_lease_s: float) -> None:
    """The two keys every edge has for running side by side."""
    check_instance_id(instance_id)
    if not 0 < md_lease_s <= 86_400:
        raise ValueError(f"md_lease_s must be > 0 and at most 86400 seconds, got {md_lease_s:g}")


class Secret:
    """A string that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


class Section(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Base for config sections: unknown keys are an error, so a typo never passes silently."""
