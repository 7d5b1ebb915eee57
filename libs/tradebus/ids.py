"""Deterministic identifiers.

An event's id is a pure function of what it records, so a retry, a venue re-push after a reconnect or
a CTP day replay produces the *same* id, and JetStream (``Nats-Msg-Id``) and our folds store it once.
"""

from __future__ import annotations

import hashlib
import os
import time


def order_event_id(venue: str, account: str, client_order_id: str, kind: str, key: str = "") -> str:
    """``<venue>:<account>:<client_order_id>:<kind>[:<key>]`` hashed to a compact, header-safe id.

    ``kind`` is the event type; ``key`` tells two events of the same kind apart (a trade id for a
    fill, the modify sequence for an update). Hashing keeps the id short and free of the spaces CTP
    puts in its ids.
    """
    raw = "\x1f".join((venue, account, client_order_id, kind, key))
    return f"{kind}-{hashlib.blake2b(raw.encode(), digest_size=12).hexdigest()}"


def venue_trade_key(venue: str, *parts: str) -> str:
    """Venue-derived trade identity, e.g. ``ctp:SHFE:12345`` or ``futu:<deal_id>``."""
    return ":".join((venue, *(p.strip() for p in parts)))


def new_client_order_id(prefix: str = "O") -> str:
    """A fresh id for an order whose caller gave none: time-ordered, random-suffixed, subject-safe."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{prefix}-{stamp}-{os.urandom(4).hex()}"
