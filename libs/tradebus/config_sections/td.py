"""``[td]``: td_exec."""

from __future__ import annotations

from tradebus.config_sections.base import Section


class TdConfig(Section, frozen=True, kw_only=True):
    futu: bool = True  # run the Futu trade adapter
    ctp: bool = True  # run the CTP trade adapter
