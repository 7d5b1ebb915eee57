"""The investor's books on ``/td/``: orders and trades (the edge's fold of the event store), positions,
funds and max volume (td_exec), investor and trading codes (the edge itself). Each answers for one
account (docs/ws_edge.md, 'Which account a request uses', 'Where answers come from')."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tradebus.ctp.errors import ErrorId
from tradebus.ctp.exchanges import CTP_EXCHANGES
from tradebus.schemas.account import AccountSnapshot, PositionSnapshot
from ws_edge.envelope import Refused, rsp_info
from ws_edge.instruments import FUTU_MARKETS
from ws_edge.order_desk import NotSent
from ws_edge.orders import OrderState, order_body, trade_body
from ws_edge.replies import (
    investor_body,
    max_order_volume_body,
    position_body,
    position_detail_body,
    refusal_info,
    trading_account_body,
    trading_code_body,
)
from ws_edge.td_reference import instruments, last_tick

if TYPE_CHECKING:
    from ws_edge.route import Request
    from ws_edge.td_session import TdSession


# --- from the event store ---------------------------------------------------------------------------


async def _orders(session: TdSession, body: dict[str, Any]) -> list[OrderState]:
    wanted_id = body.get("InstrumentID", "").strip()
    wanted_exchange = body.get("ExchangeID", "").strip()
    wanted_sys = body.get("OrderSysID", "").strip()
    found: list[OrderState] = []
    feed = await session.watch(*await session.query_account(body))
    for order in feed.orders.values():
        labels = session.edge.labels(order)
        if wanted_id and labels.instrument_id != wanted_id:
            continue
        if wanted_exchange and order.exchange != wanted_exchange:
            continue
        if wanted_sys and (order.venue_order_id or "").strip() != wanted_sys:
            continue
        found.append(order)
    return sorted(found, key=lambda o: o.sequence)


async def qry_order(session: TdSession, request: Request) -> None:
    orders = await _orders(session, request.body)
    session.answer(request, [order_body(o, session.edge.labels(o)) for o in orders])


async def qry_trade(session: TdSession, request: Request) -> None:
    wanted_trade = request.body.get("TradeID", "").strip()
    records = []
    for order in await _orders(session, {**request.body, "OrderSysID": ""}):
        for f in order.trades:
            record = trade_body(order, f, session.edge.labels(order), query=True)
            if not wanted_trade or record["TradeID"].strip() == wanted_trade:
                records.append(record)
    session.answer(request, records)


# --- from td_exec ------------------------------------------------------------------------------------


async def _positions(session: TdSession, body: dict[str, Any]) -> list[PositionSnapshot]:
    wanted_id = body.get("InstrumentID", "").strip()
    wanted_exchange = body.get("ExchangeID", "").strip()
    venue, account = await session.query_account(body)
    try:
        positions = await session.desk.positions(venue, account)
    except NotSent as exc:
        raise Refused(refusal_info(exc.code, exc.reason)) from None
    to_webctp = session.edge.instruments.to_webctp
    return [p for p in positions
            if (not wanted_id or to_webctp(p.venue, p.exchange, p.symbol) == wanted_id)
            and (not wanted_exchange or p.exchange == wanted_exchange)]


async def _position_records(session: TdSession, request: Request,
                            render: Callable[..., dict[str, Any]]) -> None:
    edge = session.edge
    positions = await _positions(session, request.body)
    days = {p.venue: await edge.trading_day_now(p.venue) for p in positions}
    session.answer(request, [render(p, broker_id=edge.config.broker_id, trading_day=days[p.venue],
                                    instrument_id=edge.instruments.to_webctp(p.venue, p.exchange, p.symbol))
                             for p in positions])


async def qry_position(session: TdSession, request: Request) -> None:
    await _position_records(session, request, position_body)


async def qry_position_detail(session: TdSession, request: Request) -> None:
    await _position_records(session, request, position_detail_body)


async def _funds(session: TdSession, venue: str, account: str, currency: str = "") -> AccountSnapshot:
    """One funds record: the venue's record in ``currency``, else the first it lists (its base
    currency); a venue that lists none gives a zero record, never nothing."""
    try:
        funds = await session.desk.funds(venue, account)
    except NotSent as exc:
        raise Refused(refusal_info(exc.code, exc.reason)) from None
    picked = [f for f in funds if not currency or f.currency == currency]
    if picked:
        return picked[0]
    return AccountSnapshot(venue=venue, account=account, currency=currency, cash=0.0, available=0.0,
                           ts_event=session.edge.clock_ns())


async def qry_trading_account(session: TdSession, request: Request) -> None:
    """One TradingAccount per query, for one investor: a CTP client keeps one account record."""
    venue, account = await session.query_account(request.body)
    funds = await _funds(session, venue, account, request.body.get("CurrencyID", "").strip())
    record = trading_account_body(funds, broker_id=session.edge.config.broker_id,
                                  trading_day=await session.edge.trading_day_now(venue))
    session.answer(request, [record])


def max_volume(available: float, price: float, multiplier: float, lot: int) -> int:
    """Whole lots that ``available`` pays for at ``price``, with no margin discount (0 without a price)."""
    return int(available // (price * multiplier * lot)) * lot if price > 0 else 0


async def qry_max_volume(session: TdSession, request: Request) -> None:
    """Cash-only bound: available funds over the last price (times the multiplier), in whole lots.
    Margin rates are not known to the edge, so for futures this is conservative (margin rate 1)."""
    body, edge = request.body, session.edge
    instrument = edge.instruments.resolve(body.get("InstrumentID", ""), body.get("ExchangeID", ""))
    target = await session.target_account(body.get("InvestorID", ""), instrument.venue) if instrument else None
    if instrument is None or target is None:
        session.refuse(request, rsp_info(ErrorId.INSTRUMENT_NOT_FOUND))
        return
    tick = await last_tick(session, instrument)
    infos = {(i.venue, i.exchange, i.symbol): i for i in await instruments(session)}
    info = infos.get(tuple(instrument))
    available = (await _funds(session, *target)).available
    volume = max_volume(available, tick.last if tick and tick.last else 0.0, info.multiplier if info else 1.0,
                        info.lot_size if info else 1)
    session.answer(request, [max_order_volume_body(body, broker_id=edge.config.broker_id, account=target[1],
                                                   exchange=instrument.exchange, max_volume=volume)])


# --- from the edge -----------------------------------------------------------------------------------


async def qry_investor(session: TdSession, request: Request) -> None:
    venue, account = await session.query_account(request.body)
    session.answer(request, [investor_body(broker_id=session.edge.config.broker_id, venue=venue, account=account,
                                           user_name=session.user_name)])


async def qry_trading_code(session: TdSession, request: Request) -> None:
    wanted = request.body.get("ExchangeID", "").strip()
    venue, account = await session.query_account(request.body)
    exchanges = CTP_EXCHANGES if venue == session.edge.config.futures_venue else FUTU_MARKETS
    session.answer(request, [trading_code_body(broker_id=session.edge.config.broker_id, account=account, exchange=ex)
                             for ex in exchanges if not wanted or ex == wanted])
