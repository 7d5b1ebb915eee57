"""Connect, authenticate, log in, confirm the settlement: CTP's answers through the real SPI."""

from __future__ import annotations

from pathlib import Path

from ctp_front import CtpFront
from ctpsim_helpers import BROKER, USER, Trader, auth_field, login_field, start_trader, td_mod


def test_login_fills_front_session_and_order_ref(front: CtpFront, trader: Trader) -> None:
    login = trader.login
    assert login["FrontID"] == 1
    assert login["SessionID"] != 0
    assert int(login["MaxOrderRef"]) >= 1
    assert login["TradingDay"] == front.trading_day == trader.api.GetTradingDay()
    assert login["BrokerID"] == BROKER and login["UserID"] == USER
    connected = trader.spi.rec.seen[0]
    assert connected.name == "OnFrontConnected"
    # Callbacks run on the api's own thread, with real openctp-ctp structs, like the native library.
    assert connected.thread.startswith("ctp-sim-td")
    rsp = next(e for e in trader.spi.rec.seen if e.name == "OnRspUserLogin")
    assert rsp.types[0] is td_mod.CThostFtdcRspUserLoginField
    assert rsp.types[1] is td_mod.CThostFtdcRspInfoField
    assert rsp.args[1]["ErrorMsg"] == "CTP:正确"
    assert rsp.args[2:] == (2, True)


def test_two_sessions_get_different_session_ids(front: CtpFront, trader: Trader, tmp_path: Path) -> None:
    api, spi = start_trader(front.td, tmp_path / "second")
    try:
        spi.rec.wait("OnFrontConnected")
        assert api.ReqAuthenticate(auth_field(), 1) == 0
        spi.rec.wait("OnRspAuthenticate")
        assert api.ReqUserLogin(login_field(), 2) == 0
        login = spi.rec.wait("OnRspUserLogin").args[0]
        assert login["SessionID"] != trader.login["SessionID"]
        assert login["FrontID"] == trader.login["FrontID"]
    finally:
        api.Release()


def test_wrong_password_and_missing_authentication(front: CtpFront, tmp_path: Path) -> None:
    api, spi = start_trader(front.td, tmp_path / "flow")
    try:
        spi.rec.wait("OnFrontConnected")
        # Login before ReqAuthenticate: the front requires terminal authentication.
        assert api.ReqUserLogin(login_field(), 1) == 0
        rsp = spi.rec.wait("OnRspUserLogin")
        assert rsp.args[0] is None
        assert (rsp.args[1]["ErrorID"], rsp.args[1]["ErrorMsg"]) == (63, "CTP:客户端认证失败")

        assert api.ReqAuthenticate(auth_field(auth_code="wrong"), 2) == 0
        auth = spi.rec.wait("OnRspAuthenticate")
        assert auth.args[1]["ErrorID"] == 63

        assert api.ReqAuthenticate(auth_field(), 3) == 0
        assert spi.rec.wait("OnRspAuthenticate").args[1]["ErrorID"] == 0
        assert api.ReqUserLogin(login_field(password="nope"), 4) == 0
        bad = spi.rec.wait("OnRspUserLogin")
        assert (bad.args[1]["ErrorID"], bad.args[1]["ErrorMsg"]) == (3, "CTP:不合法的登录")
        assert api.GetTradingDay() == front.trading_day  # known from the connection already
    finally:
        api.Release()


def test_order_before_settlement_confirm_is_refused(front: CtpFront, tmp_path: Path) -> None:
    from ctpsim_helpers import log_in, order_field

    api, spi = start_trader(front.td, tmp_path / "flow")
    try:
        spi.rec.wait("OnFrontConnected")
        log_in(api, spi)
        assert api.ReqOrderInsert(order_field("rb2601", "SHFE", "0", 3000.0, 1, "5"), 9) == 0
        rsp = spi.rec.wait("OnRspOrderInsert")
        assert (rsp.args[1]["ErrorID"], rsp.args[1]["ErrorMsg"]) == (42, "CTP:结算结果未确认")
        assert rsp.args[0]["OrderRef"] == "5" and rsp.args[2] == 9
    finally:
        api.Release()
