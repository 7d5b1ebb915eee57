"""Which venues this td_exec runs, from ``[td]``; adapters are imported only when enabled.

Importing ``futu`` rewires SIGINT and ``openctp-ctp`` needs a locale, so neither is imported by a
td_exec that does not use it.
"""

from __future__ import annotations

from pathlib import Path

from td_exec.venue import TradeVenue
from tradebus.bus import Bus
from tradebus.config import Config


def build_venues(config: Config, data_dir: Path, bus: Bus) -> list[TradeVenue]:
    venues: list[TradeVenue] = []
    for sub in ("futu", "ctp"):
        if getattr(config.td, sub):
            (data_dir / sub).mkdir(parents=True, exist_ok=True)
    if config.td.futu:
        from td_exec.futu_venue import FutuVenue

        venues.append(FutuVenue(config, data_dir / "futu", bus))
    if config.td.ctp:
        from td_exec.ctp_venue import CtpVenue

        venues.append(CtpVenue(config, data_dir / "ctp", bus))
    if config.td.sim:
        from td_exec.sim_venue import SimVenue

        venues.append(SimVenue(tick_s=config.td.sim_tick_s))
    return venues
