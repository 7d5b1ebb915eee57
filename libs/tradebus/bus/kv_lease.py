"""One key of a KV lease bucket: which instance holds it, taken and given back by revision-checked writes.

md_ingest (bucket ``md_leases``, a key per venue) and td_exec (``td_leases``, a key per account) both
decide who works on something this way; what each does while holding stays with it.

* **Looking.** A standby reads the key and judges a lapse by *its own* monotonic clock only: it notes when
  it first saw the key's current revision (:class:`Sighting`), and the lease has lapsed once that
  revision stayed unchanged for ``lease_s``. Clocks of different hosts are never compared.
* **Taking.** A write revision-checked against the sighting: an update of the seen revision, or a
  create over an absent (or deleted) key. Of two standbys racing for one key exactly one wins. A key
  naming this same holder id is most likely this instance's previous run (killed, restarted). When
  the value shows that run was on this host and its pid is gone (or is our own pid: a restarted
  container's pid 1), it is taken back at once. Otherwise (another host, or a live pid) it is taken
  once it has not moved for half a lease (:data:`OWN_KEY_SHARE`), not a whole one. A live process
  renews every third of a lease, so if two processes are given one id by mistake, the one that does
  not hold the key never sees it unmoved that long and stands by instead of taking turns.
* **Renewing.** A revision-checked update of our own last revision; refused once someone else wrote.
* **Giving back.** A revision-checked delete, so a standby takes over at once instead of waiting.

The lease alone is advisory: each user also fences its stream so that a deposed holder's late write fails.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from dataclasses import dataclass

import msgspec
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import BadRequestError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from tradebus.bus.connection import WRONG_LAST_SEQUENCE

MAX_MARGIN_S = 0.25  # how much earlier than the lease's end a holder stops acting on it
# A key naming this holder id lapses after this share of the lease: longer than a holder's renewal period
# (a third), so a live process with the same id keeps it, shorter than the lease, so a restart is quick.
OWN_KEY_SHARE = 0.5


def margin(lease_s: float) -> float:
    """How long before its lease ends a holder stops: covers the renewal's flight to the server."""
    return min(MAX_MARGIN_S, lease_s / 4)


class LeaseValue(msgspec.Struct, frozen=True, omit_defaults=True):
    """The key's value. ``pid`` and ``host`` are omitted while unset, so a value without them keeps its bytes."""

    holder: str  # the instance id of the holder
    epoch: int  # grows with every takeover; the holder's fences carry it
    pid: int = 0  # the holder's process: for the operator, and to tell a dead previous run from a live twin
    host: str = ""  # the holder's host name: a pid means something only on its own host


# A value this code cannot decode: someone unknown holds the key, and it lapses like any other.
UNREADABLE = LeaseValue(holder="?", epoch=0)
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(LeaseValue).decode


def decode_value(raw: bytes | None) -> LeaseValue:
    try:
        return _decode(raw or b"")
    except msgspec.DecodeError:
        return UNREADABLE


@dataclass
class Sighting:
    """The key as this process saw it: held by ``holder``, or absent (``holder`` "")."""

    holder: str
    epoch: int
    revision: int  # of the entry, or of its delete marker; 0 when the key was never written
    since: float  # time.monotonic() when this revision was first seen here
    pid: int = 0  # the holder's process and host, as its value names them
    host: str = ""

    def age(self, now: float) -> float:
        """How long the key has not moved, by this process's clock."""
        return now - self.since


