"""The route table as the one registry of requests, and the webctp reading of the shared OrderDesk's refusals."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from tradebus.ctp.codes import ActionFlag
from ws_edge.envelope import CTP_TEXT
from ws_edge.order_desk import ALREADY_SENT, ORDER_NOT_ACTIVE, ORDER_NOT_FOUND, UNKNOWN_ACCOUNT, UNKNOWN_INSTRUMENT
from ws_edge.orders import OrderFieldError, action_change
from ws_edge.replies import refusal_info
from ws_edge.routes import MD_ROUTES, TD_KNOWN_UNROUTED, TD_ROUTES
from ws_edge.server import SESSIONS

WS_EDGE = Path(__file__).resolve().parents[2] / "services" / "ws_edge"
ROUTES_FILE = WS_EDGE / "routes.py"


def test_every_row_has_an_async_handler_and_a_reply() -> None:
    for name, route in {**TD_ROUTES, **MD_ROUTES}.items():
        assert inspect.iscoroutinefunction(route.handler), name
        assert route.rsp_type.startswith("Rsp") and route.rsp_key, name
    assert len(TD_ROUTES) == 22  # the login and the 21 routed requests (docs/ws_edge.md, 'Trading requests')
    assert not set(TD_ROUTES) & TD_KNOWN_UNROUTED
    assert [n for n, r in TD_ROUTES.items() if not r.needs_login] == ["ReqUserLogin"]
    assert [n for n, r in MD_ROUTES.items() if not r.needs_login] == ["ReqUserLogin"]


def test_refused_call_names_come_from_the_table() -> None:
    for kind, (session_class, table) in SESSIONS.items():
        session = session_class.__new__(session_class)  # rsp_name reads only the session's table
        session.table = table
        assert table.routes is {"td": TD_ROUTES, "md": MD_ROUTES}[kind]
        for name, route in table.routes.items():
            assert session.rsp_name(name) == route.rsp_type
        assert session.rsp_name("ReqNope") == "ReqNope"


def _string_constants(path: Path) -> set[str]:
    return {node.value for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant)
            and isinstance(node.value, str)}


@pytest.mark.parametrize("path", sorted(p for p in WS_EDGE.rglob("*.py") if p != ROUTES_FILE), ids=str)
def test_no_module_but_the_table_spells_a_routed_request_or_its_reply(path: Path) -> None:
    names = {n for n in {**TD_ROUTES, **MD_ROUTES} if n != "ReqUserLogin"}  # also a body key of the login
    replies = {r.rsp_type for r in {**TD_ROUTES, **MD_ROUTES}.values()} - {"RspUserLogin"}
    found = _string_constants(path) & (names | replies)
    assert not found, f"{path.name} names {sorted(found)}: read them from ws_edge.routes"


@pytest.mark.parametrize(("code", "error_id"), [
    (UNKNOWN_INSTRUMENT, 16), (UNKNOWN_ACCOUNT, 13), (ORDER_NOT_FOUND, 25), (ORDER_NOT_ACTIVE, 26),
    (ALREADY_SENT, 22), ("duplicate", 22), ("not_allowed", 9), ("insufficient_margin", 31),
])
def test_desk_refusals_are_ctp_errors_with_the_fronts_text(code: str, error_id: int) -> None:
    assert refusal_info(code, "a sentence for a person") == {"ErrorID": error_id, "ErrorMsg": CTP_TEXT[error_id]}


def test_venue_error_ids_pass_through_and_unknown_codes_are_15() -> None:
    assert refusal_info("42", "CTP:结算结果未确认") == {"ErrorID": 42, "ErrorMsg": "CTP:结算结果未确认"}
    assert refusal_info("price_off_tick", "price 1.3 is off the tick") == {
        "ErrorID": 15, "ErrorMsg": "CTP:price 1.3 is off the tick"}


def test_order_action_reads_cancel_and_modify() -> None:
    assert action_change({}) is None
    assert action_change({"ActionFlag": ActionFlag.DELETE, "LimitPrice": 5.0}) is None
    assert action_change({"ActionFlag": ActionFlag.MODIFY, "LimitPrice": 3001.0}) == (3001.0, None)
    assert action_change({"ActionFlag": ActionFlag.MODIFY, "VolumeChange": 4}) == (None, 4)
    for bad in ({"ActionFlag": "9"}, {"ActionFlag": ActionFlag.MODIFY, "VolumeChange": -1},
                {"ActionFlag": ActionFlag.MODIFY, "LimitPrice": -2.0}):
        with pytest.raises(OrderFieldError):
            action_change(bad)
