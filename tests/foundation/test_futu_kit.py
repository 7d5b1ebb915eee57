"""The Futu kit against futu-api itself: every word and number in ``tradebus.futu`` is one of futu-api's
constants, with the value futu-api gives it, and every generated inverse is exact."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tradebus.futu import markets, trade
from tradebus.futu.loader import import_futu
from tradebus.schemas.orders import OrderStatus
from tradebus.tables import inverse as generated_inverse


@pytest.fixture(scope="module")
def futu(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return import_futu(tmp_path_factory.mktemp("futu_home"))


def _values(futu: ModuleType, enum: str) -> dict[str, int]:
    """futu-api's own word → wire number table of one of its enums."""
    table: dict[str, int] = getattr(futu, enum)().load_dic()
    return table


def _pb_enum(module: str, enum: str) -> Any:
    __import__(f"futu.common.pb.{module}")
    return getattr(sys.modules[f"futu.common.pb.{module}"], enum)


def test_the_loader_returns_the_one_futu_module(futu: ModuleType, tmp_path: Path) -> None:
    assert import_futu(tmp_path / "elsewhere") is futu is sys.modules["futu"]
    assert not (tmp_path / "elsewhere").exists()  # a second call neither imports nor creates anything


def test_trade_words_are_futu_constants(futu: ModuleType) -> None:
    sides = _values(futu, "TrdSide")
    assert set(trade.SIDE_TO_FUTU.values()) | set(trade.FUTU_TO_SIDE) <= set(sides)
    assert set(trade.ORDER_TYPE_TO_FUTU.values()) <= set(_values(futu, "OrderType"))
    assert set(trade.TIF_TO_FUTU.values()) <= set(_values(futu, "TimeInForce"))
    assert {trade.ENV_REAL, trade.ENV_SIMULATE} == set(_values(futu, "TrdEnv"))
    assert (trade.ENV_REAL, trade.ENV_SIMULATE) == (futu.TrdEnv.REAL, futu.TrdEnv.SIMULATE)
    assert trade.NONE == futu.OrderStatus.NONE == futu.TrdSide.NONE
    assert trade.DEAL_OK - {trade.NONE} <= set(_values(futu, "DealStatus"))


def test_every_futu_order_status_is_mapped(futu: ModuleType) -> None:
    assert set(trade.FUTU_TO_STATUS) == set(_values(futu, "OrderStatus"))
    assert trade.status_of("SOMETHING_NEWER") is OrderStatus.UNKNOWN


@pytest.mark.parametrize(("ours", "enum"), [
    (trade.TRD_ENV_WIRE, "TrdEnv"), (trade.TRD_SIDE_WIRE, "TrdSide"), (trade.ORDER_TYPE_WIRE, "OrderType"),
    (trade.ORDER_STATUS_WIRE, "OrderStatus"), (trade.MODIFY_OP_WIRE, "ModifyOrderOp"),
    (trade.TRD_CATEGORY_WIRE, "TrdCategory"), (markets.QOT_MARKET, "Market"), (markets.TRD_MARKET, "TrdMarket"),
])
def test_wire_numbers_are_the_ones_futu_api_sends(futu: ModuleType, ours: dict[str, int], enum: str) -> None:
    theirs = _values(futu, enum)
    assert {word: theirs.get(word) for word in ours} == ours


def test_security_markets_match_opend_protobuf() -> None:
    sec_market = _pb_enum("Trd_Common_pb2", "TrdSecMarket")
    assert markets.TRD_SEC_MARKET == {"HK": sec_market.Value("TrdSecMarket_HK"),
                                      "US": sec_market.Value("TrdSecMarket_US")}


def test_inverses_are_exact() -> None:
    for table, inverse in [(markets.QOT_MARKET, markets.QOT_MARKET_TO_EXCHANGE),
                           (markets.TRD_MARKET, markets.TRD_MARKET_TO_EXCHANGE),
                           (markets.TRD_SEC_MARKET, markets.TRD_SEC_MARKET_TO_EXCHANGE),
                           (trade.ORDER_TYPE_TO_FUTU, trade.FUTU_TO_ORDER_TYPE),
                           (trade.TIF_TO_FUTU, trade.FUTU_TO_TIF)]:
        assert {v: k for k, v in table.items()} == inverse
    assert {trade.FUTU_TO_SIDE[word] for word in trade.SIDE_TO_FUTU.values()} == set(trade.SIDE_TO_FUTU)
    with pytest.raises(ValueError, match="one-to-one"):
        generated_inverse({"a": 1, "b": 1})


def test_codes_and_time_zones(futu: ModuleType) -> None:
    assert markets.split_code("HK.00700") == ("HK", "00700")
    assert markets.split_code("US.BRK.B") == ("US", "BRK.B")
    assert markets.join_code(*markets.split_code("US.BRK.B")) == "US.BRK.B"
    assert set(markets.QUOTE_MARKETS) <= set(_values(futu, "Market"))
    assert set(markets.TRADE_MARKETS) <= set(_values(futu, "TrdMarket"))
    assert set(markets.MARKET_TZ) == set(markets.QUOTE_MARKETS)
    assert str(markets.HK_TZ) == "Asia/Hong_Kong"
