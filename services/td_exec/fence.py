"""Fencing TD_EVT: at most one writer per account, enforced by JetStream itself, not by the lease alone.

A lease (``td_exec.lease``) says who *should* write an account; a process that was stopped or cut
off may not know yet that it lost it. So a new holder first appends a fence message
``td.fence.<venue>.<account>.<holder>`` (``AccountFence``) into TD_EVT, and every later append of that account carries
``Nats-Expected-Last-Subject-Sequence`` = the stream sequence of that fence, checked over
``td.fence.<venue>.<account>.*`` (``Nats-Expected-Last-Subject-Sequence-Subject``): "my fence is still
the account's newest". A newer fence — another instance took the account — makes JetStream refuse
the deposed writer's next append with err_code 10071, and it steps down at once.

The check names the fences only, not the account's own events, so the expectation does not change
with each append: appends stay pipelined however many are in flight and whoever else appends other
accounts to the same stream. One limit measured on nats-server 2.15: a *replicated* stream refuses a
second in-flight append with the same expectation subject (err_code 10164) until the first is
applied, so on R3 the store keeps one append per account in flight (``EventStore.serialize``);
accounts stay independent of each other.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import msgspec
from nats.js import JetStreamContext
from nats.js.api import PubAck

from tradebus.bus import fencing, replay
from tradebus.schemas.base import now_ns
from tradebus.schemas.orders import AccountFence
from tradebus.subjects import parse_td_evt, td_fence, td_fences

EVENT_STREAM = "TD_EVT"


_encode = msgspec.json.Encoder().encode
Key = tuple[str, str]  # (venue, account)


def account_of(subject: str) -> Key:
    venue, account, _ = parse_td_evt(subject)
    return venue, account


@dataclass(eq=False)
class Fence:
    """One held account's fence and this writer's latest append of the account."""

    venue: str
    account: str
    holder: str
    epoch: int
    seq: int  # TD_EVT sequence of our fence message
    prev: asyncio.Future[PubAck] | None = None  # our latest append of the account, maybe still in flight
    deposed: bool = False

    def headers(self) -> dict[str, str]:
        return expect_fence(self.venue, self.account, self.seq)


def expect_fence(venue: str, account: str, fence_seq: int) -> dict[str, str]:
    """The headers that make JetStream refuse an append once a newer fence than ``fence_seq`` exists."""
    return fencing.expect_newest(td_fences(venue, account), fence_seq)


async def last_seq(js: JetStreamContext, subject: str) -> int:
    """The stream sequence of the last TD_EVT message on ``subject`` (a wildcard is fine); 0 if none."""
    return await replay.last_seq(js, EVENT_STREAM, subject)


async def last_fence_seq(js: JetStreamContext, venue: str, account: str) -> int:
    return await last_seq(js, td_fences(venue, account))


async def append_fence(
    js: JetStreamContext, venue: str, account: str, holder: str, epoch: int, timeout: float
) -> Fence:
    """Append the fence (unconditionally: it is what deposes the previous writer) and return its state."""
    body = AccountFence(venue=venue, account=account, holder=holder, epoch=epoch, ts=now_ns())
    seq = await fencing.append(js, td_fence(venue, account, holder), _encode(body), timeout=timeout)
    return Fence(venue, account, holder, epoch, seq)
