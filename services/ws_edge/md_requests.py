"""The three ``/md/`` requests: ``ReqUserLogin``, ``SubscribeMarketData`` and ``UnSubscribeMarketData``
(docs/ws_edge.md, 'Login and users', 'Subscribing', 'Market-data requests')."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradebus.ctp.errors import MD_SUCCESS_TEXT, ErrorId
from ws_edge.envelope import response, rsp_info
from ws_edge.instruments import BusInstrument
from ws_edge.replies import md_login_body
from ws_edge.requests import validate_instrument_list, validate_md_login
from ws_edge.trading_day import china_now

if TYPE_CHECKING:
    from ws_edge.route import Request
    from ws_edge.session import MdSession


async def login(session: MdSession, request: Request) -> None:
    body = validate_md_login(request.body)
    rsp_type = request.route.rsp_type
    if session.anonymous_login(body) or session.anonymous:
        session.anonymous = True
    elif not await session.login(body["UserID"], body["Password"]):
        session.send(response(rsp_type, rsp_info(ErrorId.INVALID_LOGIN), is_last=True, has_body=False))
        return
    clock = china_now().strftime("%H:%M:%S")
    edge = session.edge
    login_body = md_login_body(trading_day=await edge.trading_day_now(edge.config.futures_venue), clock=clock,
                               broker_id=edge.config.broker_id, user_id=session.user_name)
    session.send(response(rsp_type, rsp_info(0, MD_SUCCESS_TEXT), request.route.rsp_key, login_body, is_last=True))


def _reply(session: MdSession, request: Request, instrument_id: str, done: bool, *, last: bool) -> None:
    """The reply for one instrument: 0 when done, 16 when not."""
    route = request.route
    info = rsp_info(0, MD_SUCCESS_TEXT) if done else rsp_info(ErrorId.INSTRUMENT_NOT_FOUND)
    session.send(response(route.rsp_type, info, route.rsp_key, {"InstrumentID": instrument_id}, is_last=last))


async def subscribe(session: MdSession, request: Request) -> None:
    instrument_ids = validate_instrument_list(request.msg_type, request.body)
    market = session.edge.market
    accepted: list[BusInstrument] = []
    last = len(instrument_ids) - 1
    for i, instrument_id in enumerate(instrument_ids):
        instrument = session.edge.instruments.resolve(instrument_id)
        problem = "unknown instrument" if instrument is None else ""
        if instrument is not None and instrument_id not in session.subscribed:
            problem = await market.acquire(instrument)
            if not problem:
                accepted.append(instrument)
                session.subscribed[instrument_id] = instrument
        _reply(session, request, instrument_id, not problem, last=i == last)
    for instrument in accepted:
        await market.attach(session.channel, instrument)


async def unsubscribe(session: MdSession, request: Request) -> None:
    instrument_ids = validate_instrument_list(request.msg_type, request.body)
    last = len(instrument_ids) - 1
    for i, instrument_id in enumerate(instrument_ids):
        instrument = session.subscribed.pop(instrument_id, None)
        if instrument is not None:
            await session.edge.market.release(session.channel, instrument)
        # Not subscribed on this socket (never, or its subscribe failed): nothing was undone, so say so.
        _reply(session, request, instrument_id, instrument is not None, last=i == last)
