"""The Futu tables cover every futu-api constant, and the error classifier knows futu's transport texts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "opend_sim"))

from api_conftest import futu

from td_exec.futu_venue.sdk import is_transport_failure
from tradebus.futu.markets import split_code
from tradebus.futu.trade import (
    FUTU_TO_ORDER_TYPE,
    FUTU_TO_SIDE,
    FUTU_TO_STATUS,
    ORDER_TYPE_TO_FUTU,
    SIDE_TO_FUTU,
    TIF_TO_FUTU,
    status_of,
)
from tradebus.schemas.orders import OrderStatus


def test_every_futu_order_status_has_a_mapping() -> None:
    futu_statuses = set(futu.OrderStatus().load_dic())
    assert futu_statuses == set(FUTU_TO_STATUS)


@pytest.mark.parametrize(("futu_status", "ours"), [
    ("TIMEOUT", OrderStatus.UNKNOWN), ("SUBMIT_FAILED", OrderStatus.REJECTED), ("FAILED", OrderStatus.REJECTED),
    ("SUBMITTED", OrderStatus.ACCEPTED), ("FILLED_PART", OrderStatus.PARTIALLY_FILLED),
    ("FILLED_ALL", OrderStatus.FILLED), ("CANCELLED_PART", OrderStatus.CANCELLED),
    ("CANCELLED_ALL", OrderStatus.CANCELLED), ("CANCELLING_ALL", OrderStatus.PENDING_CANCEL),
    ("DISABLED", OrderStatus.EXPIRED), ("DELETED", OrderStatus.CANCELLED),
])
def test_futu_status_maps_to_domain_status(futu_status: str, ours: OrderStatus) -> None:
    assert status_of(futu_status) is ours


def test_an_unknown_futu_status_is_unknown_never_terminal() -> None:
    assert status_of("SOMETHING_NEW") is OrderStatus.UNKNOWN


def test_side_type_and_tif_values_are_futu_constants_with_exact_inverses() -> None:
    assert set(SIDE_TO_FUTU.values()) <= set(futu.TrdSide().load_dic())
    assert set(FUTU_TO_SIDE) <= set(futu.TrdSide().load_dic())
    assert set(ORDER_TYPE_TO_FUTU.values()) <= set(futu.OrderType().load_dic())
    assert {v: k for k, v in ORDER_TYPE_TO_FUTU.items()} == FUTU_TO_ORDER_TYPE
    assert set(TIF_TO_FUTU.values()) <= set(futu.TimeInForce().load_dic())
    assert ORDER_TYPE_TO_FUTU[next(iter(FUTU_TO_ORDER_TYPE.values()))] in {futu.OrderType.NORMAL, futu.OrderType.MARKET}


def test_codes_split_on_the_first_dot_only() -> None:
    assert split_code("HK.00700") == ("HK", "00700")
    assert split_code("US.BRK.B") == ("US", "BRK.B")


def test_transport_failures_are_told_apart_from_opend_refusals() -> None:
    from futu.common.err import Err

    for err in (Err.ConnectionLost, Err.Timeout, Err.NotConnected, Err.ConnectionClosed):
        assert is_transport_failure(err.text)
    assert is_transport_failure("Disconnect")
    assert not is_transport_failure("The price does not conform to the spread table (price 1.001)")
