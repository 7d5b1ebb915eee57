"""Orders through the trader double: fills, cancels, rejects, bad cancels, the query rate limit."""

from __future__ import annotations

import time

from ctpsim_helpers import BROKER, USER, Trader, order_field, send_query, td_mod


def _quote(trader: Trader, symbol: str) -> dict:
    q = td_mod.CThostFtdcQryDepthMarketDataField()
    q.InstrumentID = symbol
    send_query(lambda: trader.api.ReqQryDepthMarketData(q, 50))
    return trader.spi.rec.wait("OnRspQryDepthMarketData").args[0]


def _orders(trader: Trader, ref: str) -> list[dict]:
    return [e.args[0] for e in trader.spi.rec.seen if e.name == "OnRtnOrder" and e.args[0]["OrderRef"] == ref]


def _cancel_field(trader: Trader, ref: str) -> object:
    a = td_mod.CThostFtdcInputOrderActionField()
    a.BrokerID, a.InvestorID, a.UserID = BROKER, USER, USER
    a.ActionFlag = "0"
    a.FrontID, a.SessionID, a.OrderRef = trader.login["FrontID"], trader.login["SessionID"], ref
    a.InstrumentID = "rb2601"
    return a


def test_marketable_order_trades(trader: Trader) -> None:
    quote = _quote(trader, "rb2601")
    ref = trader.ref()
    limit = quote["UpperLimitPrice"]
    assert trader.api.ReqOrderInsert(order_field("rb2601", "SHFE", "0", limit, 2, ref, request_id=77), 7) == 0
    final = trader.spi.rec.wait("OnRtnOrder", lambda e: e.args[0]["OrderStatus"] == "0")
    trade = trader.spi.rec.wait("OnRtnTrade")
    trades = [trade.args[0]]
    while sum(t["Volume"] for t in trades) < 2:
        trades.append(trader.spi.rec.wait("OnRtnTrade").args[0])
    seq = _orders(trader, ref)
    statuses = [o["OrderStatus"] for o in seq]
    assert statuses[0] == "a" and seq[0]["OrderSubmitStatus"] == "0" and seq[0]["OrderSysID"] == ""
    assert seq[0]["StatusMsg"] == "报单已提交"
    assert statuses[1] == "3" and seq[1]["OrderSubmitStatus"] == "3"
    assert statuses[-1] == "0" and seq[-1]["VolumeTraded"] == 2 and seq[-1]["VolumeTotal"] == 0
    assert set(statuses[2:-1]) <= {"1"}
    sys_id = seq[1]["OrderSysID"]
    assert len(sys_id) == 12 and sys_id.startswith(" ") and sys_id.strip().isdigit()
    assert all(o["OrderSysID"] == sys_id for o in seq[1:])
    assert final.args[0]["FrontID"] == trader.login["FrontID"]
    assert final.args[0]["SessionID"] == trader.login["SessionID"]
    assert final.args[0]["TradingDay"] == trader.login["TradingDay"]
    assert final.args[0]["RequestID"] == 77 and final.args[0]["ExchangeID"] == "SHFE"
    assert trade.types[0] is td_mod.CThostFtdcTradeField
    assert sum(t["Volume"] for t in trades) == 2
    for t in trades:
        assert t["OrderSysID"] == sys_id and t["OrderRef"] == ref
        assert t["TradeID"].strip() and t["OffsetFlag"] == "0" and t["Direction"] == "0"
        assert quote["LowerLimitPrice"] <= t["Price"] <= limit
        assert len(t["TradeDate"]) == 8 and len(t["TradeTime"]) == 8
        assert t["TradingDay"] == trader.login["TradingDay"]
    assert len({t["TradeID"] for t in trades}) == len(trades)


