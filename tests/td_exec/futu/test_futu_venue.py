"""FutuVenue against opend_sim's API port, through the unmodified futu-api: accounts and unlock,
orders and their pushes, fills, cancel, modify, definite rejects, queries, reference data."""

from __future__ import annotations

import pytest
from futu_venue_helpers import (
    HK,
    LOT,
    SYMBOL,
    RecordingSink,
    ServerThread,
    account_of,
    book,
    last_status,
    new_order,
    ref,
    resting_price,
)

from td_exec.checks import tick_at
from td_exec.futu_venue import FutuVenue
from td_exec.venue import VenueRejected
from tradebus.schemas.orders import OrderStatus, Side
from tradebus.sim import hk_tick_size


async def test_accounts_are_listed_with_env_and_real_ones_unlocked(
        venue: tuple[FutuVenue, RecordingSink], opend: ServerThread) -> None:
    adapter, sink = venue
    expected = {str(a.acc_id) for a in opend.server.trading.accounts}  # type: ignore[union-attr]
    assert set(adapter.accounts()) == expected
    envs = {(adapter.account_env(a), adapter.account_market(a)) for a in adapter.accounts()}
    assert envs == {("REAL", "HK"), ("REAL", "US"), ("SIMULATE", "HK"), ("SIMULATE", "US")}
    assert opend.call(lambda: opend.server.trading.unlocked)  # type: ignore[union-attr]
    assert sink.connections == [(True, sink.connections[0][1])]


async def test_resting_limit_order_is_accepted_and_carries_its_client_order_id(
        venue: tuple[FutuVenue, RecordingSink], opend: ServerThread) -> None:
    adapter, sink = venue
    account = account_of(adapter, "REAL")
    order = new_order(account, "O-rest-1", Side.BUY, LOT, resting_price(opend))
    venue_id = await adapter.submit(order)
    assert venue_id
    report = await sink.until(lambda: [r for r in sink.orders_of("O-rest-1") if r.status is OrderStatus.ACCEPTED],
                              what="accepted push")
    assert report[0].venue_order_id == venue_id and report[0].qty == LOT and not report[0].reconciliation
    rows = [r for r in await adapter.query_orders(account) if r.client_order_id == "O-rest-1"]
    assert len(rows) == 1 and rows[0].status is OrderStatus.ACCEPTED and rows[0].reconciliation


async def test_marketable_order_fills_partially_then_fully_with_stable_trade_ids(
        venue: tuple[FutuVenue, RecordingSink], opend: ServerThread) -> None:
    adapter, sink = venue
    account = account_of(adapter, "REAL")
    _, asks = book(opend)
    best_ask, ask_volume = asks[0]
    qty = ask_volume + LOT  # more than the best level holds: the rest waits at the limit
    order = new_order(account, "O-fill-1", Side.BUY, qty, best_ask)
    venue_id = await adapter.submit(order)
    await sink.until(lambda: last_status(sink, "O-fill-1") is OrderStatus.PARTIALLY_FILLED, what="partial")
    await sink.until(lambda: sum(f.qty for f in sink.fills_of("O-fill-1")) == ask_volume, what="partial deals")
    # reprice the remainder through the next level: it fills completely
    _, asks = book(opend)
    await adapter.modify(ref(order, venue_id), None, asks[0][0])
    await sink.until(lambda: last_status(sink, "O-fill-1") is OrderStatus.FILLED, what="filled")
    await sink.until(lambda: sum(f.qty for f in sink.fills_of("O-fill-1")) == qty, what="all deals")
    pushed = sink.fills_of("O-fill-1")
    assert all(f.trade_id.startswith("futu:") and f.venue_order_id == venue_id for f in pushed)
    assert len({f.trade_id for f in pushed}) == len(pushed)
    queried = [f for f in await adapter.query_fills(account) if f.client_order_id == "O-fill-1"]
    assert {f.trade_id for f in queried} == {f.trade_id for f in pushed}  # same ids from push and query
    assert all(f.reconciliation for f in queried)
    positions = {p.symbol: p for p in await adapter.query_positions(account)}
    assert positions[SYMBOL].qty == qty
    funds = await adapter.query_funds(account)
    assert funds and funds[0].currency == "HKD" and funds[0].cash < 500_000.0


async def test_cancel_ends_the_order_cancelled(venue: tuple[FutuVenue, RecordingSink], opend: ServerThread) -> None:
    adapter, sink = venue
    order = new_order(account_of(adapter, "REAL"), "O-cxl-1", Side.BUY, LOT, resting_price(opend))
    venue_id = await adapter.submit(order)
    await sink.until(lambda: last_status(sink, "O-cxl-1") is OrderStatus.ACCEPTED, what="accepted")
    await adapter.cancel(ref(order, None))  # found by its remark when the venue id is not at hand
    await sink.until(lambda: last_status(sink, "O-cxl-1") is OrderStatus.CANCELLED, what="cancelled")
    with pytest.raises(VenueRejected) as info:  # a second cancel is refused by OpenD: definite
        await adapter.cancel(ref(order, venue_id))
    assert "does not allow" in info.value.reason


