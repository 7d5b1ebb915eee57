"""The holder's subscription references, kept in the KV bucket ``md_leases`` for whoever takes over.

A standby follows ``md.ctl`` itself, but it cannot have heard what was asked before it started, and a
reference taken without a lease (a strategy, the operator) is never asked again. So the holder writes the
venue's references to the key ``<venue>.refs`` whenever they change (checked on its housekeeping tick), and
a new holder adds them to its own before it subscribes at the venue. Leased references keep their time left.
"""

from __future__ import annotations

import math
import time

import msgspec
from nats.js.kv import KeyValue

from md_ingest.contract import Instrument
from md_ingest.registry import STATIC_REQUESTER, Registry
from tradebus.logs import get_logger

log = get_logger("md_ingest.handover")


class HeldReferences(msgspec.Struct, frozen=True):
    # (exchange, symbol, requester, seconds its lease has left; -1: held until released)
    refs: list[tuple[str, str, str, float]]


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(HeldReferences).decode


def refs_key(venue: str) -> str:
    return f"{venue}.refs"


async def save(kv: KeyValue, registry: Registry, venue: str) -> None:
    now = time.monotonic()
    refs = [
        (inst.exchange, inst.symbol, requester, -1.0 if math.isinf(expires_at) else max(0.0, expires_at - now))
        for inst, requester, expires_at in registry.references(venue)
        if requester != STATIC_REQUESTER
    ]
    await kv.put(refs_key(venue), _encode(HeldReferences(refs)))


async def load(kv: KeyValue, registry: Registry, venue: str) -> int:
    """Add the previous holder's references to ``registry``; returns how many were new to it."""
    try:
        entry = await kv.get(refs_key(venue))
        held = _decode(entry.value or b"")
    except Exception as exc:  # none saved (first holder), or unreadable: what md.ctl told us is all we have
        log.info("no references handed over", venue=venue, reason=type(exc).__name__)
        return 0
    now, added = time.monotonic(), 0
    for exchange, symbol, requester, left in held.refs:
        inst = Instrument(venue, exchange, symbol)
        if registry.holds(inst, requester):
            continue
        registry.add(inst, requester, math.inf if left < 0 else now + left)
        added += 1
    log.info("references handed over", venue=venue, saved=len(held.refs), added=added)
    return added
