"""Reference counts of subscriptions: who holds which instrument.

A reference is a (requester, instrument) pair and counts once, so a repeated subscribe from the same
requester is idempotent and an edge that restarts and subscribes again leaks nothing. The venue
subscription exists while at least one reference does: the first reference subscribes at the venue,
the last release unsubscribes.

A reference may be leased (``SubscribeRequest.lease_s``): it lapses unless the requester subscribes
again before the lease runs out. Edges lease theirs, so an edge killed without a chance to release
(kill -9, a lost host) stops holding its instruments within one lease; md_ingest cannot otherwise
tell that a requester is gone. A reference taken without a lease is held until it is released.
"""

from __future__ import annotations

import math

from md_ingest.contract import Instrument

STATIC_REQUESTER = "config"  # the [md] subscriptions list: held for the life of the process
FOREVER = math.inf


class Registry:
    def __init__(self) -> None:
        # instrument → requester → when its reference lapses (time.monotonic(); FOREVER = never)
        self._holders: dict[Instrument, dict[str, float]] = {}
        self.version = 0  # grows when a reference is added or removed (not when one is renewed)

    def add(self, instrument: Instrument, requester: str, expires_at: float = FOREVER) -> tuple[int, bool]:
        """Add or renew a reference; returns (refcount, whether this is the instrument's first reference).
        A renewal replaces the reference's expiry: the requester's latest word counts."""
        holders = self._holders.get(instrument)
        first = holders is None
        if holders is None:
            holders = self._holders[instrument] = {}
        if requester not in holders:
            self.version += 1
        holders[requester] = expires_at
        return len(holders), first

    def remove(self, instrument: Instrument, requester: str) -> tuple[int, bool]:
        """Release a reference; returns (refcount, whether that was the last reference)."""
        holders = self._holders.get(instrument)
        if holders is None or requester not in holders:
            return (len(holders) if holders else 0), False
        del holders[requester]
        self.version += 1
        if holders:
            return len(holders), False
        del self._holders[instrument]
        return 0, True

    def lapsed(self, now: float) -> list[tuple[Instrument, str]]:
        """The (instrument, requester) references whose lease ran out before ``now``."""
        return [(inst, requester) for inst, holders in self._holders.items()
                for requester, expires_at in holders.items() if expires_at <= now]

    def drop(self, instrument: Instrument) -> set[str]:
        """Forget an instrument entirely (the venue refused it); returns who held it."""
        self.version += 1
        return set(self._holders.pop(instrument, {}))

    def holds(self, instrument: Instrument, requester: str) -> bool:
        return requester in self._holders.get(instrument, ())

    def count(self, instrument: Instrument) -> int:
        return len(self._holders.get(instrument, ()))

    def __contains__(self, instrument: object) -> bool:
        return instrument in self._holders

    def references(self, venue: str) -> list[tuple[Instrument, str, float]]:
        """Every (instrument, requester, expiry) of the venue."""
        return [(inst, requester, expires_at) for inst, holders in self._holders.items() if inst.venue == venue
                for requester, expires_at in holders.items()]

    def active(self, venue: str) -> list[Instrument]:
        return [i for i in self._holders if i.venue == venue]

    def size(self, venue: str) -> int:
        return sum(1 for i in self._holders if i.venue == venue)
