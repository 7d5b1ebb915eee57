"""Pure pieces: the trading-day calendar, DCE's ActionDay, GB18030 text in real structs."""

from __future__ import annotations

import ctypes
from datetime import datetime
from pathlib import Path

import pytest
from ctpsim_helpers import md_mod, td_mod

from ctp_sim import clock, fields
from tradebus.ctp.mapping import position_effect as offset_to_sim
from tradebus.ctp.structs import (
    _packer,
    _unpacking_reader,
    _verified_text_field,
    field_names,
    make_struct,
    struct_reader,
)
from tradebus.ctp.time import BEIJING
from tradebus.sim import default_instruments


def _ns(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=BEIJING).timestamp() * 1e9)


@pytest.mark.parametrize(
    ("beijing", "trading_day"),
    [
        ("2025-12-10 10:00", "20251210"),  # Wednesday day session
        ("2025-12-10 21:30", "20251211"),  # Wednesday night trades for Thursday
        ("2025-12-11 01:30", "20251211"),  # after midnight, still Thursday's night session
        ("2025-12-12 21:30", "20251215"),  # Friday night trades for Monday
        ("2025-12-13 01:00", "20251215"),  # Saturday small hours: Friday's night session
        ("2025-12-14 12:00", "20251215"),  # Sunday
    ],
)
def test_trading_day(beijing: str, trading_day: str) -> None:
    assert clock.trading_day_of(_ns(beijing)) == trading_day


def test_dce_action_day_is_the_trading_day_at_night() -> None:
    insts = {i.symbol: i for i in default_instruments()}
    night = _ns("2025-12-10 21:30")
    assert fields.action_day(insts["m2601"], night, "20251211") == "20251211"
    assert fields.action_day(insts["rb2601"], night, "20251211") == "20251210"
    day = _ns("2025-12-11 10:00")
    assert fields.action_day(insts["m2601"], day, "20251211") == "20251211"


def test_czce_delivery_year_from_three_digits() -> None:
    assert fields.delivery("TA601", "20251210") == (2026, 1)
    assert fields.delivery("rb2601", "20251210") == (2026, 1)
    assert offset_to_sim("SHFE", "1") == offset_to_sim("SHFE", "4")
    assert offset_to_sim("DCE", "3") == offset_to_sim("DCE", "1")


def test_text_is_gb18030_inside_the_struct() -> None:
    info = make_struct(td_mod, "CThostFtdcRspInfoField", {"ErrorID": 31, "ErrorMsg": "CTP:资金不足"})
    assert info.ErrorMsg == "CTP:资金不足"  # openctp-ctp's getter decodes GB18030
    field = _verified_text_field(td_mod.CThostFtdcRspInfoField, "ErrorMsg")
    assert field is not None
    raw = ctypes.string_at(int(info.this) + field.offset)
    assert raw == "CTP:资金不足".encode("gb18030")


def test_every_field_kind_round_trips() -> None:
    body = {"InstrumentID": "rb2601", "AskPrice5": 1.7976931348623157e308, "UpdateMillisec": 500,
            "ActionDay": "20251211", "Volume": 12}
    depth = make_struct(md_mod, "CThostFtdcDepthMarketDataField", body)
    assert {k: getattr(depth, k) for k in body} == body
    order = make_struct(td_mod, "CThostFtdcOrderField", {"StatusMsg": "全部成交", "Direction": "0",
                                                         "SessionID": -952235321, "IPAddress": "1.2.3.4"})
    assert (order.StatusMsg, order.Direction, order.SessionID, order.IPAddress) == (
        "全部成交", "0", -952235321, "1.2.3.4")
    with pytest.raises(ValueError):
        make_struct(td_mod, "NotAStruct", {})


def _ctp_struct_classes() -> list[type]:
    return [getattr(mod, name) for mod in (md_mod, td_mod) for name in dir(mod)
            if name.startswith("CThostFtdc") and name.endswith("Field")]


def test_every_struct_is_filled_in_one_pack_with_the_setters_bytes() -> None:
    # make_struct packs a whole struct at once only where its bytes equal the SWIG setters' (checked
    # per class); every struct the library has must qualify, or the double falls back to the slow path.
    classes = _ctp_struct_classes()
    assert len(classes) > 300
    assert [c.__name__ for c in classes if _packer(c) is None] == []


