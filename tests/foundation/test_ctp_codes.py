"""The CTP kit's vocabulary checked against openctp-ctp, which we did not write.

Every code in ``tradebus.ctp.codes`` must be the openctp-ctp ``THOST_FTDC_*`` constant of the same
name (CTP's CamelCase name in UPPER_SNAKE), every code a mapping table reads or writes must be one of
them, and every generated inverse must be the exact inverse of its forward table.
"""

from __future__ import annotations

import re
from types import ModuleType

import pytest

from tradebus.ctp import codes, exchanges, ids, import_ctp_modules, mapping
from tradebus.ctp import time as ctp_time
from tradebus.schemas.orders import Offset, OrderStatus, OrderType, Side, TimeInForce
from tradebus.tables import inverse


@pytest.fixture(scope="module")
def td() -> ModuleType:
    return import_ctp_modules()[1]


def _snake(camel: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", camel).upper()


def _thost_codes(td: ModuleType, prefix: str) -> dict[str, object]:
    return {_snake(name[len(prefix):]): getattr(td, name) for name in dir(td) if name.startswith(prefix)}


@pytest.mark.parametrize("code_set", codes.CODE_SETS, ids=lambda c: c.__name__)
def test_every_code_is_the_openctp_constant_of_the_same_name(td: ModuleType, code_set: type[codes.CodeSet]) -> None:
    real = _thost_codes(td, code_set.PREFIX)
    assert real, f"openctp-ctp has no constants starting {code_set.PREFIX}"
    ours = code_set.members()
    assert ours
    assert {name: real.get(name) for name in ours} == ours


def test_the_order_field_sets_are_complete(td: ModuleType) -> None:
    # The fields whose every code a report may carry are listed in full, so no code reads as unknown.
    for code_set in (codes.Direction, codes.OffsetFlag, codes.TimeCondition, codes.VolumeCondition,
                     codes.OrderStatus, codes.OrderSubmitStatus, codes.PosiDirection, codes.ResumeType):
        assert code_set.members() == _thost_codes(td, code_set.PREFIX), code_set.__name__


def _all_codes(td: ModuleType, code_set: type[codes.CodeSet]) -> set[object]:
    return set(_thost_codes(td, code_set.PREFIX).values())


def test_mapping_tables_use_only_real_codes(td: ModuleType) -> None:
    assert set(mapping.DIRECTION) <= _all_codes(td, codes.Direction)
    assert set(mapping.OFFSET_READ) <= _all_codes(td, codes.OffsetFlag)
    assert set(mapping.PRICE_TYPE) <= _all_codes(td, codes.OrderPriceType)
    for time_condition, volume_condition in mapping.TIME_IN_FORCE:
        assert time_condition in _all_codes(td, codes.TimeCondition)
        assert volume_condition in _all_codes(td, codes.VolumeCondition)
    assert set(mapping.ORDER_STATUS_READ) <= _all_codes(td, codes.OrderStatus)
    assert set(mapping.POSITION_SIDE) <= _all_codes(td, codes.PosiDirection)
    assert set(codes.STATUS_MSG) <= _all_codes(td, codes.OrderStatus)


@pytest.mark.parametrize(("forward", "back"), [
    (mapping.DIRECTION, mapping.DIRECTION_OF),
    (mapping.OFFSET, mapping.OFFSET_OF),
    (mapping.PRICE_TYPE, mapping.PRICE_TYPE_OF),
    (mapping.TIME_IN_FORCE, mapping.TIME_IN_FORCE_OF),
    (mapping.ORDER_KIND, mapping.ORDER_KIND_OF),
    (mapping.ORDER_STATUS, mapping.ORDER_STATUS_OF),
    (mapping.POSITION_SIDE, mapping.POSITION_SIDE_OF),
])
def test_inverses_are_exact(forward: dict[object, object], back: dict[object, object]) -> None:
    assert len(back) == len(forward)
    assert all(forward[back[value]] == value for value in back)
    assert all(back[forward[code]] == code for code in forward)


def test_inverse_refuses_a_table_that_is_not_one_to_one() -> None:
    with pytest.raises(ValueError):
        inverse({"1": Offset.CLOSE, "2": Offset.CLOSE})


def test_aliases_only_read_and_never_shadow_a_forward_code() -> None:
    assert not set(mapping.OFFSET_ALIASES) & set(mapping.OFFSET)
    assert not set(mapping.ORDER_STATUS_ALIASES) & set(mapping.ORDER_STATUS)
    assert set(mapping.OFFSET_ALIASES.values()) == {Offset.CLOSE}


def test_every_bus_status_has_a_ctp_code_to_show() -> None:
    for status in OrderStatus:
        assert mapping.ctp_status(status) in mapping.ORDER_STATUS
    assert mapping.ctp_status(OrderStatus.FILLED) == codes.OrderStatus.ALL_TRADED
    assert mapping.ctp_status(OrderStatus.REJECTED) == codes.OrderStatus.CANCELED


def test_order_status_reads_an_exchange_refusal_as_rejected() -> None:
    canceled, rejected = codes.OrderStatus.CANCELED, codes.OrderSubmitStatus.INSERT_REJECTED
    assert mapping.order_status(canceled, rejected) is OrderStatus.REJECTED
    assert mapping.order_status(canceled, codes.OrderSubmitStatus.ACCEPTED) is OrderStatus.CANCELLED
    assert mapping.order_status("z", "0") is None


def test_order_kinds() -> None:
    limit_fak = (codes.OrderPriceType.LIMIT_PRICE, codes.TimeCondition.IOC, codes.VolumeCondition.AV)
    assert mapping.ctp_order_kind(OrderType.LIMIT, TimeInForce.IOC) == limit_fak
    market = mapping.ctp_order_kind(OrderType.MARKET, TimeInForce.DAY)
    assert market == (codes.OrderPriceType.ANY_PRICE, codes.TimeCondition.IOC, codes.VolumeCondition.AV)
    assert mapping.ctp_order_kind(OrderType.MARKET, TimeInForce.FOK) is None
    assert mapping.DIRECTION_OF[Side.SELL] == "1"


def test_position_effect_follows_the_exchange() -> None:
    close, today = codes.OffsetFlag.CLOSE, codes.OffsetFlag.CLOSE_TODAY
    assert mapping.position_effect("SHFE", close) is Offset.CLOSE_YESTERDAY
    assert mapping.position_effect("SHFE", today) is Offset.CLOSE_TODAY
    assert mapping.position_effect("DCE", today) is Offset.CLOSE
    assert mapping.position_effect("DCE", codes.OffsetFlag.OPEN) is Offset.OPEN
    assert mapping.position_effect("DCE", codes.OffsetFlag.FORCE_CLOSE) is None  # never sent by a client


def test_disconnect_reasons_are_the_ones_openctp_documents(td: ModuleType) -> None:
    doc = td.CThostFtdcTraderSpi.OnFrontDisconnected.__doc__ or ""
    documented = {int(code, 16) for code in re.findall(r"0x[0-9a-fA-F]{4}", doc)}
    assert documented == set(codes.DISCONNECT_REASONS)
    assert codes.disconnect_text(0x2001) == "front disconnected: heartbeat timeout (0x2001)"
    assert codes.disconnect_text(7) == "front disconnected: reason (0x7)"


def test_ids_are_padded_to_the_width_of_the_order_ref_field(td: ModuleType) -> None:
    # SWIG refuses text longer than the C array, whose last byte is the terminator.
    order = td.CThostFtdcOrderField()
    order.OrderRef = order.OrderLocalID = order.OrderSysID = ids.padded(1187)
    with pytest.raises(TypeError):
        order.OrderRef = "x" * (ids.ID_WIDTH + 1)
    with pytest.raises(TypeError):
        order.OrderLocalID = "x" * (ids.ID_WIDTH + 1)
    assert ids.padded(1187) == "        1187" and ids.ref_number(ids.padded(1187)) == 1187
    assert ids.ref_number("ab") is None
    assert ids.parse_order_key(ids.order_key(1, -5, 42)) == (1, -5, 42)
    assert ids.parse_order_key("1:2") is None and ids.parse_order_key(None) is None


def test_exchange_quirks_name_only_known_exchanges() -> None:
    known = set(exchanges.CTP_EXCHANGES)
    assert set(exchanges.EXCHANGE_NAMES) == known
    for quirk in (exchanges.CLOSE_TODAY_EXCHANGES, exchanges.FIVE_LEVEL_EXCHANGES,
                  exchanges.NO_MARKET_ORDER_EXCHANGES, exchanges.AVERAGE_PRICE_PER_UNIT,
                  exchanges.ACTION_DAY_IS_TRADING_DAY, exchanges.TRADING_DAY_IS_CALENDAR_DAY,
                  exchanges.ONE_DIGIT_YEAR_EXCHANGES):
        assert quirk <= known


def test_beijing_time_is_utc_plus_8_all_year() -> None:
    winter = ctp_time.beijing_ns("20250115", "09:00:00")
    summer = ctp_time.beijing_ns("20250715", "09:00:00", 500)
    assert winter == 1736902800 * 10**9  # 2025-01-15T01:00:00Z
    assert summer == 1752541200 * 10**9 + 500_000_000  # 2025-07-15T01:00:00Z
    assert ctp_time.calendar_day(winter) == "20250115" and ctp_time.clock_time(winter) == "09:00:00"
    assert ctp_time.millis(summer) == 500
    assert ctp_time.beijing_ns_or_none("", "09:00:00") is None
    assert ctp_time.valid_day("20250229") is False and ctp_time.valid_day("20240229") is True
    late = ctp_time.beijing_ns("20251121", "23:59:00")
    assert ctp_time.nearest_day("00:00:30", late) == "20251122"
    assert ctp_time.nearest_day("23:58:00", late) == "20251121"


def test_nearest_day_at_the_twelve_hour_edges_and_across_a_year_end() -> None:
    noon = ctp_time.beijing_ns("20251231", "12:00:00")
    assert ctp_time.nearest_day("00:00:00", noon) == "20251231"  # exactly 12 h behind: still today
    assert ctp_time.nearest_day("00:00:00", noon + 1) == "20260101"  # a nanosecond later: tomorrow's is nearer
    assert ctp_time.nearest_day("23:59:59", noon) == "20251231"
    assert ctp_time.nearest_day("00:00:00", noon - 1) == "20251231"
    small_hours = ctp_time.beijing_ns("20260101", "00:10:00")
    assert ctp_time.nearest_day("23:55:00", small_hours) == "20251231"  # a late push of the old year
    assert ctp_time.nearest_day("12:10:00", small_hours) == "20260101"  # exactly 12 h ahead: still today
    assert ctp_time.nearest_day("12:10:01", small_hours) == "20251231"
    for garbled in ("24:00:00", "10:61:00", "1:2", "ab:cd:ef"):
        with pytest.raises(ValueError):
            ctp_time.nearest_day(garbled, noon)
