"""``[fmz]``: fmz_edge (FMZ custom-protocol HTTP plug-in)."""

from __future__ import annotations

from tradebus.config_sections.base import Section


class FmzConfig(Section, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 6666
