"""Reference counts of subscriptions: who holds which instrument.

A reference is a (requester, instrument) pair and counts once, so a repeated subscribe from the same
requester is idempotent and an edge that restarts and subscribes again leaks nothing. The venue
subscription exists while at least one reference does: the first reference subscribes at the venue,
the last release unsubscribes.
"""

from __future__ import annotations

from md_ingest.contract import Instrument

STATIC_REQUESTER = "config"  # the [md] subscriptions list: held for the life of the process


class Registry:
    def __init__(self) -> None:
        self._holders: dict[Instrument, set[str]] = {}

    def add(self, instrument: Instrument, requester: str) -> tuple[int, bool]:
        """Add a reference; returns (refcount, whether this is the instrument's first reference)."""
        holders = self._holders.get(instrument)
        first = holders is None
        if holders is None:
            holders = self._holders[instrument] = set()
        holders.add(requester)
        return len(holders), first

    def remove(self, instrument: Instrument, requester: str) -> tuple[int, bool]:
        """Release a reference; returns (refcount, whether that was the last reference)."""
        holders = self._holders.get(instrument)
        if holders is None or requester not in holders:
            return (len(holders) if holders else 0), False
        holders.discard(requester)
        if holders:
            return len(holders), False
        del self._holders[instrument]
        return 0, True

    def drop(self, instrument: Instrument) -> set[str]:
        """Forget an instrument entirely (the venue refused it); returns who held it."""
        return self._holders.pop(instrument, set())

    def count(self, instrument: Instrument) -> int:
        return len(self._holders.get(instrument, ()))

    def __contains__(self, instrument: object) -> bool:
        return instrument in self._holders

    def active(self, venue: str) -> list[Instrument]:
        return [i for i in self._holders if i.venue == venue]

    def size(self, venue: str) -> int:
        return sum(1 for i in self._holders if i.venue == venue)
