"""CtpVenue against a ctp_sim process: login, orders, fills, cancels, rejects, offsets, queries."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from ctp_venue_helpers import INVESTOR, CallLog, RecordingSink, book, start_venue, venue_order

from td_exec.ctp_venue import CtpVenue
from td_exec.venue import OrderRef, VenueRejected, VenueUnsupported
from tradebus.ctp.api import create_trader_api
from tradebus.ctp.ids import parse_order_key as parse_venue_order_id
from tradebus.schemas.account import PositionSide
from tradebus.schemas.orders import Offset, OrderStatus, OrderType, Side, TimeInForce

Venue = tuple[CtpVenue, RecordingSink]


def ref_of(coid: str, report_venue_id: str | None, symbol: str = "rb2601") -> OrderRef:
    return OrderRef(account=INVESTOR, client_order_id=coid, venue_order_id=report_venue_id,
                    exchange="SHFE", symbol=symbol)


async def test_login_reports_connection_and_loads_instruments(venue: Venue) -> None:
    adapter, sink = venue
    assert sink.connections[0][0] is True and "SessionID=" in sink.connections[0][1]
    assert adapter.accounts() == [INVESTOR]
    rb = await adapter.instrument("SHFE", "rb2601")
    assert rb is not None and rb.price_tick == 1.0 and rb.multiplier == 10.0 and rb.kind == "future"
    assert rb.lower_limit is not None and rb.upper_limit is not None and rb.lower_limit < rb.upper_limit
    assert rb.trading_day == adapter.trading_day
    assert {i.exchange for i in await adapter.instruments()} == {"SHFE", "DCE", "CZCE", "CFFEX", "INE"}
    assert [i.symbol for i in await adapter.instruments("INE")] == ["sc2601"]
    assert await adapter.instrument("SHFE", "rb9999") is None


async def test_resting_order_is_accepted_then_cancelled(venue: Venue) -> None:
    adapter, sink = venue
    rb = await adapter.instrument("SHFE", "rb2601")
    assert rb is not None and rb.lower_limit is not None
    assert await adapter.submit(venue_order("rest-1", price=rb.lower_limit)) is None
    accepted = await sink.wait(lambda: sink.last("rest-1") if sink.last("rest-1") and
                               sink.last("rest-1").status is OrderStatus.ACCEPTED else None, what="accepted")
    assert [r.status for r in sink.order_states("rest-1")] == [OrderStatus.SUBMITTED, OrderStatus.ACCEPTED]
    keys = parse_venue_order_id(accepted.venue_order_id)
    assert keys is not None and keys[2] > 0
    assert accepted.side is Side.BUY and accepted.qty == 1 and accepted.price == rb.lower_limit
    await adapter.cancel(ref_of("rest-1", accepted.venue_order_id))
    done = await sink.wait(lambda: sink.last("rest-1").status is OrderStatus.CANCELLED and sink.last("rest-1"),
                           what="cancelled")
    assert done.venue_order_id == accepted.venue_order_id and done.filled_qty == 0
    # Cancelling a finished order: the front refuses with error 26, reported once (Rsp + ErrRtn).
    await adapter.cancel(ref_of("rest-1", accepted.venue_order_id))
    reject = await sink.wait(lambda: sink.cancel_rejects and sink.cancel_rejects[0], what="cancel reject")
    assert reject.client_order_id == "rest-1" and reject.code == "26"
    assert reject.reason == "CTP:报单已全成交或已撤销，不能再撤"
    orders = await adapter.query_orders(INVESTOR)
    assert len(sink.cancel_rejects) == 1
    assert [(o.client_order_id, o.status, o.reconciliation) for o in orders] == [
        ("rest-1", OrderStatus.CANCELLED, True)]


async def test_marketable_order_fills_and_a_bigger_one_partially(venue: Venue) -> None:
    adapter, sink = venue
    rb = await adapter.instrument("SHFE", "rb2601")
    assert rb is not None and rb.upper_limit is not None
    await adapter.submit(venue_order("fill-1", qty=2, price=rb.upper_limit))
    await sink.wait(lambda: sum(f.qty for f in sink.fills_of("fill-1")) == 2, what="fills of fill-1")
    await sink.wait(lambda: sink.last("fill-1").status is OrderStatus.FILLED, what="filled")
    assert sink.last("fill-1").filled_qty == 2
    fills = sink.fills_of("fill-1")
    venue_id = sink.last("fill-1").venue_order_id
    for f in fills:
        assert f.trade_id.startswith("ctp:SHFE:") and f.trade_id.split(":")[2].isdigit()
        assert f.offset is Offset.OPEN and f.side is Side.BUY and f.venue_order_id == venue_id
        assert rb.lower_limit <= f.price <= rb.upper_limit and f.ts_event > 0
    assert len({f.trade_id for f in fills}) == len(fills)
    # Buy more than the best ask shows, at the best ask: part trades at once, the rest rests.
    depth = await book(adapter, "rb2601")
    ask, shown = depth["AskPrice1"], depth["AskVolume1"]
    await adapter.submit(venue_order("part-1", qty=shown + 200, price=ask))
    part = await sink.wait(lambda: next((r for r in sink.order_states("part-1")
                                         if r.status is OrderStatus.PARTIALLY_FILLED), None), what="partial")
    assert 0 < part.filled_qty < shown + 200
    await adapter.cancel(ref_of("part-1", part.venue_order_id))
    done = await sink.wait(lambda: sink.last("part-1").status is OrderStatus.CANCELLED and sink.last("part-1"),
                           what="partial cancelled")
    assert done.filled_qty >= part.filled_qty
    await sink.wait(lambda: sum(f.qty for f in sink.fills_of("part-1")) == done.filled_qty, what="part fills")
    # The reconciliation view agrees with the pushes.
    fills_q = await adapter.query_fills(INVESTOR)
    assert {f.trade_id for f in fills_q} == {f.trade_id for f in sink.fills}
    assert all(f.reconciliation and f.client_order_id in ("fill-1", "part-1") for f in fills_q)


async def test_rejects_carry_the_ctp_error(venue: Venue) -> None:
    adapter, sink = venue
    rb = await adapter.instrument("SHFE", "rb2601")
    assert rb is not None and rb.lower_limit is not None and rb.upper_limit is not None
    # The front refuses: no such instrument → error 16, one REJECTED although Rsp and ErrRtn both come.
    await adapter.submit(venue_order("bad-inst", symbol="rb9999", price=3000.0))
    rej = await sink.wait(lambda: sink.last("bad-inst"), what="reject")
    assert rej.status is OrderStatus.REJECTED and (rej.code, rej.reason) == ("16", "CTP:找不到合约")
    # The exchange refuses: price outside the day's limits → cancelled with InsertRejected.
    await adapter.submit(venue_order("too-high", price=rb.upper_limit + 10 * rb.price_tick))
    high = await sink.wait(lambda: sink.last("too-high") if sink.last("too-high") and
                           sink.last("too-high").status is OrderStatus.REJECTED else None, what="limit reject")
    assert high.code == "OrderSubmitStatus=4" and high.reason.startswith("已撤单报单被拒绝SHFE:")
    # A close of yesterday's position that does not exist (plain Close on SHFE) → error 51.
    await adapter.submit(venue_order("no-pos", side=Side.SELL, offset=Offset.CLOSE, price=rb.lower_limit))
    nopos = await sink.wait(lambda: sink.last("no-pos"), what="position reject")
    assert (nopos.status, nopos.code, nopos.reason) == (OrderStatus.REJECTED, "51", "CTP:平昨仓位不足")
    await asyncio.sleep(0)  # let the ErrRtnOrderInsert twins arrive before counting
    await adapter.query_funds(INVESTOR)  # a full query round trip: everything sent before it has arrived
    assert len(sink.order_states("bad-inst")) == 1 and len(sink.order_states("no-pos")) == 1
    # What never reaches the front is refused here, definitely.
    with pytest.raises(VenueRejected, match="offset"):
        await adapter.submit(venue_order("no-offset", price=rb.lower_limit, offset=Offset.NONE))
    with pytest.raises(VenueUnsupported):
        await adapter.modify(ref_of("too-high", high.venue_order_id), 2, None)


async def test_close_today_on_shfe(venue: Venue) -> None:
    adapter, sink = venue
    rb = await adapter.instrument("SHFE", "rb2601")
    assert rb is not None and rb.lower_limit is not None and rb.upper_limit is not None
    await adapter.submit(venue_order("open-1", qty=3, price=rb.upper_limit))
    await sink.wait(lambda: sum(f.qty for f in sink.fills_of("open-1")) == 3, what="open fills")
    [long] = [p for p in await adapter.query_positions(INVESTOR) if p.symbol == "rb2601"]
    assert (long.side, long.qty, long.today_qty, long.yesterday_qty) == (PositionSide.LONG, 3, 3, 0)
    assert long.avg_price > 0 and long.margin > 0
    await adapter.submit(venue_order("close-1", side=Side.SELL, qty=2, offset=Offset.CLOSE_TODAY,
                                     price=rb.lower_limit))
    await sink.wait(lambda: sum(f.qty for f in sink.fills_of("close-1")) == 2, what="close fills")
    assert {f.offset for f in sink.fills_of("close-1")} == {Offset.CLOSE_TODAY}
    [left] = [p for p in await adapter.query_positions(INVESTOR) if p.symbol == "rb2601"]
    assert (left.qty, left.today_qty) == (1, 1)
    [funds] = await adapter.query_funds(INVESTOR)
    assert funds.currency == "CNY" and funds.margin > 0 and funds.fees > 0 and funds.available < funds.equity


async def test_market_order_is_ioc_and_refused_on_shfe(venue: Venue) -> None:
    adapter, sink = venue
    await adapter.submit(venue_order("mkt-dce", symbol="m2601", exchange="DCE", qty=1, price=None,
                                     order_type=OrderType.MARKET))
    await sink.wait(lambda: sum(f.qty for f in sink.fills_of("mkt-dce")) == 1, what="market fill")
    await adapter.submit(venue_order("mkt-shfe", qty=1, price=None, order_type=OrderType.MARKET,
                                     tif=TimeInForce.IOC))
    rej = await sink.wait(lambda: sink.last("mkt-shfe") if sink.last("mkt-shfe") and
                          sink.last("mkt-shfe").status is OrderStatus.REJECTED else None, what="shfe market")
    assert "不支持市价单" in rej.reason


async def test_queries_are_queued_one_per_second(front, tmp_path) -> None:  # type: ignore[no-untyped-def]
    logs: list[CallLog] = []

    def factory(addr: str, flow: str) -> CallLog:
        logs.append(CallLog(create_trader_api(addr, flow)))
        return logs[-1]

    adapter, _ = await start_venue(front, tmp_path / "td", factory)
    try:
        results = await asyncio.gather(
            adapter.query_positions(INVESTOR), adapter.query_funds(INVESTOR), adapter.query_orders(INVESTOR),
            adapter.query_fills(INVESTOR), adapter.query_funds(INVESTOR),
        )
        assert len(results[1]) == 1 and len(results[4]) == 1 and results[2] == [] and results[3] == []
        queries = [(name, at, rc) for name, at, rc in logs[0].calls if name.startswith("ReqQry")]
        assert len(queries) == 7  # instruments + limits at login, then the five
        assert all(rc == 0 for _, _, rc in queries), queries  # paced, so CTP never had to refuse one
        gaps = [b[1] - a[1] for a, b in itertools.pairwise(queries)]
        assert min(gaps) >= 0.99, gaps
    finally:
        await adapter.stop()


async def test_submit_while_disconnected_is_refused_without_sending(front, tmp_path) -> None:  # type: ignore[no-untyped-def]
    adapter, sink = await start_venue(front, tmp_path / "td")
    try:
        front.stop()
        await sink.wait(lambda: not sink.connections[-1][0], what="disconnect")
        assert "front disconnected" in sink.connections[-1][1]
        with pytest.raises(VenueRejected) as info:
            await adapter.submit(venue_order("offline", price=3000.0))
        assert info.value.code == "not_connected"
    finally:
        await adapter.stop()
