"""``[ws]``: ws_edge (webctp protocol)."""

from __future__ import annotations

from tradebus.config_sections.base import Section


class WsConfig(Section, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    md_port: int = 8080
    td_port: int = 8081
