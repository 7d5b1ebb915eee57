"""Fixtures: a real ctp_sim front process per test and a logged-in trader on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ctp_front import CtpFront, front
from ctpsim_helpers import Trader, confirm_field, log_in, start_trader

__all__ = ["front"]


@pytest.fixture
def trader(front: CtpFront, tmp_path: Path) -> Iterator[Trader]:
    api, spi = start_trader(front.td, tmp_path / "flow")
    try:
        spi.rec.wait("OnFrontConnected")
        login = log_in(api, spi)
        assert api.ReqSettlementInfoConfirm(confirm_field(), 3) == 0
        assert spi.rec.wait("OnRspSettlementInfoConfirm").args[1]["ErrorID"] == 0
        yield Trader(api, spi, login, next_ref=int(login["MaxOrderRef"]))
    finally:
        api.Release()