class KeyLease:
    """One lease key as one holder sees it: look, take, renew, give back.

    ``timeout`` bounds every call to the bucket. Operations other than :meth:`look` let the bucket's own
    errors (a timeout, a lost connection) through: the caller decides how long it may go unconfirmed.
    """

    def __init__(self, kv: KeyValue, key: str, holder: str, lease_s: float, *, timeout: float,
                 pid: int | None = None, host: str | None = None) -> None:
        if not holder:
            raise ValueError("a lease holder needs a name: an empty one is how an absent key is seen")
        self.kv = kv
        self.key = key
        self.holder = holder
        self.lease_s = lease_s
        self.timeout = timeout
        self.pid = os.getpid() if pid is None else pid  # tests stand in for other processes with these
        self.host = socket.gethostname() if host is None else host
        self.revision = 0  # of the key as this holder last wrote it; 0 while not holding
        self.epoch = 0
        self.confirmed_at = 0.0  # time.monotonic() when the last confirmed write was sent
        self.seen: Sighting | None = None  # the latest look, while not holding

    @property
    def held(self) -> bool:
        return self.revision != 0

    def lapsed(self, sighting: Sighting, now: float, wait: float | None = None) -> bool:
        """Whether ``sighting`` may be taken: it has not moved for ``wait`` (``lease_s`` unless told), or,
        when it names this holder id, for ``OWN_KEY_SHARE`` of the lease if that is sooner."""
        wait = self.lease_s if wait is None else wait
        if sighting.holder == self.holder:
            if self._previous_run_gone(sighting):
                return True
            wait = min(wait, self.lease_s * OWN_KEY_SHARE)
        return sighting.age(now) >= wait

    def _previous_run_gone(self, sighting: Sighting) -> bool:
        """Whether the key's writer, which had our holder id, is provably not running: same host, and its
        pid is ours (a restart that got the same pid, e.g. a container's pid 1) or no process at all."""
        if not sighting.pid or sighting.host != self.host:
            return False
        if sighting.pid == self.pid:
            return True
        try:
            os.kill(sighting.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # a process of another user: alive
            return False
        return False

    async def look(self) -> Sighting | None:
        """Read the key once; None when the bucket did not answer in time."""
        try:
            entry = await asyncio.wait_for(self.kv.get(self.key), self.timeout)
        except KeyNotFoundError as exc:  # never written, or given back (its delete marker has a revision)
            marker = getattr(exc, "entry", None)
            return self._saw("", 0, (marker.revision or 0) if marker is not None else 0)
        except (TimeoutError, NatsTimeoutError):
            return None
        value = decode_value(entry.value)
        return self._saw(value.holder, value.epoch, entry.revision or 0, value.pid, value.host)

    def _saw(self, holder: str, epoch: int, revision: int, pid: int = 0, host: str = "") -> Sighting:
        # A new revision (renewed, or taken by someone) restarts the count; the same one keeps its first time.
        if self.seen is None or self.seen.revision != revision:
            self.seen = Sighting(holder, epoch, revision, time.monotonic(), pid, host)
        return self.seen

    async def take(self, sighting: Sighting, epoch: int | None = None) -> bool:
        """Write our value over exactly what ``sighting`` saw; False when someone wrote the key first.

        ``epoch`` None: the epoch is the revision this write gets. It is unknown until stored, so the value
        names 0 until the first renewal writes the real one."""
        sent = time.monotonic()
        try:
            revision = await self._write(epoch or 0, last=sighting.revision)
        except KeyWrongLastSequenceError:
            return False
        self.revision, self.confirmed_at, self.seen = revision, sent, None
        self.epoch = revision if epoch is None else epoch
        return True

    async def renew(self) -> bool:
        """Write our value again over our last revision; False when the key is not ours any more.

        A refusal can also be our own earlier renewal that we stopped waiting for and that was stored after
        all: the key still names us with our epoch, and we keep holding it (its send time is unknown, so the
        last confirmed one stays). The caller drops a key that is not ours."""
        last, sent = self.revision, time.monotonic()
        if not last:
            return False
        try:
            revision = await self._write(self.epoch, last=last)
        except KeyWrongLastSequenceError:
            return await self._still_ours(last)
        if self.revision == last:  # not dropped while the write was under way
            self.revision, self.confirmed_at = revision, sent
        return True

    async def _still_ours(self, last: int) -> bool:
        try:
            entry = await asyncio.wait_for(self.kv.get(self.key), self.timeout)
        except Exception:  # absent, or no answer: we cannot show that it is ours
            return False
        value = decode_value(entry.value)
        if value.holder != self.holder or value.epoch != self.epoch or not entry.revision:
            return False
        if self.revision == last:
            self.revision = entry.revision
        return True

    async def _write(self, epoch: int, *, last: int) -> int:
        value = _encode(LeaseValue(self.holder, epoch, self.pid, self.host))
        return await asyncio.wait_for(self.kv.update(self.key, value, last=last), self.timeout)

    def drop(self) -> None:
        """Stop holding without touching the key: someone else has it."""
        self.revision = 0
        self.confirmed_at = 0.0

    async def release(self, timeout: float | None = None) -> None:
        """Give the key back (a delete of our revision), so that a standby takes it at once. Raises when it
        was taken meanwhile or the bucket did not answer: the standby then waits out the lease instead."""
        if not self.held:
            return
        revision = self.revision
        self.drop()
        try:
            await asyncio.wait_for(self.kv.delete(self.key, last=revision), timeout or self.timeout)
        except BadRequestError as exc:  # nats-py names a refused update, not a refused delete: say it alike
            if exc.err_code == WRONG_LAST_SEQUENCE:
                raise KeyWrongLastSequenceError(description=exc.description) from exc
            raise
