"""/td/: every routed request type, envelope rules, order flow through the real td_exec (sim venue)."""

from __future__ import annotations

from typing import Any

import pytest
from ws_harness import PASSWORDS, Stack

from ws_edge.fields import INVESTOR_POSITION, ORDER, TD_LOGIN, TRADE_QRY, TRADE_RTN, TRADING_ACCOUNT
from ws_edge.routes import TD_ROUTES

FUT = {"BrokerID": "9999", "InvestorID": "SIM-FUT", "ExchangeID": "SHFE", "InstrumentID": "rb2601",
       "OrderPriceType": "2", "Direction": "0", "CombOffsetFlag": "0", "CombHedgeFlag": "1",
       "VolumeTotalOriginal": 2, "TimeCondition": "3", "VolumeCondition": "1", "ContingentCondition": "1",
       "ForceCloseReason": "0", "IsAutoSuspend": 0, "IsSwapOrder": 0}


def insert(body: dict[str, Any], request_id: int = 0) -> dict[str, Any]:
    return {"MsgType": "ReqOrderInsert", "InputOrder": body, "RequestID": request_id}


async def test_td_login_13_fields_and_request_id_echo(stack: Stack) -> None:
    client = await stack.client("/td/")
    await client.send({"MsgType": "ReqUserLogin", "ReqUserLogin": {"UserID": "alice", "Password": PASSWORDS["alice"]},
                       "RequestID": 7})
    reply = await client.recv()
    assert list(reply) == ["MsgType", "RspInfo", "RequestID", "IsLast", "RspUserLogin"]
    assert reply["RequestID"] == 7 and reply["RspInfo"] == {"ErrorID": 0, "ErrorMsg": "CTP:正确"}
    assert tuple(reply["RspUserLogin"]) == TD_LOGIN and len(TD_LOGIN) == 13
    assert reply["RspUserLogin"]["FrontID"] == 1 and reply["RspUserLogin"]["SessionID"] > 0


async def test_errors_before_login_and_unrouted(stack: Stack) -> None:
    client = await stack.client("/td/")
    await client.send({"MsgType": "ReqQryOrder", "QryOrder": {}, "RequestID": 1})
    assert client.raw == [] and (await client.recv()) == {
        "MsgType": "ReqQryOrder", "RspInfo": {"ErrorID": -401, "ErrorMsg": "未登录"}}
    await client.send({"MsgType": "ReqQrySettlementInfo", "RequestID": 1})  # known to webctp, not routed
    assert (await client.recv())["RspInfo"]["ErrorID"] == -401
    await client.send({"MsgType": "ReqParkedOrderInsert", "RequestID": 1})  # not a request name at all
    assert client.raw[-1] and (await client.recv())["RspInfo"] == {"ErrorID": -404, "ErrorMsg": "Not implemented"}
    await client.send({"MsgType": "ReqUserLogin", "ReqUserLogin": {"UserID": "alice",
                                                                   "Password": PASSWORDS["alice"]}})  # no RequestID
    assert (await client.recv())["RspInfo"]["ErrorID"] == 0
    await client.send({"MsgType": "ReqQrySettlementInfo", "RequestID": 1})
    assert (await client.recv())["RspInfo"]["ErrorID"] == -404
    await client.send({"MsgType": "SubscribeMarketData", "InstrumentID": ["rb2601"]})  # an MD request on /td/
    assert (await client.recv())["RspInfo"]["ErrorID"] == -404


