from __future__ import annotations

import json
import typing

import msgspec
import pytest

from tradebus import schemas as s
from tradebus.schemas.base import BusMessage

T0 = 1_763_700_000_000_000_000
ID = {"venue": "ctp", "account": "000001", "client_order_id": "O-1", "ts_event": T0, "ts_init": T0 + 5}

SAMPLES: list[BusMessage] = [
    s.Tick(venue="ctp", exchange="SHFE", symbol="rb2601", seq=7, ts_event=T0, ts_init=T0 + 1, trading_day="20261123",
           last=3120.0, last_qty=2, open=3100.0, high=3130.0, low=3095.0, prev_close=3105.0, volume=1200,
           turnover=37_440_000.0, open_interest=150_000, upper_limit=3322.0, lower_limit=2888.0, average_price=31200.0,
           bids=(s.Level(3119.0, 12), s.Level(3118.0, 30)), asks=(s.Level(3120.0, 5),)),
    s.Tick(venue="futu", exchange="HK", symbol="00700", seq=1, ts_event=T0, ts_init=T0),
    s.Bar(venue="futu", exchange="US", symbol="BRK.B", interval="1m", start_ns=T0, end_ns=T0 + 60_000_000_000,
          open=1.0, high=2.0, low=0.5, close=1.5, volume=10, turnover=15.0, tick_count=3),
    s.FeedStatus(venue="ctp", state=s.FeedState.STALE, reason="no tick for 30s", ts_event=T0, exchange="SHFE",
                 symbol="rb2601"),
    s.FeedFence(venue="ctp", holder="2", epoch=7, ts_event=T0),
    s.SubscribeRequest(venue="futu", exchange="HK", symbol="00700", requester="ws_edge:1"),
    s.UnsubscribeRequest(venue="futu", exchange="HK", symbol="00700", requester="ws_edge:1"),
    s.SubscriptionReply(ok=False, venue="futu", exchange="HK", symbol="99999", error="unknown instrument"),
    s.SubmitOrder(venue="ctp", account="000001", exchange="SHFE", symbol="rb2601", side=s.Side.BUY, qty=2,
                  price=3120.0, offset=s.Offset.OPEN, client_order_id="O-1", user="alice"),
    s.CancelOrder(venue="ctp", account="000001", client_order_id="O-1"),
    s.ModifyOrder(venue="futu", account="281756", client_order_id="O-2", qty=200, price=301.2),
    s.QueryOrders(venue="ctp", account="000001", open_only=True),
    s.QueryTrades(venue="ctp", account="000001"),
    s.QueryPositions(venue="futu", account="281756"),
    s.QueryFunds(venue="futu", account="281756"),
    s.QueryInstruments(venue="ctp", exchange="SHFE"),
    s.QueryVenue(venue="ctp"),
    s.VenueInfo(venue="ctp", connected=True, accounts=["000001"], trading_day="20261207"),
    s.BarsQuery(venue="futu", exchange="HK", symbol="00700", period="1d", count=30),
    s.TicksQuery(venue="ctp", exchange="SHFE", symbol="rb2601", start_ns=1, count=10, after_seq=5),
    s.BarsPage(bars=[s.Bar(venue="ctp", exchange="SHFE", symbol="rb2601", interval="1m", start_ns=0,
                           end_ns=60_000_000_000, open=1.0, high=2.0, low=0.5, close=1.5, volume=3, turnover=4.5)],
               more=True, next_start_ns=1, sources=["stream"]),
    s.TicksPage(ticks=[], more=False),
    s.HistoryRefused(code="unsupported_period", reason="ctp has no history K-lines"),
    s.CommandAccepted(order=s.OrderView(
        venue="ctp", account="000001", client_order_id="O-1", venue_order_id=None, exchange="SHFE", symbol="rb2601",
        side=s.Side.SELL, order_type=s.OrderType.LIMIT, offset=s.Offset.CLOSE_TODAY,
        time_in_force=s.TimeInForce.DAY, qty=1, price=3120.0, status=s.OrderStatus.SUBMITTED)),
    s.OrderView(venue="futu", account="281756", client_order_id="O-9", venue_order_id="FUTU123", exchange="HK",
                symbol="00700", side=s.Side.BUY, order_type=s.OrderType.LIMIT, offset=s.Offset.NONE,
                time_in_force=s.TimeInForce.DAY, qty=100, price=301.2, status=s.OrderStatus.PARTIALLY_FILLED,
                filled_qty=40, avg_fill_price=301.2),
    s.CommandDenied(code="price_off_tick", reason="price 3120.5 is not a multiple of the tick 1.0"),
    s.AccountFence(venue="ctp", account="000001", holder="b", epoch=3, ts=1_730_275_031_047_002_000),
    s.OrderSubmitted(event_id="e1", **ID, exchange="SHFE", symbol="rb2601", side=s.Side.BUY,
                     order_type=s.OrderType.LIMIT, qty=2, price=3120.0, offset=s.Offset.OPEN),
    s.OrderDenied(event_id="e2", **ID, code="bad_qty", reason="quantity must be positive"),
    s.OrderAccepted(event_id="e3", **ID, venue_order_id="      123456"),
    s.OrderRejected(event_id="e4", **ID, code="31", reason="CTP:资金不足"),
    s.OrderFilled(event_id="e5", **ID, venue_order_id="      123456", trade_id="ctp:SHFE:1", fill_qty=1,
                  fill_price=3120.0, fee=3.2, fee_currency="CNY", offset=s.Offset.OPEN),
    s.OrderCancelled(event_id="e6", **ID, reconciliation=True),
    s.OrderCancelRejected(event_id="e7", **ID, code="26", reason="order already filled"),
    s.OrderExpired(event_id="e8", **ID),
    s.OrderUpdated(event_id="e9", **ID, qty=3, price=3121.0),
    s.OrderStatusUnknown(event_id="e10", **ID, reason="timeout"),
    s.AccountSnapshot(venue="futu", account="281756", currency="HKD", cash=1e6, available=9e5, ts_event=T0),
    s.PositionSnapshot(venue="ctp", account="000001", exchange="SHFE", symbol="rb2601", side=s.PositionSide.SHORT,
                       qty=3, today_qty=1, yesterday_qty=2, ts_event=T0),
    s.InstrumentInfo(venue="ctp", exchange="SHFE", symbol="rb2601", kind="future", lot_size=1, price_tick=1.0,
                     multiplier=10.0),
    s.TradeView(venue="ctp", account="000001", client_order_id="O-1", venue_order_id="      123456",
                trade_id="ctp:SHFE:1", exchange="SHFE", symbol="rb2601", side=s.Side.BUY, offset=s.Offset.OPEN,
                qty=1, price=3120.0, fee=3.2, fee_currency="CNY", ts_event=T0),
    s.OrdersReply(orders=[s.OrderView(
        venue="sim", account="SIM-FUT", client_order_id="O-3", venue_order_id="7", exchange="SHFE", symbol="rb2601",
        side=s.Side.BUY, order_type=s.OrderType.LIMIT, offset=s.Offset.OPEN, time_in_force=s.TimeInForce.DAY,
        qty=3, price=3112.0, status=s.OrderStatus.ACCEPTED)]),
    s.TradesReply(trades=[]),
    s.PositionsReply(positions=[s.PositionSnapshot(venue="ctp", account="000001", exchange="SHFE", symbol="rb2601",
                                                   side=s.PositionSide.LONG, qty=1, ts_event=T0)]),
    s.FundsReply(funds=[s.AccountSnapshot(venue="ctp", account="000001", currency="CNY", cash=1e6, available=9e5,
                                          ts_event=T0)]),
    s.InstrumentsReply(instruments=[s.InstrumentInfo(venue="futu", exchange="HK", symbol="00700", lot_size=100,
                                                     price_tick=0.5)]),
    s.AuthStateChanged(event_id="a1", instance="main", state=s.AuthState.REQUESTING_VERIFY_CODE,
                       previous=s.AuthState.INITIALIZING, ts_event=T0),
    s.AuthCommand(op="verify_code", code="123456"),
    s.AuthReply(ok=True, instance="main", state=s.AuthState.CONNECTED),
    s.Heartbeat(service="md_ingest", instance="host:12", pid=12, state=s.HealthState.OK, started_ns=T0,
                ts_event=T0, interval_s=2.0, checks={"nats": "ok"},
                children=(s.ChildProcess(name="ctp_sim", state="running", pid=13, healthy=True),)),
]

