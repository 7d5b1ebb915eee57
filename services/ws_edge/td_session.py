"""The trading session (``/td/``): dispatch by the route table, and the investor the session acts for.

Each routed request is answered by its handler in the route table (``ws_edge.routes``): the login and
password change (``td_user``), the investor's books (``td_books``), reference data (``td_reference``) and
orders (``td_trading``, through the ``OrderDesk`` the console shares). A handler checks, asks the bus,
renders (``replies``, ``orders``, ``depth``) and answers through :meth:`TdSession.answer`.

Account scoping: a session only ever names accounts its user may use, and it is one investor
(``ws_edge.investor``; documented in docs/ws_edge.md, 'Which account a request uses'):

* queries answer for the session's investor, or for the account an ``InvestorID`` names;
* an order goes to that account when it is on the instrument's venue, otherwise to the user's first
  account on that venue (CTP instruments → the futures venue, ``HK.``/``US.``… → the stocks venue).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradebus.bus import BusError, RequestTimeout
from tradebus.ctp.errors import ErrorId
from tradebus.logs import get_logger
from ws_edge.accounts import AccountFeed
from ws_edge.channel import Channel
from ws_edge.envelope import (
    CALL_FAILED,
    NOT_IMPLEMENTED,
    NOT_LOGGED_IN,
    Refused,
    call_failed,
    error,
    response,
    rsp_info,
    stream,
)
from ws_edge.investor import Account, LoginName, named_account, pick_investor
from ws_edge.order_desk import OrderDesk
from ws_edge.route import Request, RouteTable
from ws_edge.session import Session

if TYPE_CHECKING:
    from ws_edge.edge import Edge

log = get_logger("ws_edge.td")


class TdSession(Session):
    kind = "td"

    def __init__(self, edge: Edge, channel: Channel, address: str, table: RouteTable) -> None:
        super().__init__(edge, channel, address, table)
        self.login_id = ""  # the UserID this session logged in with
        self.login_name = LoginName("")
        self.investor: Account | None = None
        self._desk: OrderDesk | None = None

    @property
    def desk(self) -> OrderDesk:
        """This session's trading steps (made once the user is known)."""
        if self._desk is None:
            self._desk = OrderDesk(self.edge, self.user_name, self.session_id, target=self)
        return self._desk

    # --- dispatch (docs/ws_edge.md, 'Dispatch') ------------------------------------------------------------

    async def dispatch(self, msg_type: str, data: dict[str, Any]) -> None:
        route = self.table.get(msg_type)
        if route is None:
            known = msg_type in self.table.known_unrouted
            self.send(error(msg_type, NOT_LOGGED_IN if known and self.user is None else NOT_IMPLEMENTED))
            return
        body, request_id = self.table.validate(msg_type, data)
        request = Request(msg_type, route, body, request_id)
        if not route.needs_login:
            await route.handler(self, request)  # the login: the edge's own answer, never a call to td_exec
            return
        if self.user is None:
            self.send(error(msg_type, NOT_LOGGED_IN))
            return
        try:
            await route.handler(self, request)
        except Refused as exc:
            self.refuse(request, exc.info)
        except RequestTimeout as exc:
            log.warning("td_exec did not answer", request=msg_type, error=str(exc))
            self.send(call_failed(route.rsp_type, CALL_FAILED))
        except BusError as exc:
            log.warning("request failed on the bus", request=msg_type, error=str(exc))
            self.send(call_failed(route.rsp_type, CALL_FAILED))

    # --- answers ---------------------------------------------------------------------------------

    def answer(self, request: Request, records: list[dict[str, Any]], info: dict[str, Any] | None = None) -> None:
        """The answer to ``request``: one message per record (``IsLast`` on the last), or the route's empty
        body when there is none."""
        route = request.route
        self.send_all(stream(route.rsp_type, route.rsp_key, records, request_id=request.request_id,
                             empty=route.empty, info=info))

    def refuse(self, request: Request, info: dict[str, Any], body: dict[str, Any] | None = None) -> None:
        """A single answer carrying the error ``info`` (and ``body`` when the reply echoes the request)."""
        route = request.route
        self.send(response(route.rsp_type, info, route.rsp_key, body, request_id=request.request_id,
                           is_last=True))

    # --- accounts ------------------------------------------------------------------------------

    async def my_accounts(self) -> list[Account]:
        """Every concrete account of the user (wildcard grants resolved)."""
        assert self.user is not None
        return await self.edge.accounts_of(self.user)

    async def session_investor(self) -> Account | None:
        """The account this session is (picked at login; picked again while none could be)."""
        if self.investor is None:
            self.investor = pick_investor(await self.my_accounts(), self.login_name, self.edge.config.futures_venue)
        return self.investor

    async def target_account(self, investor_id: str, venue: str | None = None) -> Account | None:
        """The account a request addresses (see the module docstring); None when it names none of the
        user's, or the user has none on ``venue``."""
        assert self.user is not None
        investor_id = investor_id.strip()
        mine = await self.my_accounts()
        if investor_id and investor_id not in (self.login_id, self.user.name):
            return named_account(investor_id, mine, venue)
        investor = await self.session_investor()
        if venue is None or (investor is not None and investor[0] == venue):
            return investor
        return next((a for a in mine if a[0] == venue), None)

    async def target_accounts(self, investor_id: str, venue: str | None = None) -> list[Account]:
        found = await self.target_account(investor_id, venue)
        return [found] if found is not None else []

    async def query_account(self, body: dict[str, Any], venue: str | None = None) -> Account:
        """The one account a query answers for; refused with CTP's 13 when it is none of the user's."""
        found = await self.target_account(body.get("InvestorID", "") or body.get("AccountID", ""), venue)
        if found is None:
            raise Refused(rsp_info(ErrorId.INVESTOR_NOT_FOUND))
        return found

    async def trading_day(self) -> str:
        investor = await self.session_investor()
        return await self.edge.trading_day_now(investor[0] if investor else self.edge.config.futures_venue)

    async def watch(self, venue: str, account: str) -> AccountFeed:
        """The account's feed, its pushes going to this session from now on."""
        return await self.desk.feed(venue, account)

    def push_frames(self, frames: list[bytes]) -> None:
        for frame in frames:
            self.channel.send(frame)

    async def closed(self) -> None:
        self.edge.book.detach(self)