def test_resting_order_is_cancelled_then_cannot_be_cancelled_again(trader: Trader) -> None:
    quote = _quote(trader, "rb2601")
    ref = trader.ref()
    assert trader.api.ReqOrderInsert(order_field("rb2601", "SHFE", "0", quote["LowerLimitPrice"], 1, ref), 8) == 0
    trader.spi.rec.wait("OnRtnOrder", lambda e: e.args[0]["OrderStatus"] == "3")
    assert trader.api.ReqOrderAction(_cancel_field(trader, ref), 9) == 0
    done = trader.spi.rec.wait("OnRtnOrder", lambda e: e.args[0]["OrderStatus"] == "5").args[0]
    assert done["OrderRef"] == ref and done["VolumeTraded"] == 0 and done["StatusMsg"] == "已撤单"
    assert done["CancelTime"]
    # A second cancel of the finished order: RspOrderAction and ErrRtnOrderAction, error 26.
    assert trader.api.ReqOrderAction(_cancel_field(trader, ref), 10) == 0
    rsp = trader.spi.rec.wait("OnRspOrderAction")
    assert rsp.args[1]["ErrorID"] == 26 and rsp.args[1]["ErrorMsg"] == "CTP:报单已全成交或已撤销，不能再撤"
    assert rsp.args[2] == 10 and rsp.args[0]["OrderRef"] == ref
    err = trader.spi.rec.wait("OnErrRtnOrderAction")
    assert err.args[1]["ErrorID"] == 26 and err.types[0] is td_mod.CThostFtdcOrderActionField


def test_cancel_of_an_unknown_order(trader: Trader) -> None:
    a = td_mod.CThostFtdcInputOrderActionField()
    a.BrokerID, a.InvestorID, a.UserID = BROKER, USER, USER
    a.ActionFlag, a.ExchangeID, a.OrderSysID, a.InstrumentID = "0", "SHFE", "      999999", "rb2601"
    assert trader.api.ReqOrderAction(a, 11) == 0
    rsp = trader.spi.rec.wait("OnRspOrderAction")
    assert (rsp.args[1]["ErrorID"], rsp.args[1]["ErrorMsg"]) == (25, "CTP:撤单找不到相应报单")
    assert rsp.args[0]["OrderSysID"] == "      999999"
    assert trader.spi.rec.wait("OnErrRtnOrderAction").args[1]["ErrorID"] == 25


def test_front_rejects(trader: Trader) -> None:
    quote = _quote(trader, "IF2512")
    # Far more margin than the account holds.
    ref = trader.ref()
    assert trader.api.ReqOrderInsert(order_field("IF2512", "CFFEX", "0", quote["UpperLimitPrice"], 900, ref), 20) == 0
    rsp = trader.spi.rec.wait("OnRspOrderInsert")
    assert (rsp.args[1]["ErrorID"], rsp.args[1]["ErrorMsg"]) == (31, "CTP:资金不足")
    assert rsp.args[0]["OrderRef"] == ref and rsp.args[2] == 20 and rsp.args[3] is True
    assert rsp.types[0] is td_mod.CThostFtdcInputOrderField
    err = trader.spi.rec.wait("OnErrRtnOrderInsert")
    assert err.args[1]["ErrorID"] == 31 and err.args[0]["OrderRef"] == ref
    # Closing today's position that does not exist on SHFE.
    ref = trader.ref()
    assert trader.api.ReqOrderInsert(order_field("rb2601", "SHFE", "1", 3000.0, 1, ref, offset="3"), 21) == 0
    rsp = trader.spi.rec.wait("OnRspOrderInsert")
    assert (rsp.args[1]["ErrorID"], rsp.args[1]["ErrorMsg"]) == (50, "CTP:平今仓位不足")
    # The same OrderRef again in the session.
    assert trader.api.ReqOrderInsert(order_field("rb2601", "SHFE", "0", 3000.0, 1, ref), 22) == 0
    rsp = trader.spi.rec.wait("OnRspOrderInsert")
    assert rsp.args[1]["ErrorID"] == 22
    # An instrument the exchange does not list.
    assert trader.api.ReqOrderInsert(order_field("rb9999", "SHFE", "0", 3000.0, 1, trader.ref()), 23) == 0
    rsp = trader.spi.rec.wait("OnRspOrderInsert")
    assert (rsp.args[1]["ErrorID"], rsp.args[1]["ErrorMsg"]) == (16, "CTP:找不到合约")
    # None of these became an order.
    assert not [e for e in trader.spi.rec.drain() if e.name == "OnRtnOrder"]


