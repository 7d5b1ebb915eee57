"""/md/: login, subscribe / unsubscribe, RtnDepthMarketData, shared subscriptions.

The protocol: docs/ws_edge.md, 'Market-data requests'.
"""

from __future__ import annotations

from ws_harness import PASSWORDS, Stack, until

from tradebus.schemas.market import SubscribeRequest, UnsubscribeRequest
from ws_edge.fields import DEPTH_MD, MD_LOGIN


async def test_md_login_reply_has_the_14_fields_in_order(stack: Stack) -> None:
    client = await stack.client("/md/")
    await client.send({"MsgType": "ReqUserLogin", "ReqUserLogin": {"UserID": "alice", "Password": PASSWORDS["alice"]}})
    reply = await client.recv()
    assert list(reply) == ["MsgType", "RspInfo", "IsLast", "RspUserLogin"]
    assert reply["RspInfo"] == {"ErrorID": 0, "ErrorMsg": "CTP:No Error"}
    assert tuple(reply["RspUserLogin"]) == MD_LOGIN
    assert reply["RspUserLogin"]["UserID"] == "alice"


async def test_md_login_wrong_password_then_subscribe_is_401(stack: Stack) -> None:
    client = await stack.client("/md")  # no trailing slash: accepted too
    await client.send({"MsgType": "ReqUserLogin", "ReqUserLogin": {"UserID": "alice", "Password": "nope"}})
    assert client.raw == [] and (await client.recv()) == {
        "MsgType": "RspUserLogin", "RspInfo": {"ErrorID": 3, "ErrorMsg": "CTP:不合法的登录"}, "IsLast": True}
    await client.send({"MsgType": "SubscribeMarketData", "InstrumentID": ["rb2601"]})
    assert client.raw[-1] != "" and (await client.recv()) == {
        "MsgType": "SubscribeMarketData", "RspInfo": {"ErrorID": -401, "ErrorMsg": "未登录"}}


async def test_subscribe_streams_one_reply_per_instrument_then_last_tick_at_once(stack: Stack) -> None:
    # A tick published before anyone subscribed is in stream MD: the client gets it at once.
    await stack.md.publish(stack.md.tick("sim", "SHFE", "rb2601", 3112.0))
    client = await stack.login("/md/")
    await client.send({"MsgType": "SubscribeMarketData", "InstrumentID": ["rb2601", "HK.00700"]})
    first, second = await client.recv(), await client.recv()
    assert client.raw[-2] == ('{"MsgType":"RspSubMarketData","RspInfo":{"ErrorID":0,"ErrorMsg":"CTP:No Error"},'
                              '"SpecificInstrument":{"InstrumentID":"rb2601"}}')
    assert client.raw[-1] == ('{"MsgType":"RspSubMarketData","RspInfo":{"ErrorID":0,"ErrorMsg":"CTP:No Error"},'
                              '"IsLast":true,"SpecificInstrument":{"InstrumentID":"HK.00700"}}')
    assert first["SpecificInstrument"]["InstrumentID"] == "rb2601" and second["IsLast"] is True
    snapshot = await client.recv()
    assert snapshot["MsgType"] == "RtnDepthMarketData" and list(snapshot) == ["MsgType", "DepthMarketData"]
    depth = snapshot["DepthMarketData"]
    assert tuple(depth) == DEPTH_MD and len(depth) == 48
    assert depth["InstrumentID"] == "rb2601" and depth["LastPrice"] == 3112.0 and depth["ExchangeID"] == "SHFE"
    assert depth["AskPrice2"] == 0 and '"AskPrice2":0,' in client.raw[-1]  # no value → integer 0
    assert '"CurrDelta":1.7976931348623157e+308' in client.raw[-1]

    await stack.md.publish(stack.md.tick("sim", "HK", "00700", 602.5))
    live = await client.recv()
    assert live["DepthMarketData"]["InstrumentID"] == "HK.00700"
    assert live["DepthMarketData"]["ExchangeID"] == "HK" and live["DepthMarketData"]["ExchangeInstID"] == "00700"


async def test_one_venue_subscription_shared_and_released_by_the_last_client(stack: Stack) -> None:
    a = await stack.login("/md/")
    b = await stack.login("/md/", user="bob")
    for client in (a, b):
        await client.send({"MsgType": "SubscribeMarketData", "InstrumentID": ["au2602"]})
        await client.recv()
    assert stack.md.count(SubscribeRequest, "au2602") == 1
    await stack.md.publish(stack.md.tick("sim", "SHFE", "au2602", 918.56))
    for client in (a, b):
        assert (await client.recv())["DepthMarketData"]["LastPrice"] == 918.56
    await a.send({"MsgType": "UnSubscribeMarketData", "InstrumentID": ["au2602"]})
    assert (await a.recv()) == {"MsgType": "RspUnSubMarketData", "RspInfo": {"ErrorID": 0, "ErrorMsg": "CTP:No Error"},
                                "IsLast": True, "SpecificInstrument": {"InstrumentID": "au2602"}}
    assert stack.md.count(UnsubscribeRequest, "au2602") == 0
    await stack.md.publish(stack.md.tick("sim", "SHFE", "au2602", 919.0))
    assert (await b.recv())["DepthMarketData"]["LastPrice"] == 919.0
    assert await a.quiet(0.2) == []  # nothing after its unsubscribe
    await b.close()
    await until(lambda: stack.md.count(UnsubscribeRequest, "au2602") == 1, what="release by the last client")
    assert not stack.edge.market.feeds


async def test_refused_instrument_gets_error_16(stack: Stack) -> None:
    stack.md.refuse.add("zz9999")
    client = await stack.login("/md/")
    await client.send({"MsgType": "SubscribeMarketData", "InstrumentID": ["rb2601x", "nosuch"]})
    replies = [await client.recv(), await client.recv()]
    assert replies[0]["RspInfo"]["ErrorID"] == 0  # rb… resolves to SHFE; the stand-in accepts it
    assert replies[1] == {"MsgType": "RspSubMarketData", "RspInfo": {"ErrorID": 16, "ErrorMsg": "CTP:找不到合约"},
                          "IsLast": True, "SpecificInstrument": {"InstrumentID": "nosuch"}}


async def test_md_unknown_type_is_404_and_ping_pong_ignored(stack: Stack) -> None:
    client = await stack.client("/md/")
    await client.send({"MsgType": "Pong", "Timestamp": 1})
    await client.send({"MsgType": "Ping"})
    await client.send({"MsgType": "ReqQryOrder"})
    assert (await client.recv()) == {"MsgType": "ReqQryOrder", "RspInfo": {"ErrorID": -404,
                                                                            "ErrorMsg": "Not implemented"}}
