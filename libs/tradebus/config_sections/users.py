"""``[users]``: the edge user store (ws_edge, fmz_edge, td_exec's account check)."""

from __future__ import annotations

from tradebus.config_sections.base import Section


class UsersConfig(Section, frozen=True, kw_only=True):
    file: str = ""  # default: <data.dir>/users.json (a shared volume under docker compose)
