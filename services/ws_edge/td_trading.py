"""``ReqOrderInsert`` and ``ReqOrderAction`` on ``/td/``: the webctp form read into the ``OrderDesk``'s steps.

Success has no reply of its own: ``RtnOrder`` / ``RtnTrade`` follow from the event store. A refusal is
``RspOrderInsert`` + ``ErrRtnOrderInsert`` (or ``RspOrderAction``) carrying the CTP error of the
desk's :class:`~ws_edge.order_desk.NotSent` (docs/ws_edge.md, 'Which account a request uses', 'Flow control').
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradebus.ctp.errors import ErrorId
from tradebus.logs import get_logger
from ws_edge.envelope import push, rsp_info
from ws_edge.order_desk import ORDER_NOT_FOUND, UNKNOWN_ACCOUNT, NotSent
from ws_edge.orders import OrderFieldError, action_change, coid_for, input_order_echo, order_terms, parse_order_ref
from ws_edge.replies import order_action_echo, refusal_info

if TYPE_CHECKING:
    from ws_edge.route import Request
    from ws_edge.td_session import TdSession

log = get_logger("ws_edge.td")


async def order_insert(session: TdSession, request: Request) -> None:
    try:
        await _insert(session, request.body)
    except NotSent as exc:
        _insert_error(session, request, refusal_info(exc.code, exc.reason))
    except OrderFieldError as exc:
        log.info("order refused", reason=str(exc), user=session.user_name)
        _insert_error(session, request, rsp_info(ErrorId.BAD_ORDER_FIELD))


async def _insert(session: TdSession, body: dict[str, Any]) -> None:
    desk = session.desk
    instrument = desk.instrument(body.get("InstrumentID", ""), body.get("ExchangeID", ""))
    target = await session.target_account(body.get("InvestorID", ""), instrument.venue)
    if target is None:
        raise NotSent(UNKNOWN_ACCOUNT, f"no account of yours trades on {instrument.venue}")
    command = desk.new_order(target, instrument, order_terms(body), parse_order_ref(body.get("OrderRef", "")))
    await session.watch(*target)
    await desk.submit(command)


def _insert_error(session: TdSession, request: Request, info: dict[str, Any]) -> None:
    echo = input_order_echo(request.body)
    session.refuse(request, info, echo)
    session.send(push("ErrRtnOrderInsert", request.route.rsp_key, echo, info))


async def order_action(session: TdSession, request: Request) -> None:
    try:
        await _action(session, request.body)
    except NotSent as exc:
        session.refuse(request, refusal_info(exc.code, exc.reason), order_action_echo(request.body))
    except OrderFieldError:
        session.refuse(request, rsp_info(ErrorId.BAD_ORDER_FIELD), order_action_echo(request.body))


async def _action(session: TdSession, body: dict[str, Any]) -> None:
    """The order is looked for in the named investor first, then in the user's other accounts: an order
    placed here on another venue than the investor's (HK.00700 from a CTP session) is still this user's
    to cancel."""
    ref = body.get("OrderRef", "").strip()
    coid = ""
    if ref.isdigit() and body.get("FrontID") and body.get("SessionID"):
        coid = coid_for(int(body["FrontID"]), int(body["SessionID"]), int(ref))
    sys_id = body.get("OrderSysID", "")
    if not coid and not sys_id.strip():
        raise NotSent(ORDER_NOT_FOUND, "the action names no order (OrderRef with FrontID and SessionID, or OrderSysID)")
    first = await session.target_accounts(body.get("InvestorID", ""))
    accounts = first + [a for a in await session.my_accounts() if a not in first]
    desk = session.desk
    order = await desk.find(accounts, client_order_id=coid, order_sys_id=sys_id, exchange=body.get("ExchangeID", ""))
    desk.check_working(order)
    change = action_change(body)
    if change is None:
        await desk.cancel(order)
    else:
        price, qty = change
        await desk.modify(order, price=price, qty=qty)
