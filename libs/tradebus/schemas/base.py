"""Common base for every payload on the bus.

Wire rules (see ``docs/schemas.md`` for the evolution rule):

* JSON, encoded by msgspec, so any language with a NATS client can read it;
* every type is a frozen tagged ``msgspec.Struct``; the tag lives in the ``type`` field and is the
  class name, so a reader can dispatch without knowing the subject;
* unknown fields are ignored on decode (no ``forbid_unknown_fields``): an old reader keeps working when
  a field is added;
* times are ``int`` nanoseconds since the Unix epoch, UTC.
"""

from __future__ import annotations

import time

import msgspec


class BusMessage(msgspec.Struct, frozen=True, tag_field="type", tag=True, kw_only=True):
    """Base of every bus payload; subclasses are tagged with their class name."""


def now_ns() -> int:
    return time.time_ns()


_encoder = msgspec.json.Encoder()


def encode(message: BusMessage) -> bytes:
    return _encoder.encode(message)
