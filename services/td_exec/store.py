"""The event store writer: TD_EVT first, the local spool when NATS is away, never a silent drop.

Appends are pipelined: an event is published at once and its JetStream ack is confirmed later, in
publish order, by one confirmer task, so the per-account writer never waits a round trip per event.

* ``publish_required`` (``OrderSubmitted``) returns a future that resolves once JetStream acknowledged
  the event, or fails with :class:`StoreUnavailable` when the ack fails or does not come within
  ``timeout``; the caller calls the venue only after it resolved, so nothing unstored is ever sent.
* ``append`` (everything the venue told us) publishes with ``Nats-Msg-Id`` = the event id and returns.
  When the ack fails or times out, the confirmer writes the event to the spool (fsynced) at its turn.
  If NATS is unreachable, or the spool already holds something, the event goes to the spool instead:
  at once when nothing is in flight, else queued behind the events in flight, so per-account order is
  kept. A background task flushes the spool in order once NATS answers again.
* Publish order is the order of the stream: JetStream stores one connection's publishes in the order
  it receives them. The only exception is JetStream refusing one event while taking a later one (a
  per-message refusal, or an ack lost while the connection stayed up): the refused one reaches the
  stream later, from the spool.
* Replays are safe: a flushed event that JetStream already had (an ack lost in the outage) is
  deduplicated by its id within the stream's duplicate window, and the in-memory fold skips ids and
  trade ids it already applied.
* Fenced (``td_exec.fence``, on when the engine runs it): an account's events are appended only while
  this instance holds its fence, each with JetStream's expected-last-sequence check (one in flight
  per account on a replicated stream, see ``serialize``). A refusal
  for a wrong last sequence (10071) means another writer took the account: the event is dropped,
  never spooled, and ``on_deposed`` tells the engine to step down. A spooled event remembers its
  fence and is dropped at flush time if the account was fenced again since.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgspec
from nats.js.api import PubAck

from td_exec.fence import Fence, Key, account_of, expect_fence, last_fence_seq
from td_exec.spool import Spool, SpoolFull, SpoolRecord
from tradebus.bus import Bus
from tradebus.bus.connection import MSG_ID, WRONG_LAST_SEQUENCE
from tradebus.bus.pipelined import PipelinedPublisher, PublishRefused
from tradebus.logs import get_logger
from tradebus.runtime.metrics import Registry
from tradebus.schemas.orders import OrderEventBase

log = get_logger("td_exec.store")
_encoder = msgspec.json.Encoder()

__all__ = ["Deposed", "EventStore", "SpoolFull", "StoreUnavailable"]


class StoreUnavailable(Exception):
    """JetStream did not acknowledge an event that must be stored before going on."""


class Deposed(StoreUnavailable):
    """This instance does not hold the account (any more): nothing of it may be appended."""


def _fenced_out(exc: BaseException) -> bool:
    return isinstance(exc, PublishRefused) and exc.err_code == WRONG_LAST_SEQUENCE


@dataclass(eq=False, slots=True)
class _InFlight:
    """One event on its way: published (``ack`` set) or waiting for its turn to be spooled (``ack`` None)."""

    subject: str
    msg_id: str
    data: bytes
    ack: asyncio.Future[PubAck] | None
    deadline: float  # loop time after which a missing ack counts as a failure
    required: bool  # OrderSubmitted: a failure is reported, never spooled
    stored: asyncio.Future[None]
    fenced: bool = True  # False only for a denial on an account no venue has (nobody writes it)


class EventStore:
    def __init__(self, bus: Bus, spool: Spool, metrics: Registry, *, timeout: float = 2.0,
                 on_flushed: Callable[[], Awaitable[None]] | None = None,
                 on_deposed: Callable[[Key, str], None] | None = None, fenced: bool = False) -> None:
        self.bus = bus
        self.on_deposed = on_deposed
        self.fenced = fenced  # the engine's store: every account's appends need its fence
        self.serialize = False  # one fenced append per account in flight (a replicated TD_EVT requires it)
        self.fences: dict[Key, Fence] = {}  # the accounts this instance holds
        self.spool = spool
        self.timeout = timeout
        self.on_flushed = on_flushed
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: deque[_InFlight] = deque()  # in publish order; the head is settled first
        self._more = asyncio.Event()
        self._last: asyncio.Future[None] | None = None  # the newest event's outcome (confirmed in order)
        self._confirmer: asyncio.Task[None] | None = None
        self._publisher: PipelinedPublisher | None = None
        self.full = False  # the spool refused an event since the last successful flush
        self.last_seq = 0  # the highest TD_EVT sequence confirmed (set from the stream at start)
        self._stored = metrics.counter("td_events_stored_total", "events acknowledged by TD_EVT")
        self._duplicates = metrics.counter("td_events_duplicate_total", "events TD_EVT already had (same id)")
        self._spooled = metrics.counter("td_events_spooled_total", "events written to the local spool")
        self._spool_full = metrics.counter("td_spool_full_total", "events refused because the spool was full")
        self._fenced = metrics.counter("td_events_fenced_out_total",
                                       "events refused or dropped because another instance fenced the account")
        metrics.gauge("td_spool_bytes", "bytes waiting in the local spool", source=lambda: float(spool.size))
        metrics.gauge("td_store_inflight", "events published whose JetStream ack is not confirmed yet",
                      source=lambda: float(self.in_flight))

    @property
    def in_flight(self) -> int:
        """Events handed over whose outcome (stored, spooled or refused) is not settled yet."""
        return len(self._inflight)

    @property
    def connected(self) -> bool:
        return self.bus.nc.is_connected

    def start(self) -> None:
        self._task = asyncio.create_task(self._flusher(), name="td_exec.spool_flusher")
        self._start_confirmer()

    def _start_confirmer(self) -> None:
        if self._confirmer is None:
            self._confirmer = asyncio.create_task(self._confirm(), name="td_exec.ack_confirmer")

    async def stop(self) -> None:
        """Confirm what is in flight (up to one ack timeout), spool what still has no ack, then stop."""
        if self._confirmer is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.settled(), self.timeout + 0.5)
            self._confirmer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._confirmer
            self._confirmer = None
        while self._inflight:  # never acknowledged: the spool keeps them for the next start
            entry = self._inflight.popleft()
            if entry.stored.done():
                continue
            if entry.ack is not None and not entry.ack.done():
                entry.ack.cancel()
                entry.ack = None
            await self._settle(entry, "td_exec stopping")
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def abort(self) -> None:
        """Stop without any cleanup (tests: a crash): events in flight are left to JetStream alone."""
        for task in (self._task, self._confirmer):
            if task is not None:
                task.cancel()

    # --- writing -----------------------------------------------------------------------------------

    async def publish_required(self, subject: str, event: OrderEventBase) -> asyncio.Future[None]:
        """Publish now; the future resolves once JetStream acknowledged it, or raises :class:`StoreUnavailable`."""
        if not self.connected:
            raise StoreUnavailable("NATS is not connected")
        data = _encoder.encode(event)
        try:
            ack = await self._publish(subject, event.event_id, data)
        except StoreUnavailable:
            raise
        except Exception as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return self._track(_InFlight(subject, event.event_id, data, ack, self._deadline(), True,
                                     asyncio.get_running_loop().create_future()))

    async def append(self, subject: str, event: OrderEventBase, *, fenced: bool = True) -> None:
        """Store in JetStream (its ack confirmed later, in order) or durably in the spool; raises :class:`SpoolFull`.

        ``fenced=False``: an account no venue of ours has (a denial of an order for it), which has no
        holder and no fence; everything else is appended only while this instance holds the account."""
        data = _encoder.encode(event)
        if fenced:
            self.fence_of(subject)  # raises Deposed: a standby never writes
        if self.spool.empty and self.connected:
            try:
                ack = await (self._publish(subject, event.event_id, data) if fenced
                             else self._publish_unfenced(subject, event.event_id, data))
            except Deposed:
                raise
            except Exception as exc:  # connection lost, outbound buffer full, too many acks pending
                log.warning("event not published; spooling it", event_id=event.event_id,
                            error=f"{type(exc).__name__}: {exc}")
            else:
                self._track(_InFlight(subject, event.event_id, data, ack, self._deadline(), False,
                                      asyncio.get_running_loop().create_future(), fenced))
                return
        if not self._inflight:
            self._to_spool(subject, event.event_id, data, fenced=fenced)
        else:  # behind the events still in flight: the spool keeps the order they were issued in
            self._track(_InFlight(subject, event.event_id, data, None, 0.0, False,
                                  asyncio.get_running_loop().create_future(), fenced))

    async def settled(self) -> None:
        """Return once every event handed over so far is in JetStream or in the spool (or refused)."""
        last = self._last
        if last is not None and not last.done():
            await asyncio.wait([last])

    def fence_of(self, subject: str) -> Fence | None:
        """The held fence of the account ``subject`` belongs to; raises :class:`Deposed` if there is none
        (None when this store is not fenced)."""
        if not self.fenced:
            return None
        key = account_of(subject)
        fence = self.fences.get(key)
        if fence is None or fence.deposed:
            raise Deposed(f"{key[0]}:{key[1]} is not held by this td_exec instance")
        return fence

    def deposed(self, key: Key, reason: str) -> None:
        """Another writer fenced the account: stop writing it at once and tell the engine."""
        fence = self.fences.pop(key, None)
        if fence is None:
            return
        fence.deposed = True
        log.warning("account fenced by another writer; stepping down", venue=key[0], account=key[1],
                    epoch=fence.epoch, reason=reason)
        if self.on_deposed is not None:
            self.on_deposed(key, reason)

    async def _publish_unfenced(self, subject: str, msg_id: str, data: bytes) -> asyncio.Future[PubAck]:
        if self._publisher is None:
            self._publisher = PipelinedPublisher(self.bus.nc)
        return await self._publisher.publish(subject, data, {MSG_ID: msg_id})

    async def _publish(self, subject: str, msg_id: str, data: bytes) -> asyncio.Future[PubAck]:
        """Publish with the account's fence check; on a replicated stream once its previous append is answered."""
        if self._publisher is None:
            self._publisher = PipelinedPublisher(self.bus.nc)
        if not self.fenced:
            return await self._publisher.publish(subject, data, {MSG_ID: msg_id})
        fence = self.fence_of(subject)
        assert fence is not None
        prev = fence.prev
        if self.serialize and prev is not None and not prev.done():
            with contextlib.suppress(Exception):  # its outcome is the confirmer's business
                await asyncio.wait_for(asyncio.shield(prev), self.timeout)
            if fence.deposed:
                raise Deposed(f"{fence.venue}:{fence.account} was fenced by another writer")
        ack = await self._publisher.publish(subject, data, {MSG_ID: msg_id, **fence.headers()})
        fence.prev = ack
        ack.add_done_callback(lambda f: self._after_ack(fence, f))
        return ack

    def _after_ack(self, fence: Fence, ack: asyncio.Future[PubAck]) -> None:
        if ack.cancelled():
            return
        exc = ack.exception()
        if exc is not None and _fenced_out(exc):
            self.deposed((fence.venue, fence.account), str(exc))

    def _deadline(self) -> float:
        return asyncio.get_running_loop().time() + self.timeout

    def _track(self, entry: _InFlight) -> asyncio.Future[None]:
        self._start_confirmer()
        self._inflight.append(entry)
        self._more.set()
        self._last = entry.stored
        return entry.stored

    async def _confirm(self) -> None:
        """Settle the events in flight one by one, in the order they were published."""
        while True:
            if not self._inflight:
                self._more.clear()
                await self._more.wait()
                continue
            entry = self._inflight[0]  # left at the head until settled, so stop() still finds it
            try:
                await self._settle(entry)
            except Exception:
                log.exception("ack confirmation failed", event_id=entry.msg_id)
                if not entry.stored.done():
                    entry.stored.set_exception(StoreUnavailable("internal error while confirming"))
            self._inflight.popleft()

    async def _settle(self, entry: _InFlight, reason: str = "") -> None:
        if entry.ack is not None:
            try:
                remaining = max(0.0, entry.deadline - asyncio.get_running_loop().time())
                ack = entry.ack.result() if entry.ack.done() else await asyncio.wait_for(entry.ack, remaining)
            except Exception as exc:  # timeout, JetStream's refusal (stream gone, full, too big), no responders
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if _fenced_out(exc):
                    self._drop_fenced(entry, reason)
                    return
            else:
                if ack.duplicate and entry.required and entry.fenced and not await self._duplicate_is_ours(entry):
                    key = account_of(entry.subject)
                    self._drop_fenced(entry, "JetStream holds this OrderSubmitted from another writer (duplicate ack)")
                    self.deposed(key, "an OrderSubmitted of ours was already stored by another writer")
                    return
                self._count(ack.duplicate)
                self.last_seq = max(self.last_seq, ack.seq)
                entry.stored.set_result(None)
                return
        if entry.required:
            log.error("OrderSubmitted not acknowledged", event_id=entry.msg_id, error=reason)
            entry.stored.set_exception(StoreUnavailable(reason or "not acknowledged"))
            return
        try:
            if entry.fenced:
                self.fence_of(entry.subject)
        except Deposed as exc:
            self._drop_fenced(entry, str(exc))
            return
        if reason:
            log.warning("event not acknowledged; spooling it", event_id=entry.msg_id, error=reason)
        # Already applied in memory: refusing it now would lose it, so the bound may be exceeded here.
        self._to_spool(entry.subject, entry.msg_id, entry.data, over_limit=True, fenced=entry.fenced)
        entry.stored.set_result(None)

    async def _duplicate_is_ours(self, entry: _InFlight) -> bool:
        """JetStream answers a message id it already holds with a duplicate ack *before* the expected-sequence
        check, so a deposed writer resending an id the new holder stored (event ids are derived from the
        order) is not refused. The stored one is ours (an earlier attempt whose ack was lost) only while our
        fence is still the account's newest; otherwise the order must not be sent from here."""
        fence = self.fences.get(account_of(entry.subject))
        if fence is None or fence.deposed:
            return False
        try:
            newest = await asyncio.wait_for(last_fence_seq(self.bus.js, fence.venue, fence.account), self.timeout)
        except Exception:  # cannot tell: not sent (the caller's retry gets a definite answer)
            return False
        return newest == fence.seq

    def _drop_fenced(self, entry: _InFlight, reason: str) -> None:
        """Another writer holds the account: the event is not ours to store, now or later."""
        self._fenced.inc()
        log.warning("event refused: the account is fenced by another writer", event_id=entry.msg_id, error=reason)
        if entry.required:
            entry.stored.set_exception(Deposed(reason))
        else:
            entry.stored.set_result(None)

    def _to_spool(self, subject: str, msg_id: str, data: bytes, *, over_limit: bool = False,
                  fenced: bool = True) -> None:
        fence = self.fence_of(subject) if fenced else None
        fence_seq = fence.seq if fence is not None else 0
        try:
            self.spool.append(subject, msg_id, data, fence_seq=fence_seq, over_limit=over_limit)
        except SpoolFull:
            self.full = True
            self._spool_full.inc()
            log.error("spool full: event not stored; the account is re-reconciled once NATS is back",
                      event_id=msg_id, spool_bytes=self.spool.size, max_bytes=self.spool.max_bytes)
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
        fenced_out: set[Key] = set()  # accounts fenced since their records were written: dropped
        for rec in records:
            await self._flush_one(rec, fenced_out)
        self.spool.drop_first(len(records))
        log.info("spool flushed", events=len(records), left=self.spool.size)
        if self.spool.empty:
            self.full = False
            if self.on_flushed is not None:
                await self.on_flushed()
        return len(records)

    async def _flush_one(self, rec: SpoolRecord, fenced_out: set[Key]) -> None:
        """Append one spooled record, checked against the fence it was written under (if any)."""
        headers = {MSG_ID: rec.msg_id}
        key = account_of(rec.subject)
        if rec.fence_seq:
            if key in fenced_out:
                self._fenced.inc()
                log.warning("spooled event dropped: its account was fenced since", event_id=rec.msg_id)
                return
            headers.update(expect_fence(*key, rec.fence_seq))
        try:
            ack = await self.bus.js.publish(rec.subject, rec.data, headers=headers, timeout=self.timeout)
        except Exception as exc:
            if rec.fence_seq and getattr(exc, "err_code", 0) == WRONG_LAST_SEQUENCE:
                fenced_out.add(key)
                self._fenced.inc()
                log.warning("spooled event refused: its account was fenced since", event_id=rec.msg_id,
                            venue=key[0], account=key[1])
                fence = self.fences.get(key)
                if fence is not None and fence.seq == rec.fence_seq:
                    self.deposed(key, str(exc))
                return
            raise
        self._count(ack.duplicate)
        self.last_seq = max(self.last_seq, ack.seq)

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
