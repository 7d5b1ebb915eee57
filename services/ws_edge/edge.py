"""What every session of one ws_edge process shares: the bus, users, the market hub, the account book."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec

from tradebus.bus import Bus
from tradebus.config_sections.ws import WsConfig
from tradebus.ctp.exchanges import SHFE
from tradebus.logs import get_logger
from tradebus.ratelimit import LoginGuard, Throttled
from tradebus.runtime.metrics import Registry
from tradebus.schemas import TRADE_REPLY_DECODER, InstrumentInfo
from tradebus.schemas.base import BusMessage
from tradebus.subjects import td_cmd
from tradebus.users import User, UserStore, WeakPassword, WrongPassword
from tradebus.venue_directory import VenueDirectory
from ws_edge.accounts import AccountBook
from ws_edge.book_snapshots import BookSnapshots
from ws_edge.instruments import BusInstrument, InstrumentMap
from ws_edge.market import MarketHub
from ws_edge.orders import Labels, OrderState
from ws_edge.trading_day import trading_day

log = get_logger("ws_edge.edge")
FRONT_ID = 1  # the FrontID of every session of this edge (orders are keyed by FrontID+SessionID+OrderRef)
_INSTRUMENT_DECODER = msgspec.json.Decoder(InstrumentInfo)
VENUE_QUERY_TIMEOUT_S = 2.0  # a login waits at most this long for td_exec to list a venue's accounts


def anonymous_md_allowed(policy: str, address: str) -> bool:
    """Whether a credential-less /md/ login from ``address`` is taken under ``[ws] anonymous_md``."""
    if policy == "all":
        return True
    if policy != "loopback":
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


class Edge:
    def __init__(self, bus: Bus, config: WsConfig, users: UserStore, metrics: Registry, *, requester: str,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.bus = bus
        self.config = config
        self.users = users
        self.clock_ns = clock_ns
        self.front_id = FRONT_ID
        self.directory = VenueDirectory(bus, timeout=min(config.request_timeout_s, VENUE_QUERY_TIMEOUT_S))
        self.instruments = InstrumentMap(futures_venue=config.futures_venue, stocks_venue=config.stocks_venue)
        # webctp logins, console logins and password changes share one guard: one guessing budget.
        self.throttle = LoginGuard(config.login_fail_base_delay_s, config.login_fail_max_delay_s,
                                   config.login_fail_window_s, max_waiting_per_user=config.login_max_waiting)
        self.market = MarketHub(bus, requester, timeout=config.request_timeout_s, lease_s=config.md_lease_s,
                                to_webctp=lambda i: self.instruments.to_webctp(*i))
        books = BookSnapshots(bus, config, config.instance_id) if config.instance_id else None
        self.book = AccountBook(bus, self.labels, ready_timeout=config.request_timeout_s, snapshots=books)
        # argon2 verifications run one at a time off the event loop: a login storm queues, ticks flow.
        self._auth_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ws-auth")
        self.requests_in = metrics.counter("ws_requests_total", "client frames received", labels=("endpoint",))
        self.rate_limited = metrics.counter("ws_rate_limited_total", "requests refused by the per-connection limit")
        self.login_failures = metrics.counter("ws_login_failures_total", "failed ReqUserLogin")
        self.conflated = metrics.counter("ws_ticks_conflated_total", "ticks replaced by a newer one in a client queue")
        metrics.gauge("ws_nats_pending_msgs", "ticks waiting in the edge's NATS subscriptions",
                      source=lambda: float(self.market.pending_msgs()))
        metrics.gauge("ws_ticks_conflated_at_subscription", "ticks replaced before dispatch (edge behind)",
                      source=lambda: float(self.market.conflated_at_subscription))
        metrics.gauge("ws_ticks_deposed_holder", "ticks dropped: sent by a deposed md_ingest holder",
                      source=lambda: float(self.market.holdings.dropped))
        metrics.gauge("ws_instruments", "instruments with at least one client", source=lambda: len(self.market.feeds))

    async def start(self) -> None:
        self.market.start()
        self.book.start(self.config)
        await self.load_instruments()

    async def stop(self) -> None:
        await self.market.stop()
        await self.book.stop()
        self._auth_pool.shutdown(wait=False, cancel_futures=True)

    # --- users -------------------------------------------------------------------------------

    async def authenticate(self, name: str, password: str, address: str) -> User | None:
        """The user, or None for a wrong password *and* for an attempt refused unchecked (throttled):
        the client is told the same thing either way."""
        loop = asyncio.get_running_loop()
        try:
            async with self.throttle.attempt(name, address) as attempt:
                user = await loop.run_in_executor(self._auth_pool, self.users.verify_password, name, password)
                if user is None:
                    attempt.failed()
                    self.login_failures.inc()
                    log.warning("login failed", user=name, address=address)
                    return None
                attempt.succeeded()
                return user
        except Throttled as exc:
            self.login_failures.inc()
            log.warning("login refused unchecked", user=name, address=address, why=str(exc))
            return None

    def anonymous_md_allowed(self, address: str) -> bool:
        return anonymous_md_allowed(self.config.anonymous_md, address)

    async def accounts_of(self, user: User) -> list[tuple[str, str]]:
        """Every concrete (venue, account) of ``user``, wildcard grants resolved by td_exec's account lists."""
        return await self.directory.accounts(user)

    # --- trading days ----------------------------------------------------------------------------

    def home_exchange(self, venue: str) -> str:
        """The exchange whose calendar a venue-wide trading day follows (login, account records)."""
        return SHFE if venue == self.config.futures_venue else "HK"

    async def trading_day_now(self, venue: str) -> str:
        """The venue's current trading day (asks td_exec when the cached answer is old)."""
        info = await self.directory.info(venue)
        now = self.clock_ns()
        return trading_day(now, self.home_exchange(venue), venue_day=info.trading_day if info else None, now_ns=now)

    def trading_day_at(self, venue: str, exchange: str, ts_ns: int) -> str:
        info = self.directory.peek(venue)
        return trading_day(ts_ns, exchange, venue_day=info.trading_day if info else None, now_ns=self.clock_ns())

    async def change_password(self, name: str, old: str, new: str, address: str) -> str:
        """"" when ``name``'s password changed; else why not ("wrong" / "weak"). A wrong old password
        counts as a failed login, so this is no side door for guessing; a throttled attempt is "wrong"."""
        loop = asyncio.get_running_loop()
        try:
            async with self.throttle.attempt(name, address) as attempt:
                try:
                    await loop.run_in_executor(self._auth_pool, self.users.change_password, name, old, new)
                except WrongPassword:
                    attempt.failed()
                    self.login_failures.inc()
                    log.warning("password change refused: old password wrong", user=name, address=address)
                    return "wrong"
                except WeakPassword:
                    return "weak"
                attempt.succeeded()
        except Throttled as exc:
            log.warning("password change refused unchecked", user=name, address=address, why=str(exc))
            return "wrong"
        log.info("password changed", user=name, address=address)
        return ""

    # --- bus ---------------------------------------------------------------------------------

    async def command(self, venue: str, account: str, message: BusMessage) -> Any:
        return await self.bus.request(td_cmd(venue, account), message, TRADE_REPLY_DECODER,
                                      timeout=self.config.request_timeout_s)

    def labels(self, order: OrderState) -> Labels:
        return Labels(self.config.broker_id, self.instruments.to_webctp(order.venue, order.exchange, order.symbol),
                      self.trading_day_at(order.venue, order.exchange, order.ts_created))

    async def load_instruments(self) -> list[InstrumentInfo]:
        """Reference data from the ``instruments`` bucket (it also teaches the InstrumentID map)."""
        found: list[InstrumentInfo] = []
        try:
            kv = await self.bus.js.key_value("instruments")
            keys = await kv.keys()
        except Exception as exc:  # an empty bucket raises NoKeysError; no bucket yet is the same answer
            log.debug("no instruments in the bucket", error=str(exc))
            return found
        for key in keys:
            try:
                entry = await kv.get(key)
                info = _INSTRUMENT_DECODER.decode(entry.value) if entry.value else None
            except Exception:
                continue
            if info is not None:
                found.append(info)
                self.instruments.learn(info.venue, info.exchange, info.symbol)
        return found

    def webctp_id(self, instrument: BusInstrument) -> str:
        return self.instruments.to_webctp(*instrument)
