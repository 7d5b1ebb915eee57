"""``ReqUserLogin`` and ``ReqUserPasswordUpdate`` on ``/td/``: who the session is (docs/ws_edge.md, 'Login and
users', 'Where answers come from')."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradebus.ctp.errors import ErrorId
from ws_edge.envelope import response, rsp_info
from ws_edge.investor import parse_login
from ws_edge.replies import password_update_echo, td_login_body
from ws_edge.trading_day import china_now

if TYPE_CHECKING:
    from ws_edge.route import Request
    from ws_edge.td_session import TdSession

PASSWORD_CHANGE_ERROR = {"": ErrorId.SUCCESS, "wrong": ErrorId.OLD_PASSWORD_MISMATCH, "weak": ErrorId.WEAK_PASSWORD}


def _refuse_login(session: TdSession, request: Request, error_id: int) -> None:
    session.send(response(request.route.rsp_type, rsp_info(error_id), request_id=request.request_id, is_last=True,
                          has_body=False))


async def login(session: TdSession, request: Request) -> None:
    """As webctp, a second ReqUserLogin on the socket repeats the first login."""
    body = request.body
    first = session.user is None
    name = parse_login(body.get("UserID", "")) if first else session.login_name
    if not await session.login(name.user, body.get("Password", "")):
        _refuse_login(session, request, ErrorId.INVALID_LOGIN)
        return
    if first:
        session.login_id, session.login_name = body.get("UserID", ""), name
        if await session.session_investor() is None and (name.venue or name.account):
            session.user = None  # the login asked for an account this user does not hold
            _refuse_login(session, request, ErrorId.INVESTOR_NOT_FOUND)
            return
    for venue, account in await session.my_accounts():
        await session.watch(venue, account)
    clock = china_now().strftime("%H:%M:%S")
    login_body = td_login_body(
        trading_day=await session.trading_day(), clock=clock,
        broker_id=session.edge.config.broker_id, user_id=session.user_name, front_id=session.edge.front_id,
        session_id=session.session_id, max_order_ref=session.desk.max_order_ref)
    session.answer(request, [login_body], info=rsp_info(0))


async def password_update(session: TdSession, request: Request) -> None:
    """Changes the edge user's own password (the one ``ReqUserLogin`` checks), as a CTP front changes
    its user's: another user's → 10, wrong old password → 14 (and counted as a failed login), too
    short → 131."""
    body = request.body
    if body.get("UserID", "") != session.user_name:
        code = ErrorId.OTHERS_PASSWORD
    else:
        outcome = await session.edge.change_password(session.user_name, str(body.get("OldPassword", "")),
                                                     str(body.get("NewPassword", "")), session.address)
        code = PASSWORD_CHANGE_ERROR[outcome]
    session.answer(request, [password_update_echo(body)], info=rsp_info(code))
