"""webctp's own demo page (openctp/webctp ``web/index.html``), replayed frame by frame.

The frames below are what the page sends: ``JSON.stringify`` of its request objects (compact, keys in
the page's order; ``req_td`` appends ``"RequestID":0``), in the page's order. The page logs in to
``/md/`` with an empty UserID and Password, logs in to ``/td/`` with what the user typed into its
"InvestorID" box, then runs its start-up chain, each step on the previous answer's ``IsLast``: trading
account → exchanges → orders → trades → positions → instruments. It keeps the last TradingAccount
record and reads ``PreBalance`` from it, and it looks up every futures instrument's ExchangeID in the
exchanges it was given. A user created with ``sim:*`` (a wildcard grant) logs in here.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from polling import until
from ws_harness import Client, Stack, build_stack, close_stack, ws_config

from ws_edge.edge import anonymous_md_allowed

PAGE_JS = Path(__file__).parent / "js" / "webctp_page.js"
VENUE_DAY = "20261207"  # the venue's trading day (a CTP front's, here given to the sim venue)
CAROL = ("carol", "carol-secret-3")


def page_frame(obj: dict[str, Any]) -> str:
    """What the page's JSON.stringify sends: compact, non-ASCII as-is, keys in insertion order."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def td(msg_type: str, body_key: str, body: dict[str, Any]) -> str:
    return page_frame({"MsgType": msg_type, body_key: body, "RequestID": 0})


async def open_page(stack: Stack, user_id: str, password: str) -> tuple[Client, Client]:
    md = await stack.client("/md/")
    await md.send('{"MsgType":"ReqUserLogin","ReqUserLogin":{"UserID":"","Password":""}}')
    td_ = await stack.client("/td/")
    await td_.send(page_frame({"MsgType": "ReqUserLogin", "ReqUserLogin": {"UserID": user_id, "Password": password},
                               "RequestID": 0}))
    return md, td_


