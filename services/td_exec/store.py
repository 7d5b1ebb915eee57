"""The event store writer: TD_EVT first, the local spool when NATS is away, never a silent drop.

* ``append_required`` (``OrderSubmitted``) must be acknowledged by JetStream before the venue is
  called; when it cannot be, the command is denied and nothing is sent.
* ``append`` (everything the venue told us) goes to JetStream with ``Nats-Msg-Id`` = the event id. If
  NATS is unreachable or does not acknowledge in time, the event goes to the spool (fsynced) and the
  call still succeeds. While the spool holds anything, new events queue behind it, so per-order order
  is kept. A background task flushes the spool in order once NATS answers again.
* Replays are safe: a flushed event that JetStream already had (an ack lost in the outage) is
  deduplicated by its id within the stream's duplicate window, and the in-memory fold skips ids and
  trade ids it already applied.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import msgspec

from td_exec.spool import Spool, SpoolFull
from tradebus.bus import Bus
from tradebus.bus.connection import MSG_ID
from tradebus.logs import get_logger
from tradebus.runtime.metrics import Registry
from tradebus.schemas.orders import OrderEventBase

log = get_logger("td_exec.store")
_encoder = msgspec.json.Encoder()

__all__ = ["EventStore", "SpoolFull", "StoreUnavailable"]


class StoreUnavailable(Exception):
    """JetStream did not acknowledge an event that must be stored before going on."""


class EventStore:
    def __init__(self, bus: Bus, spool: Spool, metrics: Registry, *, timeout: float = 2.0,
                 on_flushed: Callable[[], Awaitable[None]] | None = None) -> None:
        self.bus = bus
        self.spool = spool
        self.timeout = timeout
        self.on_flushed = on_flushed
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.full = False  # the spool refused an event since the last successful flush
        self._stored = metrics.counter("td_events_stored_total", "events acknowledged by TD_EVT")
        self._duplicates = metrics.counter("td_events_duplicate_total", "events TD_EVT already had (same id)")
        self._spooled = metrics.counter("td_events_spooled_total", "events written to the local spool")
        self._spool_full = metrics.counter("td_spool_full_total", "events refused because the spool was full")
        metrics.gauge("td_spool_bytes", "bytes waiting in the local spool", source=lambda: float(spool.size))

    @property
    def connected(self) -> bool:
        return self.bus.nc.is_connected

    def start(self) -> None:
        self._task = asyncio.create_task(self._flusher(), name="td_exec.spool_flusher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def abort(self) -> None:
        """Stop without any cleanup (tests: a crash)."""
        if self._task is not None:
            self._task.cancel()

    # --- writing -----------------------------------------------------------------------------------

    async def append_required(self, subject: str, event: OrderEventBase) -> None:
        """Store and wait for JetStream's ack, or raise :class:`StoreUnavailable`."""
        if not self.connected:
            raise StoreUnavailable("NATS is not connected")
        try:
            ack = await self.bus.publish_event(subject, event, msg_id=event.event_id, timeout=self.timeout)
        except Exception as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
        self._count(ack.duplicate)

    async def append(self, subject: str, event: OrderEventBase) -> None:
        """Store in JetStream, or durably in the spool; raises :class:`SpoolFull` only."""
        if self.spool.empty and self.connected:
            try:
                ack = await self.bus.publish_event(subject, event, msg_id=event.event_id, timeout=self.timeout)
            except Exception as exc:  # timeout, connection lost, JetStream not ready / full
                log.warning("event not acknowledged; spooling it", event_id=event.event_id,
                            error=f"{type(exc).__name__}: {exc}")
            else:
                self._count(ack.duplicate)
                return
        self._to_spool(subject, event)

    def _to_spool(self, subject: str, event: OrderEventBase) -> None:
        try:
            self.spool.append(subject, event.event_id, _encoder.encode(event))
        except SpoolFull:
            self.full = True
            self._spool_full.inc()
            log.error("spool full: event not stored; the account is re-reconciled once NATS is back",
                      event_id=event.event_id, spool_bytes=self.spool.size, max_bytes=self.spool.max_bytes)
            raise
        self._spooled.inc()
        self._wake.set()

    def _count(self, duplicate: bool) -> None:
        (self._duplicates if duplicate else self._stored).inc()

    # --- flushing ----------------------------------------------------------------------------------

    async def flush(self) -> int:
        """Publish every spooled record in order, then drop them; returns how many were flushed."""
        records = self.spool.records()
        if not records:
            return 0
        for rec in records:
            ack = await self.bus.js.publish(rec.subject, rec.data, headers={MSG_ID: rec.msg_id},
                                            timeout=self.timeout)
            self._count(ack.duplicate)
        self.spool.drop_first(len(records))
        log.info("spool flushed", events=len(records), left=self.spool.size)
        if self.spool.empty:
            self.full = False
            if self.on_flushed is not None:
                await self.on_flushed()
        return len(records)

    async def _flusher(self) -> None:
        delay = 0.1
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()
            if self.spool.empty or not self.connected:
                delay = 0.2
                continue
            try:
                await self.flush()
                delay = 0.1
            except Exception as exc:
                delay = min(delay * 2, 2.0)
                log.warning("spool flush failed; retrying", error=f"{type(exc).__name__}: {exc}",
                            retry_in_s=delay)