DECODERS = {
    s.MARKET_DATA_DECODER: s.MarketData,
    s.MARKET_CONTROL_DECODER: s.MarketControl,
    s.TRADE_COMMAND_DECODER: s.TradeCommand,
    s.ORDER_EVENT_DECODER: s.OrderEvent,
    s.AUTH_DECODER: s.AuthMessage,
    s.SYSTEM_DECODER: s.SystemMessage,
    s.HISTORY_DECODER: s.HistoryMessage,
    s.FENCE_DECODER: s.AccountFence,
}
REPLY_DECODER = msgspec.json.Decoder(s.TradeReply)


def _all_concrete_types() -> set[type]:
    found: set[type] = set()
    stack = list(BusMessage.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls is not s.OrderEventBase:
            found.add(cls)
    return found


def _decoder_for(message: BusMessage) -> msgspec.json.Decoder:
    for decoder, union in DECODERS.items():
        if type(message) in (typing.get_args(union) or (union,)):
            return decoder
    return REPLY_DECODER


def test_every_bus_type_has_a_round_trip_sample() -> None:
    missing = _all_concrete_types() - {type(m) for m in SAMPLES}
    assert not missing, f"add a sample for {sorted(t.__name__ for t in missing)}"


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_message_round_trips_through_its_family_decoder(message: BusMessage) -> None:
    data = s.encode(message)
    decoded = _decoder_for(message).decode(data)
    assert decoded == message
    assert type(decoded) is type(message)


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_message_is_plain_json_tagged_with_its_class_name(message: BusMessage) -> None:
    as_dict = json.loads(s.encode(message))
    assert as_dict["type"] == type(message).__name__


def test_messages_are_frozen() -> None:
    with pytest.raises(AttributeError):
        SAMPLES[0].seq = 8  # type: ignore[misc]


def test_old_reader_ignores_a_field_added_later() -> None:
    data = json.loads(s.encode(SAMPLES[0]))
    data["some_future_field"] = {"nested": [1, 2]}
    assert s.MARKET_DATA_DECODER.decode(json.dumps(data)) == SAMPLES[0]


def test_new_reader_defaults_a_field_an_old_writer_did_not_send() -> None:
    data = json.loads(s.encode(next(m for m in SAMPLES if isinstance(m, s.OrderFilled))))
    del data["fee"], data["fee_currency"], data["reconciliation"]
    decoded = s.ORDER_EVENT_DECODER.decode(json.dumps(data))
    assert decoded.fee == 0.0 and decoded.reconciliation is False


def test_decoder_for_subject_maps_each_family() -> None:
    assert s.decoder_for_subject("md.tick.ctp.SHFE.rb2601") is s.MARKET_DATA_DECODER
    assert s.decoder_for_subject("md.ctl.subscribe") is s.MARKET_CONTROL_DECODER
    assert s.decoder_for_subject("md.ctl.history") is s.HISTORY_DECODER
    assert s.decoder_for_subject("td.evt.ctp.1.O-1") is s.ORDER_EVENT_DECODER
    assert s.decoder_for_subject("td.cmd.ctp.1") is s.TRADE_COMMAND_DECODER
    assert s.decoder_for_subject("auth.opend.main.state") is s.AUTH_DECODER
    assert s.decoder_for_subject("sys.health.x") is s.SYSTEM_DECODER
    assert s.decoder_for_subject("other.thing") is None


def test_family_decoder_refuses_a_type_of_another_family() -> None:
    with pytest.raises(msgspec.ValidationError):
        s.ORDER_EVENT_DECODER.decode(s.encode(SAMPLES[0]))
