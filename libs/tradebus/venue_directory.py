"""What the edges know about each venue: its accounts and its trading day, asked of td_exec.

td_exec answers ``QueryVenue`` on ``td.cmd.<venue>.-`` with ``VenueInfo``. An edge keeps each answer for
``ttl_s`` (an account list changes when OpenD or a CTP front logs in, not per request), and one request
per venue is in flight at a time. When td_exec does not answer, the venue is unknown for ``ttl_s``: a
``<venue>:*`` grant then resolves to no account of that venue, and the edge says so in its answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from tradebus.bus import Bus, BusError
from tradebus.logs import get_logger
from tradebus.schemas import TRADE_REPLY_DECODER
from tradebus.schemas.orders import QueryVenue, VenueInfo
from tradebus.subjects import td_venue
from tradebus.users import User, resolve_accounts

log = get_logger("tradebus.venue_directory")


class VenueDirectory:
    def __init__(self, bus: Bus, *, timeout: float, ttl_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bus = bus
        self.timeout = timeout
        self.ttl_s = ttl_s
        self.clock = clock
        self._known: dict[str, tuple[float, VenueInfo | None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def info(self, venue: str) -> VenueInfo | None:
        """td_exec's ``VenueInfo`` for ``venue`` (cached), or None when td_exec did not answer."""
        async with self._locks.setdefault(venue, asyncio.Lock()):
            cached = self._known.get(venue)
            if cached is not None and self.clock() - cached[0] < self.ttl_s:
                return cached[1]
            found = await self._ask(venue)
            self._known[venue] = (self.clock(), found)
            return found

    def peek(self, venue: str) -> VenueInfo | None:
        """The last answer for ``venue``, however old, without asking (for code that cannot wait)."""
        cached = self._known.get(venue)
        return cached[1] if cached is not None else None

    async def _ask(self, venue: str) -> VenueInfo | None:
        try:
            reply = await self.bus.request(td_venue(venue), QueryVenue(venue=venue), TRADE_REPLY_DECODER,
                                           timeout=self.timeout)
        except (BusError, ValueError) as exc:
            log.warning("td_exec did not describe the venue", venue=venue, error=str(exc))
            return None
        if not isinstance(reply, VenueInfo):
            log.warning("td_exec refused to describe the venue", venue=venue, reply=type(reply).__name__)
            return None
        return reply

    async def accounts(self, user: User) -> list[tuple[str, str]]:
        """Every concrete (venue, account) of ``user``: explicit grants, and wildcards resolved."""
        known: dict[str, list[str]] = {}
        for venue in user.wildcard_venues():
            info = await self.info(venue)
            if info is not None:
                known[venue] = info.accounts
        return resolve_accounts(user, known)

    async def trading_day(self, venue: str) -> str | None:
        info = await self.info(venue)
        return info.trading_day if info is not None else None
