"""Keeping an edge's md_ingest references alive while the edge lives, and only then.

md_ingest counts one reference per (requester, instrument) and cannot see a requester die: an edge
killed with kill -9 never sends its ``md.ctl.unsubscribe``. So edges take their references with a
lease (``SubscribeRequest.lease_s``) and renew every held one each third of the lease by subscribing
again (idempotent at md_ingest). A killed edge stops renewing, and md_ingest drops its references
one lease later (plus its housekeeping tick); a living edge that missed two renewals still holds.
Renewals also put the references back after md_ingest itself restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Iterable

from tradebus import subjects
from tradebus.bus import Bus, RequestFailed, RequestTimeout
from tradebus.config_sections.base import INSTANCE_PATTERN
from tradebus.logs import get_logger
from tradebus.schemas import MARKET_CONTROL_DECODER
from tradebus.schemas.market import SubscribeRequest, SubscriptionReply

log = get_logger("tradebus.md_lease")

_INSTANCE = re.compile(INSTANCE_PATTERN)
Key = tuple[str, str, str]  # (venue, exchange, symbol)


def requester_name(service: str, instance: str) -> str:
    """The md.ctl requester of one edge instance: ``service:instance``, or ``service`` alone for the
    unnamed instance. Two instances with different names never share a reference."""
    if not _INSTANCE.match(instance):
        raise ValueError(f"bad instance name {instance!r}: letters, digits, '-' and '_', at most 32")
    return f"{service}:{instance}" if instance else service


class LeaseRenewer:
    """Re-subscribes, every ``lease_s / 3``, each instrument ``held()`` names."""

    def __init__(self, bus: Bus, requester: str, lease_s: float, held: Callable[[], Iterable[Key]], *,
                 timeout: float) -> None:
        self.bus = bus
        self.requester = requester
        self.lease_s = lease_s
        self.held = held
        self.timeout = timeout
        self.renewals = 0
        self._task: asyncio.Task[None] | None = None

    def request(self, venue: str, exchange: str, symbol: str) -> SubscribeRequest:
        """The subscribe request that takes (or renews) this edge's leased reference."""
        return SubscribeRequest(venue=venue, exchange=exchange, symbol=symbol, requester=self.requester,
                                lease_s=self.lease_s)

    def start(self) -> None:
        if self.lease_s > 0:
            self._task = asyncio.create_task(self._loop(), name="md-lease-renewal")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            keys = list(self.held())
            await asyncio.gather(*(self._renew(key) for key in keys))

    async def _renew(self, key: Key) -> None:
        try:
            reply = await self.bus.request(subjects.MD_CTL_SUBSCRIBE, self.request(*key), MARKET_CONTROL_DECODER,
                                           timeout=self.timeout)
        except (RequestFailed, RequestTimeout) as exc:
            log.warning("subscription lease not renewed", instrument=".".join(key), error=str(exc))
            return
        if isinstance(reply, SubscriptionReply) and reply.ok:
            self.renewals += 1
        else:
            reason = reply.error if isinstance(reply, SubscriptionReply) else "unexpected reply"
            log.warning("subscription lease refused", instrument=".".join(key), error=reason)
