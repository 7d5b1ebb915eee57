"""Fencing a JetStream stream: one writer at a time, enforced by the stream itself, not by a lease alone.

A lease (:mod:`tradebus.bus.kv_lease`) says who *should* write; a holder that was frozen or cut off may
not know yet that it lost it. So the new holder appends a fence record, and each later write of its
carries :func:`expect_newest`: JetStream stores the write only while that fence is still the newest on
the fences' subject (err_code ``WRONG_LAST_SEQUENCE`` otherwise). The check names the fences only, not
the writes themselves, so the expectation does not change with each write and writes stay pipelined.
md_ingest fences the MD stream per venue, td_exec TD_EVT per account.
"""

from __future__ import annotations

from nats.js import JetStreamContext

from tradebus.bus.connection import EXPECTED_LAST_SUBJECT_SEQ, EXPECTED_LAST_SUBJECT_SEQ_SUBJECT


def expect_newest(fences: str, fence_seq: int) -> dict[str, str]:
    """The headers that make JetStream refuse a write once a newer fence than ``fence_seq`` was appended
    on ``fences`` (a subject, or a filter with wildcards)."""
    return {EXPECTED_LAST_SUBJECT_SEQ: str(fence_seq), EXPECTED_LAST_SUBJECT_SEQ_SUBJECT: fences}


async def append(js: JetStreamContext, subject: str, record: bytes, *, timeout: float, after: int | None = None) -> int:
    """Append a fence record on ``subject`` and return its stream sequence.

    ``after`` None: unconditionally — taking over, the new fence is what deposes the previous writer.
    Else only while the fence at sequence ``after`` is still the newest on ``subject`` (renewing our own
    fence must not overwrite a newer holder's); a refusal raises ``APIError`` with ``WRONG_LAST_SEQUENCE``."""
    headers = None if after is None else {EXPECTED_LAST_SUBJECT_SEQ: str(after)}
    ack = await js.publish(subject, record, headers=headers, timeout=timeout)
    return ack.seq
