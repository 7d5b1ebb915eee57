"""Pure protocol pieces against literal expected strings: envelope, depth, validation, throttles."""

from __future__ import annotations

from tradebus.ratelimit import LoginGuard, TokenBucket
from tradebus.schemas.market import Level, Tick
from ws_edge.depth import depth_body
from ws_edge.envelope import call_failed, depth, encode, error, response, rsp_info, stream
from ws_edge.fields import DEPTH_MD, DEPTH_TD, ORDER, TRADE_QRY, TRADE_RTN
from ws_edge.instruments import InstrumentMap
from ws_edge.orders import coid_for, ctp_ids, order_sys_id
from ws_edge.requests import RequestInvalid
from ws_edge.routes import validate_td


def test_envelope_key_order_and_conditional_keys() -> None:
    assert encode(response("RspQryTrade", None, "Trade", None, is_last=True)) == \
        b'{"MsgType":"RspQryTrade","RspInfo":null,"IsLast":true,"Trade":null}'
    assert encode(response("RspQryOrder", rsp_info(0), "Order", {}, request_id=3)) == \
        '{"MsgType":"RspQryOrder","RspInfo":{"ErrorID":0,"ErrorMsg":"CTP:正确"},"RequestID":3,"Order":{}}'.encode()
    assert encode(error("", -400, "Expecting value: line 1 column 1 (char 0)")) == (
        '{"MsgType":"","RspInfo":{"ErrorID":-400,"ErrorMsg":"参数有误"},'
        '"Detail":"Expecting value: line 1 column 1 (char 0)"}').encode()
    assert encode(error("ReqX", -404)) == b'{"MsgType":"ReqX","RspInfo":{"ErrorID":-404,"ErrorMsg":"Not implemented"}}'
    assert encode(call_failed("RspQryOrder", -3)) == \
        '{"MsgType":"RspQryOrder","RspInfo":{"ErrorID":-3,"ErrorMsg":"CTP:每秒发送请求数超过许可数"}}'.encode()
    messages = stream("RspQryInstrument", "Instrument", [{"a": 1}, {"a": 2}], request_id=0)
    assert ["IsLast" in m for m in messages] == [False, True]
    assert encode({"x": 1e16, "y": "\x00"}) == b'{"x":1e+16,"y":"\\u0000"}'  # Python's float and NUL forms


def test_field_lists() -> None:
    assert len(DEPTH_MD) == 48 and DEPTH_MD[-2:] == ("reserve1", "reserve2") and len(DEPTH_TD) == 46
    assert len(ORDER) == 63 and len(TRADE_RTN) == 31 and TRADE_QRY == tuple(sorted(TRADE_RTN))


def test_depth_dbl_max_rules() -> None:
    tick = Tick(venue="ctp", exchange="SHFE", symbol="au2602", seq=1, ts_event=1_764_740_483_500_000_000,
                ts_init=0, trading_day="20251203", last=956.62, bids=(Level(956.6, 9),), asks=(Level(956.62, 3),),
                volume=264577, turnover=253162846200.0, open_interest=199696, prev_close=962.02)
    md = depth_body(tick, "au2602", md_push=True)
    assert md["UpdateTime"] == "13:41:23" and md["UpdateMillisec"] == 500 and md["ActionDay"] == "20251203"
    assert md["ClosePrice"] == 0 and isinstance(md["ClosePrice"], int) and md["AskPrice2"] == 0
    assert md["PreSettlementPrice"] == 962.02 and md["reserve1"] == "au2602" and md["OpenInterest"] == 199696.0
    frame = encode(depth(md)).decode()
    assert frame.startswith('{"MsgType":"RtnDepthMarketData","DepthMarketData":{"ActionDay":"20251203",'
                            '"AskPrice1":956.62,"AskPrice2":0,')
    assert '"CurrDelta":1.7976931348623157e+308' in frame and "RspInfo" not in frame


def test_validation_detail_is_pydantic_shaped() -> None:
    try:
        validate_td("ReqUserLogin", {"MsgType": "ReqUserLogin", "ReqUserLogin": {"UserID": 1, "Password": "x"}})
    except RequestInvalid as exc:
        assert exc.detail == ("1 validation error for WebCTPReqUserLogin\nReqUserLogin.UserID\n"
                              "  Input should be a valid string [type=string_type, input_value=1, input_type=int]")
    else:
        raise AssertionError("an int UserID must be refused")
    body, rid = validate_td("ReqQryInstrument", {"ReqQryInstrument": {"ExchangeID": "SHFE"}, "RequestID": "2"})
    assert body == {"ExchangeID": "SHFE"} and rid == 2  # Homalos' body key, lax int


def test_ids_round_trip() -> None:
    assert ctp_ids(coid_for(1, -5, 12)) == (1, -5, "          12")
    assert ctp_ids("O-20251203-abc") == (0, 0, "20251203-abc")
    assert order_sys_id("46792") == "       46792" and order_sys_id("1234567890123456789") == "1234567890123456789"


def test_instrument_map() -> None:
    m = InstrumentMap(futures_venue="ctp", stocks_venue="futu")
    assert m.resolve("HK.00700") == ("futu", "HK", "00700")
    assert m.resolve("US.BRK.B") == ("futu", "US", "BRK.B")
    assert m.resolve("rb2601") == ("ctp", "SHFE", "rb2601") and m.resolve("TA601") == ("ctp", "CZCE", "TA601")
    assert m.resolve("IF2512") == ("ctp", "CFFEX", "IF2512") and m.resolve("") is None and m.resolve("9x") is None
    assert m.to_webctp("futu", "US", "AAPL") == "US.AAPL" and m.to_webctp("ctp", "DCE", "m2601") == "m2601"


def test_token_bucket_and_login_throttle() -> None:
    now = [0.0]
    bucket = TokenBucket(2.0, 3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5
    assert bucket.take() and not bucket.take()
    throttle = LoginGuard(0.5, 4.0, 60.0, clock=lambda: now[0])
    assert throttle.delay("alice", "1.2.3.4") == 0.0
    for _ in range(3):
        throttle.record_failure("alice", "1.2.3.4")
    assert throttle.delay("alice", "9.9.9.9") == 0.0  # never slowed from another address: no lock-out
    assert throttle.delay("mallory", "1.2.3.4") == 2.0  # per address
    for _ in range(5):
        throttle.record_failure("alice", "1.2.3.4")
    assert throttle.delay("alice", "1.2.3.4") == 4.0  # capped
    throttle.record_success("alice", "1.2.3.4")
    assert throttle.delay("alice", "1.2.3.4") == 4.0  # the address's own count stays after a success
    assert throttle.delay("alice", "5.5.5.5") == 0.0
    now[0] += 61
    assert throttle.delay("mallory", "1.2.3.4") == 0.0  # the window forgets
