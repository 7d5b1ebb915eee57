"""``--synthetic-futures N``: ctp_sim lists N made-up SHFE futures after its real ones (benchmarks)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ctp_front import CtpFront
from ctpsim_helpers import log_in, send_query, start_md, start_trader, td_mod

from ctp_sim.config import FrontConfig, parse_args
from ctp_sim.server import open_day
from tradebus.sim import InstrumentKind
from tradebus.sim.instruments import MAX_SYNTHETIC_FUTURES, is_on_tick

REAL_FUTURES = ["rb2601", "au2602", "m2601", "i2601", "TA601", "SR601", "IF2512", "IC2512", "sc2601"]
NOW_NS = 1_764_900_000_000_000_000  # 2025-12-05, a Friday: any fixed instant will do


def _symbols(config: FrontConfig) -> list[str]:
    _, market = open_day(config, NOW_NS)
    return [i.symbol for i in market.instruments()]


def test_default_lists_only_the_real_futures(tmp_path: Path) -> None:
    assert parse_args([]).synthetic_futures == 0
    assert _symbols(FrontConfig(state_dir=tmp_path)) == REAL_FUTURES


def test_n_synthetic_futures_follow_the_real_ones(tmp_path: Path) -> None:
    config = parse_args(["--state-dir", str(tmp_path), "--synthetic-futures", "1000"])
    _, market = open_day(config, NOW_NS)
    instruments = market.instruments()
    assert [i.symbol for i in instruments][:9] == REAL_FUTURES
    synthetic = instruments[9:]
    assert [i.symbol for i in synthetic] == [f"wr{n:05d}" for n in range(1000)]
    assert all(i.market == "SHFE" and i.kind is InstrumentKind.FUTURE for i in synthetic)
    assert all(is_on_tick(i, market.quote("SHFE", i.symbol).last) for i in synthetic)
    assert len({i.ref_price for i in synthetic}) == 1000  # each walks its own path


def test_environment_and_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTP_SIM_SYNTHETIC_FUTURES", "7")
    assert parse_args([]).synthetic_futures == 7
    for bad in ("-1", str(MAX_SYNTHETIC_FUTURES + 1)):
        with pytest.raises(SystemExit):
            parse_args(["--synthetic-futures", bad])


@pytest.fixture
def synthetic_front(tmp_path: Path) -> Iterator[CtpFront]:
    front = CtpFront(tmp_path / "state", "--synthetic-futures", "3").start()
    try:
        yield front
    finally:
        front.stop()


def test_synthetic_futures_push_depth(synthetic_front: CtpFront, tmp_path: Path) -> None:
    api, spi, login = start_md(synthetic_front.md, tmp_path / "md")
    try:
        assert login.args[1]["ErrorID"] == 0
        assert api.SubscribeMarketData([b"wr00000", b"wr00002"], 2) == 0
        for symbol in ("wr00000", "wr00002"):
            depth = spi.rec.wait("OnRtnDepthMarketData", lambda e, s=symbol: e.args[0]["InstrumentID"] == s)
            assert depth.args[0]["LastPrice"] > 0
            assert depth.args[0]["AskPrice5"] > depth.args[0]["AskPrice1"]  # SHFE depth: five levels
    finally:
        api.Release()


def test_synthetic_futures_are_listed_by_the_instrument_query(synthetic_front: CtpFront, tmp_path: Path) -> None:
    api, spi = start_trader(synthetic_front.td, tmp_path / "flow")
    try:
        spi.rec.wait("OnFrontConnected")
        log_in(api, spi)
        send_query(lambda: api.ReqQryInstrument(td_mod.CThostFtdcQryInstrumentField(), 9))
        listed: dict[str, str] = {}
        while True:
            rsp = spi.rec.wait("OnRspQryInstrument")
            listed[rsp.args[0]["InstrumentID"]] = rsp.args[0]["ExchangeID"]
            if rsp.args[3]:
                break
        assert sorted(listed) == sorted([*REAL_FUTURES, "wr00000", "wr00001", "wr00002"])
        assert {listed[f"wr0000{n}"] for n in range(3)} == {"SHFE"}
    finally:
        api.Release()
