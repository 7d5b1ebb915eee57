from __future__ import annotations

from tradebus.ids import new_client_order_id, order_event_id, venue_trade_key
from tradebus.subjects import TOKEN_RE


def test_order_event_id_is_a_pure_function_of_its_inputs() -> None:
    a = order_event_id("ctp", "000001", "O-1", "OrderFilled", "ctp:SHFE:12345")
    assert a == order_event_id("ctp", "000001", "O-1", "OrderFilled", "ctp:SHFE:12345")
    assert a.startswith("OrderFilled-")
    assert a != order_event_id("ctp", "000001", "O-1", "OrderFilled", "ctp:SHFE:12346")
    assert a != order_event_id("ctp", "000002", "O-1", "OrderFilled", "ctp:SHFE:12345")
    # Fields are separated, so shifting characters between them cannot collide.
    assert order_event_id("ctp", "ab", "c", "K") != order_event_id("ctp", "a", "bc", "K")


def test_venue_trade_key_strips_ctp_padding() -> None:
    assert venue_trade_key("ctp", "SHFE", "       12345") == "ctp:SHFE:12345"
    assert venue_trade_key("futu", "7890") == "futu:7890"


def test_new_client_order_ids_are_unique_and_subject_safe() -> None:
    ids = {new_client_order_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(TOKEN_RE.match(i) for i in ids)
