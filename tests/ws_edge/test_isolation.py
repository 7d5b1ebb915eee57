"""Two users: neither sees, cancels or queries the other's orders; pushes go only to their own sessions."""

from __future__ import annotations

from test_td import FUT, insert
from ws_harness import Stack


async def test_two_users_are_isolated(stack: Stack) -> None:
    alice = await stack.login(user="alice")
    bob = await stack.login(user="bob")
    await alice.send(insert({**FUT, "LimitPrice": 3000.0}))
    resting, _ = await alice.recv_until(lambda m: m["MsgType"] == "RtnOrder" and m["Order"]["OrderStatus"] == "3")
    order = resting["Order"]
    assert await bob.quiet(0.3) == []  # no push of alice's order reaches bob

    for query, key in (("ReqQryOrder", "QryOrder"), ("ReqQryTrade", "QryTrade"),
                       ("ReqQryInvestorPosition", "QryInvestorPosition")):
        await bob.send({"MsgType": query, key: {"InvestorID": "SIM-FUT"}, "RequestID": 1})
        await bob.stream("Rsp" + query[3:])
        assert not any("SIM-FUT" in raw for raw in bob.raw), bob.raw[-1]
    await bob.send({"MsgType": "ReqQryTradingAccount", "QryTradingAccount": {"InvestorID": "SIM-FUT"},
                    "RequestID": 1})
    funds = await bob.stream("RspQryTradingAccount")
    # naming an account that is not his: CTP's 13 and no record, never another account's figures
    assert [(m["RspInfo"]["ErrorID"], m["TradingAccount"]) for m in funds] == [(13, None)]

    for action in ({"OrderSysID": order["OrderSysID"], "ExchangeID": "SHFE"},
                   {"FrontID": order["FrontID"], "SessionID": order["SessionID"], "OrderRef": order["OrderRef"]}):
        await bob.send({"MsgType": "ReqOrderAction", "RequestID": 0, "InputOrderAction": {
            "InvestorID": "SIM-FUT", "ActionFlag": "0", **action}})
        assert (await bob.recv())["RspInfo"]["ErrorID"] == 25  # not found among bob's accounts

    # bob naming alice's account on an order is refused (13), and nothing lands in hers
    await bob.send(insert({**FUT, "LimitPrice": 3000.0}))
    reply, _ = await bob.recv_until(lambda m: m["MsgType"] == "RspOrderInsert")
    assert reply["RspInfo"]["ErrorID"] == 13

    await alice.send({"MsgType": "ReqQryOrder", "QryOrder": {}, "RequestID": 1})
    mine = await alice.stream("RspQryOrder")
    assert [m["Order"]["OrderStatus"] for m in mine] == ["3"]  # still resting: bob could not cancel it