async def test_modify_changes_price_and_quantity(venue: tuple[FutuVenue, RecordingSink], opend: ServerThread) -> None:
    adapter, sink = venue
    price = resting_price(opend)
    order = new_order(account_of(adapter, "REAL"), "O-mod-1", Side.BUY, LOT, price)
    venue_id = await adapter.submit(order)
    await sink.until(lambda: last_status(sink, "O-mod-1") is OrderStatus.ACCEPTED, what="accepted")
    lower = round(price - hk_tick_size(price - 1e-9), 3)
    await adapter.modify(ref(order, venue_id), 2 * LOT, lower)
    updated = await sink.until(lambda: [r for r in sink.orders_of("O-mod-1") if r.qty == 2 * LOT], what="modified")
    assert updated[-1].price == pytest.approx(lower) and updated[-1].status is OrderStatus.ACCEPTED


@pytest.mark.parametrize(("qty", "price_shift", "text"), [
    (LOT, 0.001, "spread table"),  # off the HK tick
    (LOT + 1, 0.0, "lot size"),  # not a board lot
])
async def test_venue_refusal_is_definite(venue: tuple[FutuVenue, RecordingSink], opend: ServerThread,
                                         qty: int, price_shift: float, text: str) -> None:
    adapter, _ = venue
    order = new_order(account_of(adapter, "REAL"), "O-rej-1", Side.BUY, qty, resting_price(opend) + price_shift)
    with pytest.raises(VenueRejected) as info:
        await adapter.submit(order)
    assert text in info.value.reason
    assert not [r for r in await adapter.query_orders(order.account) if r.client_order_id == "O-rej-1"]


async def test_a_client_order_id_longer_than_futus_remark_is_refused_before_sending(
        venue: tuple[FutuVenue, RecordingSink], opend: ServerThread) -> None:
    adapter, _ = venue
    order = new_order(account_of(adapter, "REAL"), "O-" + "x" * 70, Side.BUY, LOT, resting_price(opend))
    with pytest.raises(VenueRejected) as info:
        await adapter.submit(order)
    assert info.value.code == "client_order_id_too_long"


async def test_paper_account_fills_show_by_order_query_only(
        venue: tuple[FutuVenue, RecordingSink], opend: ServerThread) -> None:
    adapter, sink = venue
    account = account_of(adapter, "SIMULATE")
    _, asks = book(opend)
    order = new_order(account, "O-paper-1", Side.BUY, LOT, asks[0][0])
    await adapter.submit(order)
    await sink.until(lambda: last_status(sink, "O-paper-1") is OrderStatus.FILLED, what="paper filled push")
    assert not sink.fills_of("O-paper-1")  # OpenD paper trading sends no deals
    assert await adapter.query_fills(account) == []
    rows = [r for r in await adapter.query_orders(account) if r.client_order_id == "O-paper-1"]
    assert rows[0].filled_qty == LOT and rows[0].avg_fill_price == pytest.approx(asks[0][0])


async def test_orders_placed_elsewhere_have_no_client_order_id(
        venue: tuple[FutuVenue, RecordingSink], opend: ServerThread) -> None:
    adapter, sink = venue
    account = account_of(adapter, "REAL")
    price = resting_price(opend)
    sim_name = opend.call(lambda: opend.server.trading.sim_name(int(account)))  # type: ignore[union-attr]
    from tradebus.sim import Side as SimSide

    opend.call(lambda: opend.server.market.submit(sim_name, HK, SYMBOL, SimSide.BUY, LOT, price))  # type: ignore[union-attr]
    opend.call(opend.server.trading.flush)  # type: ignore[union-attr]
    foreign = await sink.until(lambda: [r for r in sink.orders if r.client_order_id is None], what="foreign push")
    assert foreign[0].account == account


async def test_instrument_reference_data_comes_from_the_venue(
        venue: tuple[FutuVenue, RecordingSink], opend: ServerThread) -> None:
    adapter, _ = venue
    info = await adapter.instrument(HK, SYMBOL)  # OpenD's static information (3202), not a snapshot
    last = opend.call(lambda: opend.market.quote(HK, SYMBOL)).last
    assert info is not None and info.lot_size == LOT
    assert tick_at(info, last) == pytest.approx(hk_tick_size(last))  # HK: the spread table decides
    us = await adapter.instrument("US", "AAPL")
    assert us is not None and us.lot_size == 1 and us.price_tick == 0.0  # no tick given: OpenD decides
    assert await adapter.instrument(HK, "99999") is None
    assert {i.symbol for i in await adapter.instruments(HK)} == {SYMBOL}