async def test_bad_input_gets_400_and_the_socket_stays_usable(stack: Stack) -> None:
    client = await stack.login()
    await client.send("{not json")
    assert client.raw and (await client.recv()) == {
        "MsgType": "", "RspInfo": {"ErrorID": -400, "ErrorMsg": "参数有误"},
        "Detail": "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"}
    await client.send("{}")
    assert (await client.recv())["RspInfo"]["ErrorID"] == -400
    await client.send("[1, 2]")
    assert (await client.recv())["RspInfo"]["ErrorID"] == -400
    await client.send(b"\x00\x01binary")
    assert (await client.recv())["RspInfo"]["ErrorID"] == -400
    await client.send("x" * 70_000)  # over the 64 KiB frame limit
    big = await client.recv()
    assert big["RspInfo"]["ErrorID"] == -400 and "exceeds" in big["Detail"]
    await client.send({"MsgType": "ReqQryOrder", "QryOrder": {}})  # no RequestID
    missing = await client.recv()
    assert missing["MsgType"] == "ReqQryOrder" and missing["RspInfo"]["ErrorID"] == -400
    assert missing["Detail"].startswith("1 validation error for WebCTPReqQryOrder\nRequestID\n  Field required")
    await client.send(insert({**FUT, "Direction": 0}, 3))  # a number where CTP has a char
    wrong = await client.recv()
    assert "InputOrder.Direction\n  Input should be a valid string [type=string_type" in wrong["Detail"]
    await client.send({"MsgType": "ReqQryOrder", "QryOrder": {}, "RequestID": 1.5})
    assert "int_from_float" in (await client.recv())["Detail"]
    await client.send({"MsgType": "ReqQryExchange", "QryExchange": {"ExchangeID": "SHFE"}, "RequestID": 4})
    assert (await client.recv())["Exchange"]["ExchangeName"] == "上海期货交易所"
    assert '"ExchangeName":"上海期货交易所"' in client.raw[-1]  # non-ASCII raw, compact


async def test_order_insert_fill_query_position_and_account(stack: Stack) -> None:
    client = await stack.login()
    await client.send(insert({**FUT, "LimitPrice": 3200.0}, 5))
    first, _ = await client.recv_until(lambda m: m["MsgType"] == "RtnOrder")
    assert list(first) == ["MsgType", "RspInfo", "Order"] and first["RspInfo"] is None
    assert tuple(first["Order"]) == ORDER and len(ORDER) == 63
    order = first["Order"]
    assert order["OrderStatus"] == "a" and order["OrderRef"] == "           1" and order["InvestorID"] == "SIM-FUT"
    trade, _ = await client.recv_until(lambda m: m["MsgType"] == "RtnTrade")
    assert tuple(trade["Trade"]) == TRADE_RTN and trade["Trade"]["Volume"] >= 1
    assert trade["Trade"]["InstrumentID"] == "rb2601" and trade["Trade"]["Direction"] == "0"
    done, _ = await client.recv_until(lambda m: m["MsgType"] == "RtnOrder" and m["Order"]["OrderStatus"] == "0")
    assert done["Order"]["VolumeTraded"] == 2 and done["Order"]["OrderSysID"].strip()
    assert len(done["Order"]["OrderSysID"]) >= 12  # right-aligned like CTP's

    await client.send({"MsgType": "ReqQryInvestorPosition", "QryInvestorPosition": {"BrokerID": "9999",
                       "InvestorID": "SIM-FUT", "ExchangeID": ""}, "RequestID": 9})
    positions = await client.stream("RspQryInvestorPosition")
    assert positions[-1]["IsLast"] is True and all(m["RequestID"] == 9 for m in positions)
    rb = [m["InvestorPosition"] for m in positions if m["InvestorPosition"]["InstrumentID"] == "rb2601"]
    assert tuple(rb[0]) == INVESTOR_POSITION and rb[0]["Position"] == 2 and rb[0]["PosiDirection"] == "2"

    await client.send({"MsgType": "ReqQryTradingAccount", "QryTradingAccount": {"InvestorID": "SIM-FUT"},
                       "RequestID": 0})
    accounts = await client.stream("RspQryTradingAccount")
    assert "RequestID" not in accounts[0] and tuple(accounts[0]["TradingAccount"]) == TRADING_ACCOUNT
    assert accounts[0]["TradingAccount"]["AccountID"] == "SIM-FUT"

    await client.send({"MsgType": "ReqQryTrade", "QryTrade": {"InvestorID": "SIM-FUT"}, "RequestID": 2})
    trades = await client.stream("RspQryTrade")
    assert tuple(trades[0]["Trade"]) == TRADE_QRY and trades[-1]["IsLast"] is True
    await client.send({"MsgType": "ReqQryOrder", "QryOrder": {"InvestorID": "SIM-FUT"}, "RequestID": 2})
    orders = await client.stream("RspQryOrder")
    assert [m["Order"]["OrderStatus"] for m in orders] == ["0"]