async def test_the_demo_page_runs_its_whole_sequence(stack: Stack) -> None:
    stack.users.add(*CAROL, ["sim:*"])
    stack.venue.trading_day = VENUE_DAY
    md, page = await open_page(stack, *CAROL)

    md_login = await md.recv()
    assert md_login["RspInfo"]["ErrorID"] == 0, md_login  # no credentials, a loopback client: taken
    assert md_login["RspUserLogin"]["TradingDay"] == VENUE_DAY and md_login["RspUserLogin"]["UserID"] == ""
    login = await page.recv()
    assert login["RspInfo"]["ErrorID"] == 0 and "RequestID" not in login
    broker, investor = login["RspUserLogin"]["BrokerID"], CAROL[0]  # the page reuses its login box as InvestorID
    assert login["RspUserLogin"]["TradingDay"] == VENUE_DAY

    await page.send(td("ReqQryTradingAccount", "QryTradingAccount", {"BrokerID": broker, "InvestorID": investor}))
    accounts = await page.stream("RspQryTradingAccount")
    assert len(accounts) == 1 and accounts[0]["IsLast"] is True  # one investor, one record
    account = accounts[0]["TradingAccount"]
    assert account["AccountID"] == "SIM-FUT" and account["CurrencyID"] == "CNY"  # the wildcard's futures account
    assert isinstance(account["PreBalance"], float) and account["PreBalance"] > 0
    assert account["TradingDay"] == VENUE_DAY

    await page.send(td("ReqQryExchange", "QryExchange", {"ExchangeID": ""}))
    exchanges = {m["Exchange"]["ExchangeID"] for m in await page.stream("RspQryExchange")}
    await page.send(td("ReqQryOrder", "QryOrder", {"InvestorID": investor, "InstrumentID": ""}))
    assert [m["Order"] for m in await page.stream("RspQryOrder")] == [None]
    await page.send(td("ReqQryTrade", "QryTrade", {"BrokerID": broker, "InvestorID": investor, "ExchangeID": ""}))
    assert [m["Trade"] for m in await page.stream("RspQryTrade")] == [None]
    await page.send(td("ReqQryInvestorPosition", "QryInvestorPosition",
                       {"BrokerID": broker, "InvestorID": investor, "ExchangeID": ""}))
    assert all(m["RspInfo"] is None for m in await page.stream("RspQryInvestorPosition"))
    await page.send(td("ReqQryInstrument", "QryInstrument", {"ExchangeID": "", "InstrumentID": "", "ProductID": ""}))
    instruments = [m["Instrument"] for m in await page.stream("RspQryInstrument", timeout=10)]
    ids = [i["InstrumentID"] for i in instruments]
    assert len(ids) == len(set(ids)) and "HK.00700" in ids  # each instrument once
    futures = {i["InstrumentID"]: i for i in instruments if i["ProductClass"] == "1"}
    assert {i["ExchangeID"] for i in futures.values()} <= exchanges  # the page looks each one up
    assert (futures["SR601"]["DeliveryYear"], futures["SR601"]["DeliveryMonth"]) == (2026, 1)  # CZCE: 3 digits
    assert (futures["rb2601"]["DeliveryYear"], futures["rb2601"]["DeliveryMonth"]) == (2026, 1)

    # The quote board: subscribe, a tick with the previous close and settlement, then the order ticket.
    await md.send('{"MsgType":"SubscribeMarketData","InstrumentID":["rb2601"]}')
    sub = await md.recv()
    assert sub["MsgType"] == "RspSubMarketData" and sub["RspInfo"]["ErrorID"] == 0
    await stack.md.publish(stack.md.tick("sim", "SHFE", "rb2601", 3100.0, prev_close=3090.0, pre_close=3088.0))
    quote, _ = await md.recv_until(lambda m: m["MsgType"] == "RtnDepthMarketData")
    assert quote["DepthMarketData"]["PreClosePrice"] == 3088.0
    assert quote["DepthMarketData"]["PreSettlementPrice"] == 3090.0

    await page.send(td("ReqOrderInsert", "InputOrder", {
        "BrokerID": broker, "InvestorID": investor, "ExchangeID": "SHFE", "InstrumentID": "rb2601",
        "LimitPrice": 3000, "OrderPriceType": "2", "Direction": "0", "CombOffsetFlag": "0", "CombHedgeFlag": "1",
        "VolumeTotalOriginal": 1, "TimeCondition": "3", "VolumeCondition": "1", "ContingentCondition": "1",
        "ForceCloseReason": "0", "IsAutoSuspend": 0, "IsSwapOrder": 0}))
    resting, _ = await page.recv_until(lambda m: m["MsgType"] == "RtnOrder" and m["Order"]["OrderStatus"] == "3")
    order = resting["Order"]
    assert order["InvestorID"] == "SIM-FUT" and order["TradingDay"] == VENUE_DAY
    await page.send(td("ReqQryOrder", "QryOrder", {"InvestorID": investor, "InstrumentID": ""}))
    assert [m["Order"]["OrderSysID"] for m in await page.stream("RspQryOrder")] == [order["OrderSysID"]]

    # Cancel from the order table: the row's ExchangeID, InstrumentID and OrderSysID (as shown, padded).
    await page.send(td("ReqOrderAction", "InputOrderAction", {
        "BrokerID": broker, "InvestorID": investor, "UserID": investor, "ExchangeID": order["ExchangeID"],
        "InstrumentID": order["InstrumentID"], "ActionFlag": "0", "OrderSysID": order["OrderSysID"]}))
    cancelled, _ = await page.recv_until(lambda m: m["MsgType"] == "RtnOrder" and m["Order"]["OrderStatus"] == "5")
    assert cancelled["Order"]["OrderSysID"] == order["OrderSysID"]


async def test_login_user_id_picks_the_investor(stack: Stack) -> None:
    stack.users.add(*CAROL, ["sim:*"])
    for user_id, expected in (("carol@sim:SIM-HK", "SIM-HK"), ("carol@sim", "SIM-FUT")):
        _, page = await open_page(stack, user_id, CAROL[1])
        assert (await page.recv())["RspInfo"]["ErrorID"] == 0
        await page.send(td("ReqQryTradingAccount", "QryTradingAccount", {"BrokerID": "9999", "InvestorID": user_id}))
        [answer] = await page.stream("RspQryTradingAccount")
        assert answer["TradingAccount"]["AccountID"] == expected
        # another account the user holds, named in the request, answers for that account
        await page.send(td("ReqQryTradingAccount", "QryTradingAccount", {"InvestorID": "SIM-US"}))
        [other] = await page.stream("RspQryTradingAccount")
        assert (other["TradingAccount"]["AccountID"], other["TradingAccount"]["CurrencyID"]) == ("SIM-US", "USD")