def test_packed_struct_reads_back_like_a_filled_one() -> None:
    body = {"BrokerID": "9999", "InvestorID": "000001", "InstrumentID": "rb2601", "LimitPrice": 3512.5,
            "VolumeTotalOriginal": 3, "Direction": "1", "StatusMsg": "未成交还在队列中", "SessionID": -7,
            "NotAField": "ignored"}
    order = make_struct(td_mod, "CThostFtdcOrderField", body)
    expected = {k: v for k, v in body.items() if k != "NotAField"}
    assert {k: getattr(order, k) for k in expected} == expected
    assert order.OrderSysID == "" and order.VolumeTraded == 0 and order.FrontID == 0
    assert set(field_names(td_mod.CThostFtdcOrderField)) >= set(expected)


def test_a_struct_is_read_in_one_unpack_exactly_as_its_getters_read_it() -> None:
    depth_cls = md_mod.CThostFtdcDepthMarketDataField
    names = tuple(field_names(depth_cls))
    assert _unpacking_reader(depth_cls, names) is not None  # the fast path, for every field
    body = {
        "InstrumentID": "rb2601",
        "ExchangeID": "SHFE",
        "UpdateTime": "10:01:02",
        "UpdateMillisec": 500,
        "LastPrice": 3112.5,
        "AskPrice5": 1.7976931348623157e308,
        "BidPrice1": float("-inf"),
        "Volume": 7,
        "OpenInterest": 1.5e5,
        "ActionDay": "20251211",
    }
    depth = make_struct(md_mod, "CThostFtdcDepthMarketDataField", body)
    picked = ("UpdateMillisec", "InstrumentID", "AskPrice5", "Volume", "BidPrice1", "ExchangeID", "ActionDay")
    assert struct_reader(depth_cls, picked)(depth) == tuple(getattr(depth, n) for n in picked)
    assert struct_reader(depth_cls, ("Volume",))(depth) == (7,)
    # GB18030 text in the struct reads back as the getter decodes it, a field filled to its width too
    order_cls = td_mod.CThostFtdcOrderField
    order = make_struct(
        td_mod,
        "CThostFtdcOrderField",
        {"StatusMsg": "全部成交", "SessionID": -952235321, "OrderRef": "1" * 12, "LimitPrice": 3512.5},
    )
    picked = ("StatusMsg", "SessionID", "OrderRef", "LimitPrice", "OrderSysID")
    assert _unpacking_reader(order_cls, picked) is not None
    assert struct_reader(order_cls, picked)(order) == ("全部成交", -952235321, "1" * 12, 3512.5, "")
    # a single char (the getter's own reading) and an unknown name go field by field, same answer
    assert _unpacking_reader(order_cls, ("Direction",)) is None
    assert struct_reader(order_cls, ("Direction", "SessionID"))(order) == (order.Direction, -952235321)
    with pytest.raises(AttributeError):
        struct_reader(order_cls, ("NotAField",))(order)


def test_values_the_setters_refuse_are_still_refused() -> None:
    with pytest.raises(TypeError):  # 9 characters do not fit char[9] with its terminator
        make_struct(md_mod, "CThostFtdcDepthMarketDataField", {"ExchangeID": "X" * 9})
    with pytest.raises(TypeError):  # a single char
        make_struct(td_mod, "CThostFtdcOrderField", {"Direction": "01"})
    with pytest.raises(OverflowError):
        make_struct(td_mod, "CThostFtdcOrderField", {"SessionID": 1 << 40})


def test_a_new_trading_day_starts_fresh_but_keeps_ids_unique(tmp_path: Path) -> None:
    from ctp_sim import state
    from ctp_sim.config import FrontConfig
    from ctp_sim.server import open_day

    config = FrontConfig(state_dir=tmp_path)
    now = _ns("2025-12-10 10:00")
    day, market = open_day(config, now)
    assert day.trading_day == "20251210" and "000001" in market.accounts()
    day.flows["000001"] = [state.FlowItem(seq=1, kind="rtn", cb="OnRtnOrder", st="CThostFtdcOrderField", body={})]
    day.next("trade_id.SHFE")
    day.market = market.snapshot()
    state.save(tmp_path, day)

    same, _ = open_day(config, _ns("2025-12-10 14:00"))
    assert same.trading_day == "20251210" and len(same.flows["000001"]) == 1

    rolled, _ = open_day(config, _ns("2025-12-10 21:00"))
    assert rolled.trading_day == "20251211"
    assert rolled.flows == {} and rolled.orders == [] and rolled.confirmed == {}
    assert rolled.counters["trade_id.SHFE"] == 1