async def test_cancel_by_sys_id_and_by_session_triple_and_errors(stack: Stack) -> None:
    client = await stack.login()
    await client.send(insert({**FUT, "LimitPrice": 3000.0, "OrderRef": "10"}))
    resting, _ = await client.recv_until(lambda m: m["MsgType"] == "RtnOrder" and m["Order"]["OrderStatus"] == "3")
    order = resting["Order"]
    await client.send({"MsgType": "ReqOrderAction", "RequestID": 0, "InputOrderAction": {
        "BrokerID": "9999", "InvestorID": "SIM-FUT", "ExchangeID": "SHFE", "InstrumentID": "rb2601",
        "ActionFlag": "0", "OrderSysID": order["OrderSysID"]}})
    cancelled, _ = await client.recv_until(lambda m: m["MsgType"] == "RtnOrder" and m["Order"]["OrderStatus"] == "5")
    assert cancelled["Order"]["OrderRef"] == order["OrderRef"] == "          10"

    await client.send(insert({**FUT, "LimitPrice": 3001.0}))  # OrderRef left empty: the next one, 11
    second, _ = await client.recv_until(lambda m: m["MsgType"] == "RtnOrder" and m["Order"]["OrderStatus"] == "3")
    assert second["Order"]["OrderRef"] == "          11"
    await client.send({"MsgType": "ReqOrderAction", "RequestID": 0, "InputOrderAction": {
        "InvestorID": "SIM-FUT", "ActionFlag": "0", "FrontID": second["Order"]["FrontID"],
        "SessionID": second["Order"]["SessionID"], "OrderRef": second["Order"]["OrderRef"]}})
    await client.recv_until(lambda m: m["MsgType"] == "RtnOrder" and m["Order"]["OrderStatus"] == "5")

    await client.send({"MsgType": "ReqOrderAction", "RequestID": 6, "InputOrderAction": {
        "InvestorID": "SIM-FUT", "ActionFlag": "0", "OrderSysID": order["OrderSysID"], "ExchangeID": "SHFE"}})
    again = await client.recv()
    assert again["MsgType"] == "RspOrderAction" and again["RspInfo"]["ErrorID"] == 26 and again["RequestID"] == 6
    await client.send({"MsgType": "ReqOrderAction", "RequestID": 0, "InputOrderAction": {
        "ActionFlag": "0", "OrderSysID": "  99999999", "ExchangeID": "SHFE"}})
    assert (await client.recv())["RspInfo"] == {"ErrorID": 25, "ErrorMsg": "CTP:撤单找不到相应报单"}

    await client.send(insert({**FUT, "LimitPrice": 3001.0, "OrderRef": "11"}))  # a used OrderRef
    dup = await client.recv()
    assert dup["MsgType"] == "RspOrderInsert" and dup["RspInfo"]["ErrorID"] == 22 and dup["IsLast"] is True
    assert (await client.recv())["MsgType"] == "ErrRtnOrderInsert"


async def test_rejected_insert_gets_rsp_and_errrtn(stack: Stack) -> None:
    client = await stack.login()
    await client.send(insert({**FUT, "InstrumentID": "nosuch", "ExchangeID": "", "LimitPrice": 1.0}, 4))
    rsp = await client.recv()
    assert list(rsp) == ["MsgType", "RspInfo", "RequestID", "IsLast", "InputOrder"]
    assert rsp["RspInfo"] == {"ErrorID": 16, "ErrorMsg": "CTP:找不到合约"} and len(rsp["InputOrder"]) == 30
    err = await client.recv()
    assert list(err) == ["MsgType", "RspInfo", "InputOrder"] and err["MsgType"] == "ErrRtnOrderInsert"
    await client.send(insert({**FUT, "LimitPrice": 3200.0, "Direction": "9"}))
    assert (await client.recv())["RspInfo"]["ErrorID"] == 15


async def test_futu_instrument_order_and_queries(stack: Stack) -> None:
    client = await stack.login()
    body = {"InvestorID": "SIM-HK", "InstrumentID": "HK.00700", "ExchangeID": "HK", "OrderPriceType": "2",
            "Direction": "0", "CombOffsetFlag": "0", "VolumeTotalOriginal": 100, "LimitPrice": 610.0,
            "TimeCondition": "3", "VolumeCondition": "1"}
    await client.send(insert(body))
    done, _ = await client.recv_until(lambda m: m["MsgType"] == "RtnOrder" and m["Order"]["OrderStatus"] == "0")
    assert done["Order"]["InvestorID"] == "SIM-HK" and done["Order"]["InstrumentID"] == "HK.00700"
    assert done["Order"]["ExchangeID"] == "HK" and done["Order"]["ExchangeInstID"] == "00700"
    await client.send({"MsgType": "ReqQryInvestorPosition", "QryInvestorPosition": {
        "InvestorID": "SIM-HK", "InstrumentID": "HK.00700"}, "RequestID": 1})
    positions = await client.stream("RspQryInvestorPosition")
    assert [m["InvestorPosition"]["Position"] for m in positions] == [100]
    # without an InvestorID the query answers for the session's investor (alice's first account, SIM-FUT)
    await client.send({"MsgType": "ReqQryInvestorPosition", "QryInvestorPosition": {"InstrumentID": "HK.00700"},
                       "RequestID": 1})
    assert [m["InvestorPosition"] for m in await client.stream("RspQryInvestorPosition")] == [None]