async def test_a_login_for_an_account_the_user_lacks_is_refused(stack: Stack) -> None:
    _, page = await open_page(stack, "bob@sim:SIM-FUT", "bob-secret-22")  # bob holds only sim:SIM-US
    refused = await page.recv()
    assert refused["RspInfo"]["ErrorID"] == 13 and "RspUserLogin" not in refused
    await page.send(td("ReqQryTradingAccount", "QryTradingAccount", {}))
    assert (await page.recv())["RspInfo"]["ErrorID"] == -401  # not logged in


async def test_a_user_without_accounts_gets_an_error_not_a_null_account(stack: Stack) -> None:
    stack.users.add("dave", "dave-secret-4", ["ctp:*"])  # no ctp venue behind this edge: no account at all
    _, page = await open_page(stack, "dave", "dave-secret-4")
    assert (await page.recv())["RspInfo"]["ErrorID"] == 0
    await page.send(td("ReqQryTradingAccount", "QryTradingAccount", {"BrokerID": "9999", "InvestorID": "dave"}))
    answer = await page.recv()
    assert answer == {"MsgType": "RspQryTradingAccount", "RspInfo": {"ErrorID": 13, "ErrorMsg": "CTP:找不到投资者"},
                      "IsLast": True, "TradingAccount": None}


async def test_trading_always_needs_a_user(stack: Stack) -> None:
    _, page = await open_page(stack, "", "")
    assert (await page.recv())["RspInfo"]["ErrorID"] == 3


async def test_unsubscribing_what_failed_to_subscribe_is_an_error(stack: Stack) -> None:
    stack.md.refuse.add("cu2601")
    md = await stack.client("/md/")
    await md.send('{"MsgType":"ReqUserLogin","ReqUserLogin":{"UserID":"","Password":""}}')
    await md.recv()
    await md.send('{"MsgType":"SubscribeMarketData","InstrumentID":["cu2601"]}')
    assert (await md.recv())["RspInfo"]["ErrorID"] == 16
    await md.send('{"MsgType":"UnSubscribeMarketData","InstrumentID":["cu2601"]}')
    unsub = await md.recv()
    assert unsub["MsgType"] == "RspUnSubMarketData" and unsub["RspInfo"]["ErrorID"] == 16
    assert unsub["SpecificInstrument"] == {"InstrumentID": "cu2601"}


@pytest.mark.parametrize(("policy", "address", "allowed"), [
    ("loopback", "127.0.0.1", True), ("loopback", "::1", True), ("loopback", "::ffff:127.0.0.1", True),
    ("loopback", "10.1.2.3", False), ("loopback", "", False), ("all", "10.1.2.3", True),
    ("none", "127.0.0.1", False),
])
def test_anonymous_market_data_policy(policy: str, address: str, allowed: bool) -> None:
    assert anonymous_md_allowed(policy, address) is allowed


async def test_anonymous_md_can_be_switched_off(nats_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    stack = await build_stack(nats_server.url, tmp_path, ws_config(anonymous_md="none"))
    try:
        md = await stack.client("/md/")
        await md.send('{"MsgType":"ReqUserLogin","ReqUserLogin":{"UserID":"","Password":""}}')
        assert (await md.recv())["RspInfo"]["ErrorID"] == 3
        await md.send('{"MsgType":"SubscribeMarketData","InstrumentID":["rb2601"]}')
        assert (await md.recv())["RspInfo"]["ErrorID"] == -401
    finally:
        await close_stack(stack)


async def test_the_page_sequence_in_javascript(stack: Stack, node_path: str) -> None:
    """The same start-up chain, run by Node with npm ``ws``: JavaScript builds and parses every frame."""
    stack.users.add(*CAROL, ["sim:*"])
    stack.venue.trading_day = VENUE_DAY
    env = {**os.environ, "NODE_PATH": node_path}
    proc = await asyncio.create_subprocess_exec(
        "node", str(PAGE_JS), f"ws://127.0.0.1:{stack.port}", *CAROL, "rb2601", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        key = ("sim", "SHFE", "rb2601")
        await until(lambda: bool(stack.md.holders.get(key)), 15, "the page's subscription")
        await stack.md.publish(stack.md.tick(*key, 3100.0))
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    events = [json.loads(line) for line in out.decode().splitlines()]
    assert proc.returncode == 0, (events, err.decode())
    assert {"preBalance": "10000000.00", "accountID": "SIM-FUT"} in events  # the account bar renders
    assert events[-1] == {"done": {"tradingDay": VENUE_DAY, "orderTradingDay": VENUE_DAY, "investor": "SIM-FUT",
                                   "errors": []}}
