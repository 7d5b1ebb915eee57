"""The connection of a strategy: one bus user, its quotes and its accounts.

Every request is bounded (``timeout``) and every refusal becomes an exception: the bus's permission
violation (reported asynchronously by nats-server) is matched to the request that caused it, so a
strategy asking for an account it does not hold gets :class:`NotPermitted` at once instead of waiting
for a reply that cannot come.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import msgspec
import nats
from nats.aio.client import Client as Nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from tradebus.bus import Bus
from tradebus.bus.errors import RequestFailed, RequestTimeout
from tradebus.bus.flush import flush_in_order
from tradebus.client.errors import ClientError, NotPermitted, UnknownSymbol, VenueDown
from tradebus.client.history import BarSeries, tick_stream
from tradebus.client.quote import Quote
from tradebus.client.symbols import parse_account, parse_instrument
from tradebus.client.target import TargetPosTask
from tradebus.config import server_urls
from tradebus.instrument import Instrument
from tradebus.logs import get_logger
from tradebus.md_holding import Holdings
from tradebus.schemas import MARKET_CONTROL_DECODER
from tradebus.schemas.base import BusMessage
from tradebus.schemas.history import MAX_PAGE
from tradebus.schemas.market import SubscribeRequest, SubscriptionReply, Tick, UnsubscribeRequest
from tradebus.subjects import MD_CTL_SUBSCRIBE, MD_CTL_UNSUBSCRIBE

T = TypeVar("T")
_VIOLATION = re.compile(r'permissions violation for (publish|subscription) to "([^"]+)"', re.IGNORECASE)
DEFAULT_TIMEOUT_S = 5.0
CONSUMER_IDLE_S = 300.0  # a consumer nobody has listened to for this long is removed by the server
log = get_logger("tradebus.client")


class Client:
    """Use :meth:`connect`; ``async with await Client.connect(...) as client`` closes it."""

    def __init__(self, nc: Nats, user: str, timeout: float) -> None:
        self.nc = nc
        self.user = user
        self.timeout = timeout
        self.bus = Bus(nc, request_timeout=timeout)
        self.requester = f"{user}:{os.urandom(4).hex()}"  # our md.ctl references, released on close
        self._refused: dict[str, list[asyncio.Future[str]]] = {}
        self._quotes: dict[Instrument, Quote] = {}
        self._accounts: dict[tuple[str, str], Any] = {}
        self._tasks: set[asyncio.Future[None]] = set()
        self.holdings = Holdings()  # drops the live ticks and bars of a deposed md_ingest holder

    @classmethod
    async def connect(cls, url: str, user: str, password: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> Client:
        """Connect as bus user ``user`` (``tradebus user add NAME --accounts … --bus``); ``url`` may list
        every node of a cluster, comma-separated."""
        holder: list[Client] = []

        async def error_cb(exc: Exception) -> None:
            if holder:
                holder[0]._on_error(exc)

        async def reconnected_cb() -> None:
            if holder:  # not awaited here: the reload makes requests, which wait for the reconnect to finish
                task = asyncio.ensure_future(holder[0]._on_reconnected())
                holder[0]._tasks.add(task)
                task.add_done_callback(holder[0]._tasks.discard)

        try:
            nc = await nats.connect(servers=server_urls(url), user=user, password=password,
                                    name=f"tradebus.client:{user}", inbox_prefix=f"_INBOX.{user}",
                                    connect_timeout=timeout, error_cb=error_cb,
                                    reconnected_cb=reconnected_cb,
                                    max_reconnect_attempts=-1, reconnect_time_wait=1)
        except nats.errors.NoServersError as exc:
            raise ClientError(f"cannot reach the bus at {url}: {exc}") from None
        except nats.errors.Error as exc:
            raise NotPermitted(f"the bus refused user {user!r}: {exc}") from None
        client = cls(nc, user, timeout)
        holder.append(client)
        return client

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for quote in list(self._quotes.values()):
            with contextlib.suppress(ClientError, RequestFailed, RequestTimeout):
                await self._release(quote.instrument)
        if not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.drain(), self.timeout)
            await self.nc.close()

    # --- permission violations -----------------------------------------------------------------------

    def _on_error(self, exc: Exception) -> None:
        match = _VIOLATION.search(str(exc))
        if match is None:
            return
        for waiter in self._refused.pop(match.group(2).lower(), []):  # nats-py lower-cases the server's text
            if not waiter.done():
                waiter.set_result(f"the bus does not let user {self.user!r} {match.group(1).lower()} to "
                                  f"{match.group(2)}")

    @contextlib.contextmanager
    def _watch(self, subject: str) -> Any:
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        key = subject.lower()
        self._refused.setdefault(key, []).append(waiter)
        try:
            yield waiter
        finally:
            waiters = self._refused.get(key, [])
            if waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    self._refused.pop(key, None)

    async def request(self, subject: str, message: BusMessage, decoder: msgspec.json.Decoder[T], *,
                      timeout: float | None = None, attempts: int = 1) -> T:
        """Request/reply that ends in a reply, :class:`NotPermitted`, :class:`VenueDown` or a timeout.

        ``attempts`` > 1 resends the same message after a timeout: only for idempotent commands (a
        submit carries its client order id, so td_exec answers a repeat with the same order)."""
        for attempt in range(1, attempts + 1):
            try:
                return await self._request_once(subject, message, decoder, timeout)
            except RequestTimeout as exc:
                if attempt == attempts:
                    raise VenueDown(str(exc)) from None
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _request_once(self, subject: str, message: BusMessage, decoder: msgspec.json.Decoder[T],
                            timeout: float | None) -> T:
        with self._watch(subject) as refused:
            task = asyncio.ensure_future(self.bus.request(subject, message, decoder, timeout=timeout))
            done, _ = await asyncio.wait({task, refused}, return_when=asyncio.FIRST_COMPLETED)
            if refused in done:
                task.cancel()
                raise NotPermitted(refused.result())
        try:
            return task.result()
        except RequestFailed as exc:
            raise VenueDown(str(exc)) from None

    async def subscribe(self, subject: str, cb: Any) -> Any:
        """A core subscription, confirmed by a round trip that follows the SUB (``flush_in_order``): a message
        published after this returns reaches ``cb``. :class:`NotPermitted` when the bus refuses it."""
        with self._watch(subject) as refused:
            sub = await self.nc.subscribe(subject, cb=cb)
            # nats-server usually answers a refused SUB with -ERR before the PONG of this flush, but not
            # always; a refusal that comes later still fails the first request on the account's subjects.
            await flush_in_order(self.nc, self.timeout)
            if refused.done():
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
                raise NotPermitted(refused.result())
        return sub

    async def subscribe_md(self, subject: str, cb: Any) -> Any:
        """:meth:`subscribe` to live market data, without what a deposed md_ingest holder sends after the
        takeover (tradebus.md_holding; follows ``md.fence.>`` from the first call on)."""
        await self.holdings.follow(self.subscribe)
        return await self.subscribe(subject, self.holdings.guard(cb))

    async def follow_stream(self, stream: str, filter_subject: str, cb: Any) -> tuple[Any, str]:
        """Deliver ``stream``'s new messages on ``filter_subject`` to ``cb``, through a push consumer whose
        deliver subject is our own inbox: ``(subscription, consumer name)``.

        Why not a core subscription on the stream's subjects: nobody may subscribe to ``td.evt.>``, so that a
        consumer aimed into ``td.evt.…`` by a compromised reader never finds a listener there (and so never
        gets its bytes stored in TD_EVT); see docs/security.md. The consumer is created with the filtered
        form of the create subject, which is all a bus user may publish, and the server refuses a request
        whose subject and filter differ. It acknowledges nothing and is removed by the server once nobody
        has listened for :data:`CONSUMER_IDLE_S`."""
        deliver = self.nc.new_inbox()
        sub = await self.subscribe(deliver, cb)
        name = f"sdk-{os.urandom(8).hex()}"
        config = ConsumerConfig(name=name, filter_subject=filter_subject, deliver_subject=deliver,
                                deliver_policy=DeliverPolicy.NEW, ack_policy=AckPolicy.NONE,
                                inactive_threshold=CONSUMER_IDLE_S)
        create = f"$JS.API.CONSUMER.CREATE.{stream}.{name}.{filter_subject}"
        with self._watch(create) as refused:
            task = asyncio.ensure_future(self.nc.jetstream(timeout=self.timeout).add_consumer(stream, config))
            done, _ = await asyncio.wait({task, refused}, return_when=asyncio.FIRST_COMPLETED)
            if refused in done:
                task.cancel()
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
                raise NotPermitted(refused.result())
        try:
            task.result()
        except Exception as exc:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
            raise VenueDown(f"cannot follow {filter_subject}: {exc or type(exc).__name__}") from None
        return sub, name

    async def _on_reconnected(self) -> None:
        # A restarted server has forgotten our consumers, and events may have passed meanwhile: every
        # account follows again from a fresh consumer and takes td_exec's fold anew.
        for account in list(self._accounts.values()):
            try:
                await account.start()
            except ClientError as exc:
                log.warning("account not reloaded after a reconnect", account=account.name, error=str(exc))

    # --- market data ---------------------------------------------------------------------------------

    async def quote(self, name: str) -> Quote:
        """A :class:`Quote` of ``name`` (``ctp.SHFE.rb2601``), kept current from ``md.tick``."""
        instrument = parse_instrument(name)
        quote = self._quotes.get(instrument)
        if quote is not None:
            return quote
        reply = await self.request(MD_CTL_SUBSCRIBE, SubscribeRequest(
            venue=instrument.venue, exchange=instrument.exchange, symbol=instrument.symbol,
            requester=self.requester), MARKET_CONTROL_DECODER)
        if not isinstance(reply, SubscriptionReply) or not reply.ok:
            error = reply.error if isinstance(reply, SubscriptionReply) else f"unexpected {type(reply).__name__}"
            raise UnknownSymbol(f"{instrument}: {error}")
        quote = Quote(self, instrument)
        await quote.start()
        self._quotes[instrument] = quote
        return quote

    async def bars(self, name: str, period: str = "1m", count: int = 500) -> BarSeries:
        """The last ``count`` bars of ``name`` (history from md_ingest), then kept current from live 1-minute
        bars with no gap and no duplicate at the seam (:mod:`tradebus.client.history`)."""
        instrument = parse_instrument(name)
        if not 1 <= count <= MAX_PAGE:
            raise ValueError(f"count must be 1-{MAX_PAGE}")
        series = BarSeries(self, instrument, period, count)
        await series.start()
        return series

    def ticks(self, name: str, since_ns: int) -> AsyncIterator[Tick]:
        """Every tick of ``name`` from ``since_ns`` (stored ones first), then live: ``async for tick in ...``."""
        return tick_stream(self, parse_instrument(name), since_ns)

    def target_pos(self, account: Any, quote: Quote, **options: Any) -> TargetPosTask:
        """A :class:`~tradebus.client.target.TargetPosTask` for ``quote``'s instrument in ``account``."""
        return TargetPosTask(account, quote, **options)

    async def _release(self, instrument: Instrument) -> None:
        quote = self._quotes.pop(instrument, None)
        if quote is not None:
            await quote.stop()
        await self.request(MD_CTL_UNSUBSCRIBE, UnsubscribeRequest(
            venue=instrument.venue, exchange=instrument.exchange, symbol=instrument.symbol,
            requester=self.requester), MARKET_CONTROL_DECODER)

    # --- trading -------------------------------------------------------------------------------------

    async def account(self, name: str) -> Any:
        """The :class:`~tradebus.client.account.Account` ``name`` (``ctp:000001``), with its orders and fills
        loaded; :class:`NotPermitted` when it is not one of this user's accounts."""
        from tradebus.client.account import Account

        venue, account_id = parse_account(name)
        found = self._accounts.get((venue, account_id))
        if found is None:
            found = Account(self, venue, account_id)
            await found.start()
            self._accounts[(venue, account_id)] = found
        return found
