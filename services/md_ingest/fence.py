"""The fence: what makes the MD stream refuse a tick from a deposed holder.

On taking a venue's lease the holder appends a :class:`FeedFence` on ``md.fence.<venue>``. Every tick, bar
and status it publishes afterwards carries ``Nats-Expected-Last-Subject-Sequence`` = that fence's stream
sequence, checked against the fence subject only (``…-Subject: md.fence.<venue>``): the stream stores the
message only while that fence is still the newest one. A new holder's fence therefore makes every later
publish of the old holder fail, while the holder's own publishes never wait for each other (a check over
the tick subjects themselves would make every tick wait for the previous one's ack).

Publishes stay fire-and-forget for speed; one every ``ACK_SAMPLE_S`` asks for the stream's ack, and a
"wrong last sequence" answer (err 10071) is how a holder that was frozen past its lease learns it was
deposed. The fence is appended again once per lease period (conditional on our fence being the newest),
because the MD stream ages old messages out and a fence that disappeared would fail every check.

Every publish also carries our holding (``Tradebus-Holding``, tradebus.md_holding), so that core subscribers,
which the stream's check does not protect, drop what a deposed holder sends when it thaws.
"""

from __future__ import annotations

import asyncio
import time

import msgspec
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import APIError

from md_ingest.lease import VenueLease
from tradebus.bus import Bus, fencing
from tradebus.bus.connection import WRONG_LAST_SEQUENCE
from tradebus.bus.replay import last_stored
from tradebus.logs import get_logger
from tradebus.md_holding import HOLDING_HEADER
from tradebus.schemas.market import FeedFence
from tradebus.subjects import md_fence

log = get_logger("md_ingest.fence")
ACK_SAMPLE_S = 0.05  # one publish in this period asks for its ack (deposition noticed within ~one period)
MD_STREAM = "MD"
_encode = msgspec.json.Encoder().encode
_decode_fence = msgspec.json.Decoder(FeedFence).decode


class _Ack(msgspec.Struct):
    class Error(msgspec.Struct):
        code: int = 0
        err_code: int = 0
        description: str = ""

    error: Error | None = None
    seq: int = 0


_decode_ack = msgspec.json.Decoder(_Ack).decode


class Gate:
    """One venue's way into the MD stream while this instance holds the venue's lease."""

    def __init__(self, bus: Bus, lease: VenueLease) -> None:
        self.bus = bus
        self.lease = lease
        self.venue = lease.venue
        self.subject = md_fence(lease.venue)
        self.fence_seq = 0
        self.headers: dict[str, str] = {}
        # Our holding (tradebus.md_holding): the takeover fence's ts_event, repeated by every re-fence so that
        # subscribers order holders by it; its header value is formatted once.
        self.holding = time.time_ns()
        self._holding_header = str(self.holding)
        self.refused = 0  # publishes the stream refused (seen through sampled acks)
        self._pause: asyncio.Future[None] | None = None
        self._next_sample = 0.0
        self._ack_inbox = ""
        self._checking = False

    async def open(self) -> None:
        """Fence the stream for our epoch; from now on every earlier holder's publish is refused."""
        self._ack_inbox = self.bus.nc.new_inbox()
        await self.bus.nc.subscribe(self._ack_inbox, cb=self._on_ack)
        await self.fence(first=True)

    async def fence(self, *, first: bool = False) -> bool:
        """Append our fence (again): unconditionally when taking the venue, else only while ours is the newest.
        Publishing waits meanwhile, since what is sent behind the new fence must carry its sequence."""
        loop = asyncio.get_running_loop()
        pause = self._pause = loop.create_future()
        fence = FeedFence(venue=self.venue, holder=self.lease.holder, epoch=self.lease.epoch, ts_event=self.holding)
        try:
            seq = await fencing.append(
                self.bus.js,
                self.subject,
                _encode(fence),
                timeout=max(0.2, self.lease.lease_s / 3),
                after=None if first else self.fence_seq,
            )
        except APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                self.lease.deposed("a newer holder fenced the MD stream")
                return False
            log.warning("fence not appended", venue=self.venue, error=exc.description or str(exc))
            return False
        except (TimeoutError, NatsTimeoutError) as exc:
            log.warning("fence not appended", venue=self.venue, error=type(exc).__name__)
            return False
        finally:
            self._pause = None
            pause.set_result(None)
        self._adopt(seq)
        return True

    def _adopt(self, seq: int) -> None:
        self.fence_seq = seq
        self.headers = fencing.expect_newest(self.subject, seq) | {HOLDING_HEADER: self._holding_header}

    async def publish(self, subject: str, data: bytes) -> bool:
        """Publish behind our fence; False (nothing sent) once the lease's publish deadline has passed."""
        if self._pause is not None:
            await self._pause
        now = time.monotonic()
        if not self.lease.may_publish(now):
            return False
        if now >= self._next_sample:
            self._next_sample = now + ACK_SAMPLE_S
            await self.bus.nc.publish(subject, data, reply=self._ack_inbox, headers=self.headers)
        else:
            await self.bus.nc.publish(subject, data, headers=self.headers)
        return True

    async def _on_ack(self, msg: Msg) -> None:
        try:
            ack = _decode_ack(msg.data)
        except msgspec.DecodeError:
            return
        if ack.error is None:
            return
        self.refused += 1
        if ack.error.err_code != WRONG_LAST_SEQUENCE:
            log.warning("market data refused by the MD stream", venue=self.venue, error=ack.error.description)
            return
        if not self._checking:
            self._checking = True
            try:
                await self._check_fence()
            finally:
                self._checking = False

    async def _check_fence(self) -> None:
        """A publish failed its fence check: deposed if the newest fence is someone else's."""
        try:
            raw = await last_stored(self.bus.js, MD_STREAM, self.subject)
            newest = None if raw is None else _decode_fence(raw.data or b"")
        except Exception as exc:
            log.warning("fence not checked", venue=self.venue, error=str(exc) or type(exc).__name__)
            return
        if raw is None or newest is None:  # our fence aged out of the stream: fence again (we still hold the lease)
            if self.lease.held:
                await self.fence(first=True)
            return
        if newest.holder == self.lease.holder and newest.epoch == self.lease.epoch:
            if raw.seq and raw.seq != self.fence_seq:
                self._adopt(raw.seq)  # a fence append we stopped waiting for was stored after all
            return
        self.lease.deposed(f"the MD stream is fenced by {newest.holder!r} (epoch {newest.epoch})")
