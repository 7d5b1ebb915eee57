"""The reference-data queries of ``/td/``: instruments, products, exchanges, depth and the rate tables
(docs/ws_edge.md, 'Where answers come from')."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradebus.bus import BusError, last_message
from tradebus.schemas import MARKET_DATA_DECODER
from tradebus.schemas.account import InstrumentInfo, InstrumentsReply
from tradebus.schemas.market import Tick
from tradebus.schemas.orders import QueryInstruments
from tradebus.subjects import md_tick
from ws_edge.depth import depth_body
from ws_edge.instruments import BusInstrument
from ws_edge.replies import exchange_bodies, instrument_body, product_body

if TYPE_CHECKING:
    from ws_edge.route import Request
    from ws_edge.td_session import TdSession


def _wanted(body: dict[str, Any], keys: tuple[str, ...]) -> dict[str, str]:
    return {k: body.get(k, "").strip() for k in keys}


def _matches(record: dict[str, Any], wanted: dict[str, str]) -> bool:
    return all(not value or record[key] == value for key, value in wanted.items())


async def instruments(session: TdSession) -> list[InstrumentInfo]:
    """Every instrument once: the ``instruments`` bucket, or else each of the user's venues asked once."""
    edge = session.edge
    found = await edge.load_instruments()
    if not found:
        asked: set[str] = set()
        for venue, account in await session.my_accounts():
            if venue in asked:
                continue
            asked.add(venue)
            try:
                reply = await edge.command(venue, account, QueryInstruments(venue=venue, account=account,
                                                                            user=session.user_name))
            except BusError:
                continue
            if isinstance(reply, InstrumentsReply):
                found.extend(reply.instruments)
                for info in reply.instruments:
                    edge.instruments.learn(info.venue, info.exchange, info.symbol)
    unique = {(i.venue, i.exchange, i.symbol): i for i in found}
    return list(unique.values())


async def last_tick(session: TdSession, instrument: BusInstrument) -> Tick | None:
    """The edge's last tick of ``instrument``, else the last one in stream MD."""
    edge = session.edge
    tick = edge.market.last_tick(instrument)
    if tick is not None:
        return tick
    try:
        found = await last_message(edge.bus.js, "MD", md_tick(*instrument), MARKET_DATA_DECODER)
    except Exception:
        return None
    return found if isinstance(found, Tick) else None


def _instrument_record(session: TdSession, info: InstrumentInfo) -> dict[str, Any]:
    edge = session.edge
    reference = info.trading_day or edge.trading_day_at(info.venue, info.exchange, edge.clock_ns())
    return instrument_body(info, instrument_id=edge.instruments.to_webctp(info.venue, info.exchange, info.symbol),
                           reference_year=int(reference[:4]))


async def qry_instrument(session: TdSession, request: Request) -> None:
    wanted = _wanted(request.body, ("InstrumentID", "ExchangeID", "ProductID"))
    records = []
    for info in sorted(await instruments(session), key=lambda i: (i.venue, i.exchange, i.symbol)):
        record = _instrument_record(session, info)
        if _matches(record, wanted):
            records.append(record)
    session.answer(request, records)


async def qry_product(session: TdSession, request: Request) -> None:
    products: dict[tuple[str, str], dict[str, Any]] = {}
    for info in await instruments(session):
        record = _instrument_record(session, info)
        key = (record["ExchangeID"], record["ProductID"])
        if key not in products:
            products[key] = product_body(info, record)
    wanted = _wanted(request.body, ("ExchangeID", "ProductID", "ProductClass"))
    session.answer(request, [p for _, p in sorted(products.items()) if _matches(p, wanted)])


async def qry_depth(session: TdSession, request: Request) -> None:
    edge = session.edge
    instrument_id = request.body.get("InstrumentID", "").strip()
    if instrument_id:
        instrument = edge.instruments.resolve(instrument_id, request.body.get("ExchangeID", ""))
        targets = [instrument] if instrument else []
    else:
        targets = list(edge.market.feeds)
    records = []
    for instrument in targets:
        tick = await last_tick(session, instrument)
        if tick is not None:
            records.append(depth_body(tick, edge.webctp_id(instrument), md_push=False))
    session.answer(request, records)


async def qry_exchange(session: TdSession, request: Request) -> None:
    session.answer(request, exchange_bodies(request.body.get("ExchangeID", "").strip()))


async def qry_rates(session: TdSession, request: Request) -> None:
    """Rate tables (margin, commission, option costs): the bus carries none, so the answer is the
    empty result a front gives for an instrument without its own rates."""
    session.answer(request, [])