def test_exchange_reject_is_a_cancelled_rtn_order(trader: Trader) -> None:
    quote = _quote(trader, "rb2601")
    ref = trader.ref()
    off_tick = quote["LowerLimitPrice"] + 0.5  # rb ticks by 1
    assert trader.api.ReqOrderInsert(order_field("rb2601", "SHFE", "0", off_tick, 1, ref), 30) == 0
    final = trader.spi.rec.wait("OnRtnOrder", lambda e: e.args[0]["OrderStatus"] == "5").args[0]
    assert final["OrderSubmitStatus"] == "4"  # InsertRejected
    assert final["StatusMsg"].startswith("已撤单报单被拒绝SHFE:")
    assert [o["OrderStatus"] for o in _orders(trader, ref)] == ["a", "5"]
    # SHFE takes no any-price orders: the exchange refuses them the same way.
    market = order_field("rb2601", "SHFE", "0", 0.0, 1, ref2 := trader.ref())
    market.OrderPriceType = "1"
    assert trader.api.ReqOrderInsert(market, 31) == 0
    final = trader.spi.rec.wait(
        "OnRtnOrder", lambda e: e.args[0]["OrderRef"] == ref2 and e.args[0]["OrderStatus"] == "5"
    ).args[0]
    assert final["OrderSubmitStatus"] == "4" and final["StatusMsg"] == "已撤单报单被拒绝SHFE:不支持市价单"


def test_empty_order_ref_is_assigned(trader: Trader) -> None:
    quote = _quote(trader, "rb2601")
    assert trader.api.ReqOrderInsert(order_field("rb2601", "SHFE", "0", quote["LowerLimitPrice"], 1, ""), 40) == 0
    first = trader.spi.rec.wait("OnRtnOrder").args[0]
    assert first["OrderRef"].strip().isdigit() and len(first["OrderRef"]) == 12


def test_query_flow_control(trader: Trader) -> None:
    q = td_mod.CThostFtdcQryTradingAccountField()
    q.BrokerID, q.InvestorID = BROKER, USER
    send_query(lambda: trader.api.ReqQryTradingAccount(q, 60))
    sent_at = time.monotonic()
    account = trader.spi.rec.wait("OnRspQryTradingAccount")
    assert account.args[0]["AccountID"] == USER and account.args[0]["Available"] > 0
    assert account.args[0]["CurrencyID"] == "CNY" and account.args[3] is True
    # Within the same second: refused with -3, and nothing goes to the front.
    assert trader.api.ReqQryInvestorPosition(td_mod.CThostFtdcQryInvestorPositionField(), 61) == -3
    assert trader.api.ReqQryTradingAccount(q, 62) == -3
    while time.monotonic() - sent_at < 0.9:
        assert trader.api.ReqQryOrder(td_mod.CThostFtdcQryOrderField(), 63) == -3
    send_query(lambda: trader.api.ReqQryOrder(td_mod.CThostFtdcQryOrderField(), 64))
    rsp = trader.spi.rec.wait("OnRspQryOrder")
    assert rsp.args[2] == 64 and rsp.args[3] is True
    answered = {e.args[2] for e in trader.spi.rec.drain() if e.name.startswith("OnRspQry")}
    assert not answered & {61, 62, 63}


def test_fak_cancels_the_rest_and_fok_is_refused(trader: Trader) -> None:
    quote = _quote(trader, "m2601")
    ref = trader.ref()
    fak = order_field("m2601", "DCE", "0", quote["LowerLimitPrice"], 1, ref)
    fak.TimeCondition, fak.VolumeCondition = "1", "1"
    assert trader.api.ReqOrderInsert(fak, 70) == 0
    done = trader.spi.rec.wait("OnRtnOrder", lambda e: e.args[0]["OrderStatus"] == "5").args[0]
    assert done["VolumeTraded"] == 0 and done["OrderSubmitStatus"] == "3"
    assert [o["OrderStatus"] for o in _orders(trader, ref)] == ["a", "3", "5"]
    fok = order_field("m2601", "DCE", "0", quote["UpperLimitPrice"], 1, trader.ref())
    fok.TimeCondition, fok.VolumeCondition = "1", "3"
    assert trader.api.ReqOrderInsert(fok, 71) == 0
    assert trader.spi.rec.wait("OnRspOrderInsert").args[1]["ErrorID"] == 15
