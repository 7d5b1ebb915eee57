"""The md_ingest service: venue adapters in, sequenced ticks, bars and feed status out.

Flow: SDK thread → :class:`Inbox` → drain task (normalise, filter to subscribed, dedupe, sequence,
publish, bars) → NATS. Around it: the subscription registry served on ``md.ctl.*``, per-venue feed
state published on ``md.status.<venue>``, and a housekeeping tick (bars closing, stale checks,
drop logs, deferred unsubscribes, NATS reconnect notices).

Several instances may run side by side: per venue, the one holding the venue's lease (md_ingest.lease)
runs the venue session, answers ``md.ctl.*`` for it and publishes behind its fence (md_ingest.fence).
The others are standbys: they follow the same ``md.ctl`` traffic into their own registry without
answering, and take the venue over when the lease lapses. A deposed holder exits with code 3.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import sys
import time

import msgspec
from nats.aio.msg import Msg
from nats.js.kv import KeyValue

from md_ingest import handover
from md_ingest.bars import BarBuilder
from md_ingest.contract import Instrument, VenueAdapter
from md_ingest.fence import MD_STREAM, Gate
from md_ingest.history import HistoryServer, VenueHistory
from md_ingest.inbox import Inbox
from md_ingest.lease import LEASE_BUCKET, VenueLease
from md_ingest.publisher import Publisher
from md_ingest.registry import FOREVER, STATIC_REQUESTER, Registry
from md_ingest.sessions import in_session
from tradebus.bus.replay import last_message
from tradebus.config import Config
from tradebus.logs import get_logger
from tradebus.runtime import Service
from tradebus.schemas import MARKET_CONTROL_DECODER, MARKET_DATA_DECODER
from tradebus.schemas.market import (
    FeedState,
    FeedStatus,
    SubscribeRequest,
    SubscriptionReply,
    Tick,
    UnsubscribeRequest,
)
from tradebus.subjects import MD_CTL_HISTORY, MD_CTL_SUBSCRIBE, MD_CTL_UNSUBSCRIBE, escape_token, md_tick

log = get_logger("md_ingest")
HOUSEKEEPING_S = 0.25
UNSUB_RETRY_S = 10.0  # OpenD refuses to drop a subscription younger than one minute: try again later
MAX_LEASE_S = 86_400.0  # a longer lease is cut to this: a day without renewal is a requester gone
SWITCH_INTERVAL_S = 0.0005  # how long the loop may wait for the GIL behind an SDK thread (CPython's default: 5 ms)
_encode = msgspec.json.Encoder().encode
DEPOSED_EXIT_CODE = 3  # another instance holds a venue of ours now: restart as a standby
SEED_PARALLEL = 64  # direct gets in flight while reading the last stored ticks on takeover


class MdIngest(Service):
    name = "md_ingest"

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.instance_id = config.md.instance_id
        md = config.md
        self.inbox = Inbox(md.inbox_max_keys)
        self.registry = Registry()
        self.adapters: dict[str, VenueAdapter] = {}
        self.states: dict[str, tuple[FeedState, str]] = {}
        self.publisher: Publisher | None = None
        self.leases: dict[str, VenueLease] = {}
        self._kv: KeyValue | None = None
        self._refs_saved: dict[str, int] = {}  # venue → registry version last handed over
        self._history: HistoryServer | None = None
        self._bars: dict[Instrument, BarBuilder] = {}
        self._last_tick: dict[Instrument, float] = {}  # monotonic time of the last tick (or subscribe)
        self._stale: set[Instrument] = set()
        self._pending_sub: dict[Instrument, asyncio.Future[str]] = {}
        self._unsub_retry: dict[Instrument, float] = {}
        self._ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._reconnects_seen = 0
        self._dropped_reported = 0.0
        m = self.metrics
        self.m_unsubscribed = m.counter("md_ticks_unsubscribed_total", "pushes for instruments nobody holds",
                                        ("venue",))
        self.m_refused = m.counter("md_subscribe_refused_total", "subscribe requests refused", ("venue",))
        m.gauge("md_inbox_pending", "venue pushes waiting for the event loop", source=lambda: len(self.inbox))
        m.gauge("md_inbox_received", "venue pushes received (cumulative)", source=lambda: self.inbox.received)
        m.gauge("md_inbox_coalesced", "venue pushes replaced by a newer one before the loop took them "
                "(cumulative)", source=lambda: self.inbox.coalesced)
        m.gauge("md_inbox_overflow", "venue pushes dropped because the inbox was full (cumulative)",
                source=lambda: self.inbox.overflow)
        self.m_feed_up = m.gauge("md_feed_up", "1 while the venue feed is up", ("venue",))
        self.m_subs = m.gauge("md_subscriptions", "instruments subscribed", ("venue",))
        # 1: this instance holds the venue's session; 0: it stands by (another instance holds it)
        self.m_lease = m.gauge("md_lease_held", "1 while this instance holds the venue's session lease", ("venue",))

    # --- lifecycle -----------------------------------------------------------------------------

    def _make_adapters(self) -> None:
        if self.config.md.futu:
            from md_ingest.futu_adapter import FutuAdapter

            self.adapters["futu"] = FutuAdapter(self.config, self.data_dir, self.bus)
        if self.config.md.ctp:
            from md_ingest.ctp_adapter import CtpAdapter

            self.adapters["ctp"] = CtpAdapter(self.config, self.data_dir)

    async def start(self) -> None:
        # SDK threads (futu's callback executor, the CTP api) take the GIL for bursts; at CPython's default
        # 5 ms switch interval the event loop waits that long behind them, which is most of our p99.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        loop = asyncio.get_running_loop()
        self.publisher = Publisher(self.bus, self.metrics, status_backlog=self.config.md.status_backlog)
        self.inbox.attach(loop, self._ready.set)
        self._make_adapters()
        for inst in self._static_subscriptions():
            self.registry.add(inst, STATIC_REQUESTER)
        # Every instance hears every md.ctl request (no queue group): the holder of the venue answers it, a
        # standby only notes it, so it knows what to subscribe once it takes the venue over.
        await self.bus.serve(MD_CTL_SUBSCRIBE, self._on_subscribe)
        await self.bus.serve(MD_CTL_UNSUBSCRIBE, self._on_unsubscribe)
        # History: venues with K-lines of their own (Futu) add them; CTP serves none.
        self._history = HistoryServer(self.bus, {name: a if isinstance(a, VenueHistory) else None
                                                 for name, a in self.adapters.items()},
                                      holds=self._holds)
        self._tasks = [loop.create_task(self._drain(), name="md-drain"),
                       loop.create_task(self._housekeeping(), name="md-housekeeping")]
        for adapter in self.adapters.values():
            adapter.prepare()
        kv = self._kv = await self.bus.js.key_value(LEASE_BUCKET)
        holder = self.instance_id or "-"
        for venue in self.adapters:
            lease = self.leases[venue] = VenueLease(kv, venue, holder, self.config.md.lease_s, self._deposed)
            self.m_lease.set(0.0, venue)  # from here on a standby: md.ctl is being followed
            if await lease.take_if_free():
                await self._hold(venue)
            else:
                log.info("standing by", venue=venue, lease_s=lease.lease_s)
                self._spawn(self._stand_by(venue), f"md-standby-{venue}")
        # What is built by now (modules, config, adapters, the SDK's objects) lives as long as the service.
        # Frozen, the collector's full passes no longer walk it: unfrozen, one such pass held the loop
        # 17-76 ms in the middle of a 5 k ticks/s run (docs/performance.md, md_ingest).
        gc.freeze()

    async def _stand_by(self, venue: str) -> None:
        await self.leases[venue].acquire()
        await self._hold(venue)

    async def _hold(self, venue: str) -> None:
        """We hold the venue's lease: fence the stream, learn what the last holder stored, run the session."""
        assert self.publisher is not None and self._kv is not None
        lease = self.leases[venue]
        gate = Gate(self.bus, lease)
        try:
            await gate.open()
            if gate.fence_seq:
                await handover.load(self._kv, self.registry, venue)
                await self._seed(venue)
        except Exception:
            log.exception("venue not taken over", venue=venue)
        if not gate.fence_seq or not lease.held:
            # No fence, no publishing: start again, as the standby if someone else holds the venue by then.
            self.exit(DEPOSED_EXIT_CODE)
            return
        self.publisher.gates[venue] = gate
        self.m_lease.set(1.0, venue)

        async def refence(renewals: int) -> None:
            if renewals % 3 == 0:  # once per lease period, well inside the MD stream's max age
                await gate.fence()

        lease.start_renewing(refence)
        if self._history is not None:
            await self.bus.serve(MD_CTL_HISTORY, self._history.on_request)
            self._history = None
        await self.adapters[venue].start(self)

    async def _seed(self, venue: str) -> None:
        """Every instrument's last stored tick goes into the duplicate filter (a venue re-push of it after our
        resubscribe is not stored twice) and the feed's sequence continues from the highest one."""
        assert self.publisher is not None
        publisher, js = self.publisher, self.bus.js
        instruments = self.registry.active(venue)
        for start in range(0, len(instruments), SEED_PARALLEL):
            found = await asyncio.gather(*(last_message(js, MD_STREAM, md_tick(*inst), MARKET_DATA_DECODER)
                                           for inst in instruments[start:start + SEED_PARALLEL]),
                                         return_exceptions=True)
            for tick in found:
                if isinstance(tick, Tick):
                    publisher.seed(tick)

    def _holds(self, venue: str) -> bool:
        return self.publisher is not None and venue in self.publisher.gates

    def _deposed(self, venue: str) -> None:
        self.m_lease.set(0.0, venue)
        if self.publisher is not None:
            self.publisher.gates.pop(venue, None)
        self.exit(DEPOSED_EXIT_CODE)

    def _static_subscriptions(self) -> list[Instrument]:
        found = []
        for text in self.config.md.subscriptions:
            try:
                inst = Instrument.parse(text)
            except ValueError as exc:
                log.error("bad static subscription ignored", entry=text, error=str(exc))
                continue
            if inst.venue not in self.adapters:
                log.warning("static subscription for a disabled venue ignored", entry=text)
                continue
            found.append(inst)
        return found

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.gather(*(a.stop() for a in self.adapters.values()), return_exceptions=True)
        # Given back only now that no venue pushes anything: a standby takes over at once.
        await asyncio.gather(*(lease.release() for lease in self.leases.values()), return_exceptions=True)
        gc.unfreeze()  # what start() froze may be garbage now (a service stopped inside a longer process)

    def checks(self) -> dict[str, str]:
        out = {}
        for venue in self.adapters:
            if venue in self.leases and not self._holds(venue):
                out[f"feed_{venue}"] = "ok"  # a standby: ready to take over, nothing to report about the venue
                continue
            state, reason = self.states.get(venue, (FeedState.CONNECTING, ""))
            out[f"feed_{venue}"] = "ok" if state == FeedState.UP else f"{state.value}: {reason}"
        return out

    # --- feed state (called by adapters, on the loop) ------------------------------------------

    def feed_state(self, venue: str, state: FeedState, reason: str = "") -> None:
        if self.states.get(venue) == (state, reason):
            return
        previous = self.states.get(venue, (None, ""))[0]
        self.states[venue] = (state, reason)
        self.m_feed_up.set(1.0 if state == FeedState.UP else 0.0, venue)
        log.info("feed state", venue=venue, state=state.value, reason=reason)
        self._status(FeedStatus(venue=venue, state=state, reason=reason, ts_event=time.time_ns()))
        if state == FeedState.UP and previous != FeedState.UP:
            self._spawn(self._restore(venue), f"md-restore-{venue}")

    def _status(self, status: FeedStatus) -> None:
        assert self.publisher is not None
        self._spawn(self.publisher.publish_status(status), "md-status")

    def _spawn(self, coro: object, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)  # type: ignore[arg-type]
        self._tasks.append(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("md_ingest task failed", task=task.get_name(), error=repr(task.exception()))

    def _is_up(self, venue: str) -> bool:
        return self.states.get(venue, (None, ""))[0] == FeedState.UP

    async def _restore(self, venue: str) -> None:
        """After every (re)connect: subscribe every held instrument again, nobody has to ask."""
        adapter = self.adapters[venue]
        await adapter.wait_ready(self.config.md.subscribe_timeout_s)
        active = self.registry.active(venue)
        valid = []
        for inst in active:
            error = adapter.validate(inst)
            if error and "not loaded" not in error:
                self._refused(inst, error)
            else:
                valid.append(inst)
        errors = await adapter.subscribe(valid)
        now = time.monotonic()
        for inst in valid:
            self._last_tick[inst] = now
        for inst, error in errors.items():
            if self._is_up(venue):  # the venue answered (not a disconnect in between): a real refusal
                self._refused(inst, error)
        log.info("subscriptions restored", venue=venue, count=len(valid) - len(errors), refused=len(errors))

    def _refused(self, inst: Instrument, error: str) -> None:
        holders = self.registry.drop(inst)
        log.warning("venue refused a held subscription", instrument=str(inst), error=error, holders=sorted(holders))
        self._status(FeedStatus(venue=inst.venue, state=FeedState.DOWN, exchange=inst.exchange, symbol=inst.symbol,
                                reason=f"subscription refused by the venue: {error}", ts_event=time.time_ns()))

    # --- the hot path --------------------------------------------------------------------------

    async def _drain(self) -> None:
        publisher = self.publisher
        assert publisher is not None
        registry, adapters, bars_on = self.registry, self.adapters, self.config.md.bars
        while True:
            await self._ready.wait()
            self._ready.clear()
            now = time.monotonic()
            for venue, key, raw, received_ns in self.inbox.take():
                adapter = adapters.get(venue)
                if adapter is None:
                    continue
                try:
                    tick = adapter.normalise(key, raw, received_ns)
                except Exception:
                    log.exception("cannot normalise a venue push", venue=venue, key=str(key))
                    continue
                if tick is None:
                    continue
                inst = Instrument(venue, tick.exchange, tick.symbol)
                if inst not in registry:
                    self.m_unsubscribed.inc(1, venue)
                    continue
                self._last_tick[inst] = now
                if inst in self._stale:
                    self._stale.discard(inst)
                    self._status(FeedStatus(venue=venue, state=FeedState.UP, exchange=inst.exchange,
                                            symbol=inst.symbol, reason="ticks resumed", ts_event=time.time_ns()))
                if publisher.is_duplicate(tick):
                    continue
                tick = msgspec.structs.replace(tick, seq=publisher.next_seq(venue))
                await publisher.publish_tick(tick)
                if bars_on:
                    builder = self._bars.get(inst)
                    if builder is None:
                        builder = self._bars[inst] = BarBuilder(*inst)
                    for bar in builder.on_tick(tick):
                        await publisher.publish_bar(bar)

    # --- housekeeping --------------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            try:
                await self._housekeeping_once()
            except Exception:
                log.exception("md_ingest housekeeping failed")

    async def _housekeeping_once(self) -> None:
        publisher = self.publisher
        assert publisher is not None
        await self._watch_nats()
        publisher.log_drops()
        if self.config.md.bars:
            grace = int(self.config.md.bar_grace_s * 1e9)
            now_ns = time.time_ns()
            for builder in self._bars.values():
                bar = builder.flush(now_ns, grace)
                if bar is not None:
                    await publisher.publish_bar(bar)
        self._check_stale()
        await self._expire_leases()
        await self._retry_unsubscribes()
        await self._hand_over_references()
        for venue in self.adapters:
            self.m_subs.set(float(self.registry.size(venue)), venue)

    async def _hand_over_references(self) -> None:
        """Keep the references of every venue we hold where the next holder finds them (md_ingest.handover)."""
        if self._kv is None:
            return
        for venue in self.adapters:
            if self._holds(venue) and self._refs_saved.get(venue) != self.registry.version:
                await handover.save(self._kv, self.registry, venue)
                self._refs_saved[venue] = self.registry.version

    async def _watch_nats(self) -> None:
        """On NATS's return: publish the status kept while it was away, then say how much was lost.

        A reconnect can be over between two housekeeping ticks, so it is detected by nats-py's
        reconnect counter, not by sampling ``is_connected``."""
        assert self.publisher is not None
        nc = self.bus.nc
        connected = nc.is_connected
        reconnects = int(nc.stats.get("reconnects", 0))
        dropped = sum(self.publisher.dropped.values.values())
        if connected and reconnects != self._reconnects_seen:
            self._reconnects_seen = reconnects
            lost = int(dropped - self._dropped_reported)
            await self.publisher.flush_status()
            note = f"NATS connection restored ({lost} market-data messages dropped while it was away)"
            for venue, (state, reason) in self.states.items():
                await self.publisher.publish_status(FeedStatus(venue=venue, state=state, ts_event=time.time_ns(),
                                                               reason=f"{note}; feed: {reason}"))
        elif connected:
            await self.publisher.flush_status()
        if connected:
            self._dropped_reported = dropped

    def _check_stale(self) -> None:
        md = self.config.md
        now, now_ns = time.monotonic(), time.time_ns()
        for venue in self.adapters:
            if not self._is_up(venue):
                continue
            for inst in self.registry.active(venue):
                since = self._last_tick.setdefault(inst, now)
                if now - since < md.stale_after_s or inst in self._stale:
                    continue
                if md.stale_hours != "always" and not in_session(inst.exchange, now_ns):
                    continue
                self._stale.add(inst)
                self._last_tick[inst] = now  # the next stale notice (and resubscribe) is one period away
                self._status(FeedStatus(venue=venue, state=FeedState.STALE, exchange=inst.exchange,
                                        symbol=inst.symbol, ts_event=now_ns,
                                        reason=f"no tick for {md.stale_after_s:g}s; resubscribing"))
                self._spawn(self.adapters[venue].subscribe([inst]), f"md-resubscribe-{inst}")

    async def _retry_unsubscribes(self) -> None:
        now = time.monotonic()
        for inst, when in list(self._unsub_retry.items()):
            if when > now:
                continue
            del self._unsub_retry[inst]
            if inst in self.registry or not self._is_up(inst.venue):
                continue  # held again, or the connection (and its subscriptions) is gone anyway
            await self._venue_unsubscribe(inst)

    async def _venue_unsubscribe(self, inst: Instrument) -> None:
        errors = await self.adapters[inst.venue].unsubscribe([inst])
        if inst in errors:
            log.info("venue unsubscribe deferred", instrument=str(inst), error=errors[inst])
            self._unsub_retry[inst] = time.monotonic() + UNSUB_RETRY_S

    # --- md.ctl.* --------------------------------------------------------------------------------

    async def _reply(self, msg: Msg, inst: Instrument | None, req: object, *, ok: bool, refcount: int = 0,
                     error: str = "") -> None:
        venue, exchange, symbol = inst if inst is not None else (getattr(req, "venue", ""),
                                                                 getattr(req, "exchange", ""),
                                                                 getattr(req, "symbol", ""))
        reply = SubscriptionReply(ok=ok, venue=venue, exchange=exchange, symbol=symbol, refcount=refcount,
                                  error=error)
        if not ok:
            self.m_refused.inc(1, venue or "?")
        await self.bus.reply(msg, reply)

    def _request(self, msg: Msg, kind: type) -> tuple[object, Instrument | None, str]:
        try:
            req = MARKET_CONTROL_DECODER.decode(msg.data)
        except msgspec.DecodeError as exc:
            return None, None, f"undecodable request: {exc}"
        if not isinstance(req, kind):
            return req, None, f"expected a {kind.__name__}, got {type(req).__name__}"
        inst = Instrument(req.venue, req.exchange, req.symbol)  # type: ignore[attr-defined]
        if not req.requester:  # type: ignore[attr-defined]
            return req, inst, "requester must be set (it is how a subscription is released)"
        if inst.venue not in self.adapters:
            return req, inst, f"venue {inst.venue!r} is not served by this md_ingest (enabled: {sorted(self.adapters)})"
        try:
            escape_token(inst.exchange)
            escape_token(inst.symbol)
        except ValueError as exc:
            return req, inst, str(exc)
        return req, inst, ""

    def _standby_for(self, inst: Instrument | None) -> bool:
        return inst is not None and inst.venue in self.adapters and not self._holds(inst.venue)

    async def _on_subscribe(self, msg: Msg) -> None:
        req, inst, error = self._request(msg, SubscribeRequest)
        if self._standby_for(inst):  # the holder answers; we remember, for the day we take over
            if not error and inst is not None:
                self.registry.add(inst, req.requester, _expiry(req.lease_s))  # type: ignore[union-attr]
            return
        if error or inst is None:
            await self._reply(msg, inst, req, ok=False, error=error)
            return
        requester = req.requester  # type: ignore[union-attr]
        expires_at = _expiry(req.lease_s)  # type: ignore[union-attr]
        pending = self._pending_sub.get(inst)
        if pending is not None:  # someone else's first subscribe is in flight: share its outcome
            error = await asyncio.shield(pending)
            if error:
                await self._reply(msg, inst, req, ok=False, error=error)
                return
        if inst in self.registry:
            count, _ = self.registry.add(inst, requester, expires_at)
            self._unsub_retry.pop(inst, None)
            await self._reply(msg, inst, req, ok=True, refcount=count)
            return
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending_sub[inst] = future
        try:
            error = await self._first_subscribe(inst, requester, expires_at)
        finally:
            self._pending_sub.pop(inst, None)
            future.set_result(error)
        if error:
            await self._reply(msg, inst, req, ok=False, error=error)
        else:
            await self._reply(msg, inst, req, ok=True, refcount=self.registry.count(inst))

    async def _first_subscribe(self, inst: Instrument, requester: str, expires_at: float) -> str:
        adapter = self.adapters[inst.venue]
        await adapter.wait_ready(self.config.md.subscribe_timeout_s)
        error = adapter.validate(inst)
        if error:
            return error
        held = self.registry.size(inst.venue)
        if held >= adapter.quota:
            return (f"{inst.venue} subscription quota exhausted: {held} of {adapter.quota} instruments held "
                    f"(release one first)")
        self.registry.add(inst, requester, expires_at)
        self._unsub_retry.pop(inst, None)
        if not self._is_up(inst.venue):
            return ""  # held; subscribed at the venue by _restore when the feed is up
        errors = await adapter.subscribe([inst])
        if inst in errors:
            if self._is_up(inst.venue):
                self.registry.drop(inst)
                return f"refused by {inst.venue}: {errors[inst]}"
            return ""  # the feed went down meanwhile: _restore will subscribe it
        self._last_tick[inst] = time.monotonic()
        return ""

    async def _on_unsubscribe(self, msg: Msg) -> None:
        req, inst, error = self._request(msg, UnsubscribeRequest)
        if self._standby_for(inst):
            if not error and inst is not None and req.requester != STATIC_REQUESTER:  # type: ignore[union-attr]
                self.registry.remove(inst, req.requester)  # type: ignore[union-attr]
            return
        if error or inst is None:
            await self._reply(msg, inst, req, ok=False, error=error)
            return
        requester = req.requester  # type: ignore[union-attr]
        if requester == STATIC_REQUESTER:
            await self._reply(msg, inst, req, ok=False, error="static subscriptions from [md] cannot be released")
            return
        before = self.registry.count(inst)
        count, last = self.registry.remove(inst, requester)
        if count == before and not last:
            await self._reply(msg, inst, req, ok=False, refcount=count,
                              error=f"{requester!r} holds no subscription to {inst}")
            return
        if last:
            await self._released(inst)
        await self._reply(msg, inst, req, ok=True, refcount=count)

    async def _released(self, inst: Instrument) -> None:
        """The last reference went: stop publishing the instrument and unsubscribe it at the venue."""
        self._last_tick.pop(inst, None)
        self._stale.discard(inst)
        self._bars.pop(inst, None)
        if self._is_up(inst.venue):
            await self._venue_unsubscribe(inst)

    async def _expire_leases(self) -> None:
        """References whose requester stopped renewing them (an edge that was killed) are released."""
        for inst, requester in self.registry.lapsed(time.monotonic()):
            count, last = self.registry.remove(inst, requester)
            log.info("subscription lease lapsed", instrument=str(inst), requester=requester, refcount=count)
            if last:
                await self._released(inst)


def _expiry(lease_s: float) -> float:
    """When a reference taken with this lease lapses (time.monotonic()); FOREVER without a lease."""
    if not math.isfinite(lease_s) or lease_s <= 0:
        return FOREVER
    return time.monotonic() + min(lease_s, MAX_LEASE_S)
