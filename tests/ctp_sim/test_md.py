"""Market data through the md double: login, subscribe, depth pushes filled as CTP fills them."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from ctp_front import CtpFront
from ctpsim_helpers import MdSpi, md_mod, start_md

from tradebus.ctp.structs import DBL_MAX

MULTIPLIER = {"rb2601": 10, "TA601": 5}


@pytest.fixture
def md(front: CtpFront, tmp_path: Path) -> Iterator[tuple[object, MdSpi]]:
    api, spi, rsp = start_md(front.md, tmp_path / "md")
    try:
        assert rsp.args[1]["ErrorID"] == 0 and rsp.args[1]["ErrorMsg"] == "CTP:No Error"
        assert rsp.args[0]["TradingDay"] == front.trading_day
        yield api, spi
    finally:
        api.Release()


def _depth(spi: MdSpi, symbol: str, after_volume: int = -1) -> dict:
    event = spi.rec.wait("OnRtnDepthMarketData", lambda e: e.args[0]["InstrumentID"] == symbol
                         and e.args[0]["Volume"] > after_volume)
    assert event.types[0] is md_mod.CThostFtdcDepthMarketDataField
    assert event.thread.startswith("ctp-sim-md")
    return event.args[0]


def test_subscribe_answers_each_instrument(md: tuple) -> None:
    api, spi = md
    assert api.SubscribeMarketData([b"rb2601", b"TA601", b"xx9999"], 3) == 0
    rsps = [spi.rec.wait("OnRspSubMarketData") for _ in range(3)]
    assert [r.args[0]["InstrumentID"] for r in rsps] == ["rb2601", "TA601", "xx9999"]
    assert [r.args[3] for r in rsps] == [False, False, True]
    assert all(r.args[1]["ErrorID"] == 0 for r in rsps)


def test_depth_fields_like_ctp(md: tuple, front: CtpFront) -> None:
    api, spi = md
    assert api.SubscribeMarketData([b"rb2601", b"TA601"], 2) == 0
    first = _depth(spi, "rb2601")
    later = _depth(spi, "rb2601", after_volume=0)  # a push after some volume traded
    assert later["UpdateTime"] >= first["UpdateTime"] or later["TradingDay"] != later["ActionDay"]
    for tick in (first, later):
        assert tick["TradingDay"] == front.trading_day
        assert tick["ExchangeID"] == ""  # real md fronts leave it empty
        assert tick["UpdateMillisec"] in (0, 500)
        assert len(tick["UpdateTime"]) == 8 and len(tick["ActionDay"]) == 8
        assert tick["SettlementPrice"] == DBL_MAX and tick["ClosePrice"] == DBL_MAX
        assert tick["LowerLimitPrice"] < tick["BidPrice1"] < tick["AskPrice1"] < tick["UpperLimitPrice"]
        # SHFE fronts carry five levels
        assert all(tick[f"BidVolume{i}"] > 0 and tick[f"AskVolume{i}"] > 0 for i in range(1, 6))
        assert tick["BidPrice5"] < tick["BidPrice1"] and tick["AskPrice5"] > tick["AskPrice1"]
    assert later["AveragePrice"] == pytest.approx(later["Turnover"] / later["Volume"])
    assert later["AveragePrice"] / MULTIPLIER["rb2601"] == pytest.approx(later["LastPrice"], rel=0.05)

    czce = _depth(spi, "TA601", after_volume=0)
    assert czce["BidVolume1"] > 0 and czce["AskVolume1"] > 0
    # CZCE: level 1 only, and AveragePrice per unit (no multiplier)
    assert all(czce[f"BidPrice{i}"] == DBL_MAX and czce[f"BidVolume{i}"] == 0 for i in range(2, 6))
    assert czce["AveragePrice"] == pytest.approx(czce["Turnover"] / czce["Volume"] / MULTIPLIER["TA601"])


def test_unsubscribe_stops_pushes(md: tuple) -> None:
    api, spi = md
    assert api.SubscribeMarketData([b"m2601"], 1) == 0
    _depth(spi, "m2601")
    assert api.UnSubscribeMarketData([b"m2601"], 1) == 0
    spi.rec.wait("OnRspUnSubMarketData")
    # The unsubscribe answer is ordered after every push sent before it; after it, nothing more.
    assert api.SubscribeMarketData([b"i2601"], 1) == 0
    for _ in range(3):
        _depth(spi, "i2601")
    names = [e.args[0]["InstrumentID"] for e in spi.rec.drain() if e.name == "OnRtnDepthMarketData"]
    cut = max(i for i, e in enumerate(spi.rec.seen) if e.name == "OnRspUnSubMarketData")
    after = [e for e in spi.rec.seen[cut:] if e.name == "OnRtnDepthMarketData"]
    assert "m2601" in names
    assert all(e.args[0]["InstrumentID"] == "i2601" for e in after)


def test_each_market_step_is_pushed_once(md: tuple) -> None:
    """A quote reaches a subscriber once: the book is redrawn every step, so twins mean a double publish."""
    api, spi = md
    assert api.SubscribeMarketData([b"rb2601"], 1) == 0
    pushes = [_depth(spi, "rb2601") for _ in range(12)]
    twins = [a for a, b in itertools.pairwise(pushes) if a == b]
    assert twins == []