@pytest.mark.parametrize("msg_type", sorted(set(TD_ROUTES) - {"ReqUserLogin", "ReqOrderInsert", "ReqOrderAction"}))
async def test_every_query_answers_with_its_rsp_type(stack: Stack, msg_type: str) -> None:
    client = await stack.login()
    route = TD_ROUTES[msg_type]
    body = {"InvestorID": "SIM-FUT", "InstrumentID": "rb2601"} if msg_type == "ReqQryMaxOrderVolume" else {}
    await client.send({"MsgType": msg_type, route.body_keys[0]: body, "RequestID": 11})
    messages = await client.stream(route.rsp_type)
    last = messages[-1]
    assert all(m["RequestID"] == 11 for m in messages)
    assert all(list(m)[:2] == ["MsgType", "RspInfo"] and list(m)[-1] == route.rsp_key for m in messages)
    assert last.get("IsLast") is True and all("IsLast" not in m for m in messages[:-1])


async def test_empty_answers_use_null_or_empty_object(stack: Stack) -> None:
    client = await stack.login(user="bob")
    await client.send({"MsgType": "ReqQryTrade", "QryTrade": {}, "RequestID": 0})
    await client.recv()
    assert client.raw[-1] == '{"MsgType":"RspQryTrade","RspInfo":null,"IsLast":true,"Trade":null}'
    await client.send({"MsgType": "ReqQryExchangeMarginRate", "QryExchangeMarginRate": {}, "RequestID": 0})
    await client.recv()
    assert client.raw[-1] == '{"MsgType":"RspQryExchangeMarginRate","RspInfo":null,"IsLast":true,' \
                             '"ExchangeMarginRate":{}}'


async def test_password_update_changes_only_ones_own_password(stack: Stack) -> None:
    client = await stack.login(user="bob")

    async def update(user: str, old: str, new: str) -> dict[str, Any]:
        await client.send({"MsgType": "ReqUserPasswordUpdate", "RequestID": 7, "UserPasswordUpdate": {
            "BrokerID": "9999", "UserID": user, "OldPassword": old, "NewPassword": new}})
        return await client.recv()

    others = await update("alice", PASSWORDS["alice"], "taken-over-1")
    assert others["RspInfo"] == {"ErrorID": 10, "ErrorMsg": "CTP:修改别人的口令"}
    assert stack.users.verify_password("alice", PASSWORDS["alice"]) is not None
    wrong = await update("bob", "not-bobs-password", "new-password-1")
    assert wrong["RspInfo"] == {"ErrorID": 14, "ErrorMsg": "CTP:原口令不匹配"}
    weak = await update("bob", PASSWORDS["bob"], "short")
    assert weak["RspInfo"] == {"ErrorID": 131, "ErrorMsg": "CTP:口令强度不够"}
    done = await update("bob", PASSWORDS["bob"], "new-password-1")
    assert done["RspInfo"]["ErrorID"] == 0 and done["IsLast"] is True and done["RequestID"] == 7
    # Passwords are not echoed back; the rest of the body is.
    assert done["UserPasswordUpdate"] == {"BrokerID": "9999", "UserID": "bob", "OldPassword": "",
                                          "NewPassword": ""}
    assert stack.users.verify_password("bob", "new-password-1") is not None
    assert stack.users.verify_password("bob", PASSWORDS["bob"]) is None
    relogin = await stack.client("/td/")
    await relogin.send({"MsgType": "ReqUserLogin", "RequestID": 0,
                        "ReqUserLogin": {"UserID": "bob", "Password": "new-password-1"}})
    assert (await relogin.recv())["RspInfo"]["ErrorID"] == 0
