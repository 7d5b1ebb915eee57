"""A steady order flow on one venue account, and the one-by-one audit of what became of every order.

The flow is a client following the documented contract (README, "Using it"): it sends ``SubmitOrder``
requests on ``td.cmd.<venue>.<account>`` with a ``client_order_id`` of its own, cancels each order once
accepted (``CancelOrder``), and, when a request meets
silence (its connection went down with the node it was on), sends the same command again with the same id:
td_exec returns the existing order and never sends a second one. A command that stays silent past
``ANSWER_DEADLINE_S`` is *unanswered*; an error reply or a ``CommandDenied`` is an answer.

The audit compares, order by order, what the flow was told (accepted ids), TD_EVT (exactly one
``OrderSubmitted`` per id, no ``ext-`` order), the ``orders`` KV projection (every id, with its venue
order id) and the venue's own order list (every venue order is exactly one of ours).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field

import msgspec
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.api import DeliverPolicy

from tradebus.schemas import ORDER_EVENT_DECODER, TRADE_REPLY_DECODER
from tradebus.schemas.orders import (
    CancelOrder,
    CommandAccepted,
    CommandDenied,
    Offset,
    OrderSubmitted,
    OrderView,
    Side,
    SubmitOrder,
)

REQUEST_TIMEOUT_S = 2.0
ANSWER_DEADLINE_S = 30.0  # a command silent this long, through every retry, is unanswered
PACE_S = 0.1  # one command per venue every 100 ms: a steady flow, not a load test


@dataclass
class Ledger:
    """What one flow sent and what it was told."""

    venue: str
    account: str
    sent: list[str] = field(default_factory=list)
    accepted: dict[str, OrderView] = field(default_factory=dict)
    denied: dict[str, str] = field(default_factory=dict)  # id → code (an answer, not an order)
    cancel_denied: dict[str, str] = field(default_factory=dict)  # id → code of a refused cancel
    errors: int = 0  # error replies (an answer too: the command is sent again with its id)
    silent_tries: int = 0  # requests that met silence and were sent again with the same id
    unanswered: list[str] = field(default_factory=list)
    answered_at: list[float] = field(default_factory=list)  # monotonic time of each acceptance

    def longest_pause(self, since: float, until: float) -> float:
        """The longest time without an acceptance inside [since, until]: how long the flow stood still."""
        times = [since, *(t for t in self.answered_at if since < t < until), until]
        return max(b - a for a, b in itertools.pairwise(times))


@dataclass
class OrderFlow:
    nc: Client
    ledger: Ledger
    exchange: str
    symbol: str
    price: float
    qty: int
    offset: Offset
    prefix: str  # client_order_id prefix, unique per flow

    async def run(self, stop: asyncio.Event) -> None:
        """Submit, then cancel once accepted (resting orders would lock the account's buying power)."""
        number = 0
        while not stop.is_set():
            number += 1
            coid = f"{self.prefix}{number:05d}"
            ledger = self.ledger
            ledger.sent.append(coid)
            submit = SubmitOrder(venue=ledger.venue, account=ledger.account, exchange=self.exchange,
                                 symbol=self.symbol, side=Side.BUY, qty=self.qty, price=self.price, offset=self.offset,
                                 client_order_id=coid)
            answer = await self._command(submit, coid)
            if isinstance(answer, CommandAccepted):
                ledger.accepted[coid] = answer.order
                ledger.answered_at.append(time.monotonic())
                cancelled = await self._command(CancelOrder(venue=ledger.venue, account=ledger.account,
                                                            client_order_id=coid), coid)
                if isinstance(cancelled, CommandDenied):
                    ledger.cancel_denied[coid] = cancelled.code
            elif isinstance(answer, CommandDenied):
                ledger.denied[coid] = answer.code
            await asyncio.sleep(PACE_S)  # the flow's pace (a rate), not a wait for anything

    async def _command(self, command: SubmitOrder | CancelOrder, coid: str) -> object | None:
        """The answer to ``command``, sent again (same id) after silence or an error reply; None when it
        stayed silent past ANSWER_DEADLINE_S (recorded as unanswered)."""
        ledger = self.ledger
        data = msgspec.json.encode(command)
        deadline = time.monotonic() + ANSWER_DEADLINE_S
        while time.monotonic() < deadline:
            try:
                reply = await self.nc.request(f"td.cmd.{ledger.venue}.{ledger.account}", data,
                                              timeout=REQUEST_TIMEOUT_S)
            except (NatsError, TimeoutError, OSError):
                ledger.silent_tries += 1  # silence: the same command again, same id
                continue
            if (reply.headers or {}).get("Nats-Service-Error"):
                ledger.errors += 1  # an answer; the command is retried for its outcome
                continue
            answer = TRADE_REPLY_DECODER.decode(reply.data)
            if isinstance(answer, CommandAccepted | CommandDenied):
                return answer
            raise AssertionError(f"unexpected reply to {type(command).__name__}: {answer!r}")
        ledger.unanswered.append(f"{type(command).__name__} {coid}")
        return None


async def submitted_events(nc: Client, venue: str, account: str) -> dict[str, int]:
    """client_order_id → how many ``OrderSubmitted`` TD_EVT holds for it (an ordered consumer from the start)."""
    js = nc.jetstream()
    counts: dict[str, int] = {}
    # Called once the account has orders, so the filter matches at least one message: read until the
    # message that says nothing is pending after it.
    sub = await js.subscribe(f"td.evt.{venue}.{account}.>", stream="TD_EVT", ordered_consumer=True,
                             deliver_policy=DeliverPolicy.ALL)
    try:
        while True:
            msg = await sub.next_msg(timeout=10)
            event = ORDER_EVENT_DECODER.decode(msg.data)
            coid = msg.subject.rsplit(".", 1)[1]
            counts[coid] = counts.get(coid, 0) + isinstance(event, OrderSubmitted)
            if msg.metadata.num_pending == 0:
                break
    finally:
        await sub.unsubscribe()
    return counts


async def projected(nc: Client, venue: str, account: str, coids: list[str]) -> dict[str, OrderView]:
    """The ``orders`` KV entry of every id that has one."""
    kv = await nc.jetstream().key_value("orders")
    found: dict[str, OrderView] = {}
    for coid in coids:
        try:
            entry = await kv.get(f"{venue}.{account}.{coid}")
        except Exception:  # missing: the audit counts it lost
            continue
        if entry.value:
            found[coid] = msgspec.json.decode(entry.value, type=OrderView)
    return found


@dataclass
class Audit:
    lost: list[str]
    doubled: list[str]
    unanswered: list[str]

    def figures(self) -> dict[str, int]:
        return {"lost": len(self.lost), "doubled": len(self.doubled), "unanswered": len(self.unanswered)}


def _missing(coid: str, events: dict[str, int], views: dict[str, OrderView], venue_ids: list[str]) -> str:
    """Where an accepted order is missing ("" when it is everywhere)."""
    if events.get(coid, 0) < 1:
        return "no OrderSubmitted in TD_EVT"
    if coid not in views:
        return "not in KV orders"
    if views[coid].venue_order_id not in venue_ids:
        return f"venue order {views[coid].venue_order_id} ({views[coid].status}) not at the venue"
    return ""


def audit(ledger: Ledger, events: dict[str, int], views: dict[str, OrderView], venue_ids: list[str]) -> Audit:
    """Every accepted order once in TD_EVT, in KV and at the venue; every venue order one of ours."""
    lost = sorted(f"{coid}: {why}" for coid in ledger.accepted if (why := _missing(coid, events, views, venue_ids)))
    ours = {views[coid].venue_order_id: coid for coid in views}
    doubled = sorted(coid for coid, count in events.items() if count > 1)
    doubled += sorted(f"ext:{coid}" for coid in events if coid.startswith("ext-"))
    doubled += sorted(f"venue:{vid}" for vid in venue_ids if vid not in ours)
    doubled += sorted(f"venue-twice:{vid}" for vid in set(venue_ids) if venue_ids.count(vid) > 1)
    return Audit(lost, doubled, list(ledger.unanswered))
