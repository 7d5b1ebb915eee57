"""Broker-side state across simulator restarts: real Futu keeps orders and positions when OpenD restarts."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tradebus.sim import SimMarket

# stdlib logging: quiet (warnings to stderr) unless the process configures it, so nothing of ours
# mixes into the OpenD console on stdout; tradebus.logs routes it into structlog when configured
log = logging.getLogger("opend_sim.api")


class StateStore:
    def __init__(self, path: Path | None) -> None:
        self._path = path

    def load(self) -> SimMarket | None:
        if self._path is None or not self._path.exists():
            return None
        market = SimMarket.restore(self._path.read_bytes())
        log.info("broker state restored from %s", self._path)
        return market

    def save(self, market: SimMarket) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_name(self._path.name + ".tmp")
        tmp.write_bytes(market.snapshot())
        os.replace(tmp, self._path)  # atomic: a crash mid-write never leaves a torn state file
