"""The rebuild: td_exec's fold of TD_EVT at start, in stream order, whole or after a snapshot.

Its own module so that the engine (which starts with it) and the snapshot loader (which continues a
snapshot with it) both use it without importing each other.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import msgspec
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from td_exec.fence import EVENT_STREAM, last_seq
from tradebus.bus import Bus
from tradebus.logs import get_logger
from tradebus.orders.order import Ledger, fold
from tradebus.runtime.metrics import Counter
from tradebus.schemas import ORDER_EVENT_DECODER
from tradebus.schemas.orders import OrderEvent

log = get_logger("td_exec.rebuild")
__all__ = ["EVENT_STREAM", "foreign_reason", "rebuild"]


# Headers a direct get adds to the copy it returns: a message carrying them in TD_EVT was relayed
# there by someone's request with td.evt.… as its reply subject, not appended by td_exec.
RELAYED_COPY_HEADER = "Nats-Stream"


def foreign_reason(msg: Msg) -> str | None:
    """Why a TD_EVT message cannot be one of td_exec's own appends (None: it may be)."""
    if msg.headers and RELAYED_COPY_HEADER in msg.headers:
        return f"a copy relayed from stream {msg.headers[RELAYED_COPY_HEADER]}"
    return None


async def rebuild(bus: Bus, idle_timeout: float = 5.0, skipped: Counter | None = None, *,
                  ledger: Ledger | None = None, after_seq: int = 0, subject: str = "td.evt.>",
                  on_orphan: Callable[[OrderEvent], None] | None = None,
                  every: tuple[int, Callable[[Ledger], None]] | None = None) -> Ledger:
    """Fold every stored order event into a fresh :class:`Ledger`, in stream order.

    The same replay as :func:`tradebus.bus.replay.fold_stream` (an ordered push consumer, stopping
    at the messages that existed when it started), but with a callback instead of ``next_msg`` and
    the stream sequence read from the reply subject instead of ``msg.metadata``: a rebuild folds
    millions of events and those two costs were most of it.

    The replay ends by stream sequence, not by a count of events: a message that is not one of ours
    (undecodable, or a relayed copy; see ``docs/security.md``) is logged once with its sequence,
    counted in ``skipped`` and passed over, so one foreign message cannot stop td_exec from starting.

    With ``ledger`` and ``after_seq`` (a snapshot, see ``td_exec.snapshot``) only the messages after
    ``after_seq`` are folded into it. ``subject`` narrows the fold (one account, at a takeover). The
    replay ends at the last message on ``subject`` present when it starts — not at the stream's last
    message, which may be a fence (``td.fence.…``) that this consumer never sees. ``on_orphan`` sees
    every event of an order the ledger does not hold (a denial, or an order retired before the snapshot:
    see ``td_exec.closed``). ``every`` is ``(n, call)``: ``call(ledger)`` after every ``n`` messages
    received (closed orders leave during a long replay) — counted, not read off the stream sequence,
    which skips the other subjects' messages when ``subject`` narrows the fold.
    """
    ledger = ledger if ledger is not None else Ledger()
    last = await last_seq(bus.js, subject)
    if last <= after_seq:
        return ledger
    done = asyncio.Event()
    decode = ORDER_EVENT_DECODER.decode
    reached = 0  # stream sequence of the last message seen, ours or not
    received = 0  # messages seen, ours or not (``every`` counts these)

    def skip(seq: int, msg: Msg, reason: str) -> None:
        if skipped is not None:
            skipped.inc()
        log.error("foreign message in TD_EVT skipped", seq=seq, subject=ascii(msg.subject), reason=ascii(reason),
                  size=len(msg.data), head=ascii(msg.data[:80]))

    async def on_msg(msg: Msg) -> None:
        nonlocal reached, received
        # $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>
        seq = int(msg.reply.split(".")[5]) if msg.reply else reached
        reached = max(reached, seq)
        reason = foreign_reason(msg)
        if reason is None:
            try:
                event = decode(msg.data)
                if fold(ledger, event) is None and on_orphan is not None:
                    on_orphan(event)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                reason = f"undecodable: {exc}"
        if reason is not None:
            skip(seq, msg, reason)
        received += 1
        if every is not None and received % every[0] == 0:
            every[1](ledger)
        if reached >= last:
            done.set()

    start = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after_seq + 1) \
        if after_seq else ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
    sub = await bus.js.subscribe(subject, ordered_consumer=True, config=start, cb=on_msg,
                                 pending_msgs_limit=1 << 20, pending_bytes_limit=1 << 30)
    try:
        while not done.is_set():
            seen = reached
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), idle_timeout)
            if not done.is_set() and reached == seen:
                raise TimeoutError(f"TD_EVT replay stalled at sequence {seen} (expected up to sequence {last})")
    finally:
        await sub.unsubscribe()
    return ledger
