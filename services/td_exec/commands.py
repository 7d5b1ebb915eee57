"""The command endpoint: ``td.cmd.<venue>.<account>`` request/reply over NATS.

Every td_exec instance subscribes ``td.cmd.<venue>.*`` in the queue group ``td_exec``, so each
command reaches one instance. Exactly one instance writes an account (its lease and fence, see
``td_exec.lease`` and ``td_exec.fence``): the holder answers the command itself; any other instance
forwards it to ``td.fwd.<holder instance id>`` (a request bounded by ``td.forward_timeout_s``) and
relays the answer. With no holder known (a takeover under way) or a holder that does not answer, the
reply is ``CommandDenied(code="reconciling")``: the caller resends with the same client_order_id.
A forwarded command is never forwarded again (the holder it reached answers itself or says
``reconciling``), so two instances with different views cannot bounce it between them.

The holder also subscribes each account it holds (``td.cmd.<venue>.<account>``, no queue) from the
moment it takes the lease until it loses it. The queue group hands a share of the commands to every
member, and a frozen member (SIGSTOP, a paused VM) keeps its share until nats-server drops it; the
direct subscription makes every command for a held account reach its holder whichever member the
queue picked. So once a standby has taken over from a frozen holder, every command for the account is
answered at once. The direct subscriptions live on a second connection (``direct_bus``): nats-server
refuses the reply to a request that reached the replying connection twice (its ``allow_responses``
check), so each copy must come in on its own connection, and the answer goes out on the connection
its copy came in on. A holder thus sees a command up to three times (queue, direct, forwarded): it answers the first
copy, remembers the request (``RecentRequests``), and lets the others go, telling a forwarding instance
that the requester has its answer already (``ANSWERED_HEADER``), so the requester gets exactly one reply.

Every request is handled on its own task (nats-py runs a subscription's callbacks one after another,
and one slow venue call must not hold up the next command), and every request gets a reply: the
engine's answer, or ``CommandDenied`` for a body that does not decode or a subject that names another
account than the body.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from typing import Any

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from td_exec.engine import Engine
from td_exec.fence import Key
from tradebus.bus import Bus, answerable
from tradebus.bus.flush import flush_in_order
from tradebus.logs import get_logger
from tradebus.schemas import TRADE_COMMAND_DECODER
from tradebus.schemas.base import BusMessage
from tradebus.schemas.orders import CommandDenied, TradeCommand
from tradebus.subjects import td_cmd, td_fwd, unescape_token

log = get_logger("td_exec.commands")

QUEUE = "td_exec"
SUBJECT_HEADER = "Tradebus-Cmd-Subject"  # a forwarded command's original td.cmd subject
REPLY_HEADER = "Tradebus-Cmd-Reply"  # a forwarded command's original reply subject: the request's identity
ANSWERED_HEADER = "Tradebus-Cmd-Answered"  # the holder's reply to a forward it had answered directly
RECENT_REQUESTS = 16_384  # requests remembered per instance at most: far more than the commands in flight


class RecentRequests:
    """The requests answered here lately, each named by its reply subject and a digest of its body.

    Copies of one request that reached this instance by different paths carry the same reply subject (the
    requester's inbox) and the same body, and come within moments of each other. A resend is a new request
    with a new inbox when it comes from nats-py's (or any NATS client's) request call. A client that keeps
    one reply subject for all its requests and resends an identical command within ``window_s`` is taken
    as sending a copy: the answer to the first one comes to that same subject, and it answers the resend too.
    """

    def __init__(self, window_s: float, limit: int = RECENT_REQUESTS) -> None:
        self.window_s = window_s
        self.limit = limit
        self._seen: OrderedDict[bytes, float] = OrderedDict()  # oldest first

    def first_sight(self, reply: str, body: bytes, now: float | None = None) -> bool:
        """True for the first copy of a request (remembered from now on), False for a later copy of it."""
        now = time.monotonic() if now is None else now
        while self._seen and (len(self._seen) >= self.limit
                              or now - next(iter(self._seen.values())) > self.window_s):
            self._seen.popitem(last=False)
        key = reply.encode() + b" " + hashlib.blake2b(body, digest_size=16).digest()
        if key in self._seen:
            return False
        self._seen[key] = now
        return True


_encoder = msgspec.json.Encoder()


class CommandServer:
    def __init__(self, engine: Engine, direct_bus: Bus | None = None) -> None:
        """``direct_bus``: the second connection for the held accounts' own subscriptions; without one (a lone
        instance in a test) there are none, and the queue group alone delivers every command."""
        self.engine = engine
        self.direct_bus = direct_bus
        self._subs: list[Any] = []
        self._direct: dict[Key, Any] = {}  # held account -> its own subscription
        self._direct_lock = asyncio.Lock()  # one subscribe / unsubscribe at a time, in the order asked
        # Copies of one request come within a forward's round trip of each other.
        self._recent = RecentRequests(window_s=2 * engine.cfg.forward_timeout_s)
        self._running = False
        self.forwarded = engine.metrics.counter(
            "td_commands_forwarded_total",
            "commands passed to the instance holding their account, by outcome",
            ("outcome",),
        )

    async def start(self) -> None:
        nc = self.engine.bus.nc
        for venue in self.engine.links:
            subject = td_cmd(venue, "x").rsplit(".", 1)[0] + ".*"
            self._subs.append(await nc.subscribe(subject, queue=QUEUE, cb=self._on_queued))
        self._subs.append(await nc.subscribe(td_fwd(self.engine.cfg.holder_id), cb=self._on_forwarded))
        await flush_in_order(nc)
        self._running = True
        if self.direct_bus is not None:
            self.engine.lease_listeners.append(self._lease_changed)
            for key in list(self.engine.leases.keys):  # leases taken before the endpoint started
                self._lease_changed(key)

    async def stop(self) -> None:
        self._running = False
        async with self._direct_lock:
            subs = [*self._subs, *self._direct.values()]
            self._subs.clear()
            self._direct.clear()
        for sub in subs:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # connection already closed: nothing to undo
                log.debug("unsubscribe failed", error=str(exc))

    def _lease_changed(self, key: Key) -> None:
        self.engine.spawn(self._sync_direct(key), name=f"td_exec.command.direct.{key[0]}.{key[1]}")

    async def _sync_direct(self, key: Key) -> None:
        """Subscribe the account's own subject while this instance holds its lease, and only then."""
        async with self._direct_lock:
            held = self._running and self.engine.leases.holds(key)
            sub = self._direct.get(key)
            if held and sub is None and self.direct_bus is not None:
                nc = self.direct_bus.nc
                self._direct[key] = await nc.subscribe(td_cmd(*key), cb=self._on_direct)
                try:
                    await flush_in_order(nc, self.engine.cfg.store_timeout_s)
                except Exception as exc:  # replayed by nats-py on reconnect; the queue path serves meanwhile
                    log.warning("account subscription not confirmed yet", venue=key[0], account=key[1],
                                error=type(exc).__name__)
                log.info("serving the account's commands directly", venue=key[0], account=key[1])
            elif not held and sub is not None:
                del self._direct[key]
                try:
                    await sub.unsubscribe()
                except Exception as exc:  # connection gone: the subscription went with it
                    log.debug("unsubscribe failed", error=str(exc))
                log.info("no longer serving the account's commands directly", venue=key[0], account=key[1])

    async def _on_queued(self, msg: Msg) -> None:
        self._on_request(msg, self.engine.bus.nc)

    async def _on_direct(self, msg: Msg) -> None:
        if self.direct_bus is not None:
            self._on_request(msg, self.direct_bus.nc)

    def _on_request(self, msg: Msg, via: Client) -> None:
        if not msg.reply or not answerable(msg):
            return  # not a request from an inbox, e.g. pushed here by a consumer (docs/security.md)
        if not self._recent.first_sight(msg.reply, msg.data):
            return  # the same request by the other path (queue and the account's own subscription): answered
        self.engine.spawn(self._serve(msg, msg.subject, via, forwarded=False), name="td_exec.command")

    async def _on_forwarded(self, msg: Msg) -> None:
        if not msg.reply or not answerable(msg):
            return
        headers = msg.headers or {}
        original = headers.get(REPLY_HEADER, "")
        if original and not self._recent.first_sight(original, msg.data):
            # Reached here directly too and answered (or being answered): the forwarder must stay quiet.
            await self.engine.bus.nc.publish(msg.reply, b"", headers={ANSWERED_HEADER: "1"})
            return
        self.engine.spawn(self._serve(msg, headers.get(SUBJECT_HEADER, ""), self.engine.bus.nc, forwarded=True),
                          name="td_exec.command.forwarded")

    async def _serve(self, msg: Msg, subject: str, via: Client, *, forwarded: bool) -> None:
        """Answer one request on ``via``, the connection it came in on (the only one allowed to answer it)."""
        try:
            reply = await self._answer(msg, subject, forwarded)
        except Exception:
            log.exception("command failed", subject=subject)
            reply = CommandDenied(code="internal_error", reason="td_exec failed on this command; see its log")
        if reply is None:
            return  # the holder answered the requester itself
        # The holder's answer is relayed as it came; msg.reply was checked to be an inbox on the way in.
        await via.publish(msg.reply, reply if isinstance(reply, bytes) else _encoder.encode(reply))

    async def _answer(self, msg: Msg, subject: str, forwarded: bool) -> BusMessage | bytes | None:
        try:
            cmd: TradeCommand = TRADE_COMMAND_DECODER.decode(msg.data)
        except msgspec.DecodeError as exc:
            return CommandDenied(code="bad_command", reason=f"undecodable command: {exc}")
        parts = subject.split(".", 3)
        if len(parts) != 4 or parts[:2] != ["td", "cmd"]:
            return CommandDenied(code="bad_command", reason="forwarded command without its td.cmd subject")
        _, _, venue, token = parts
        try:
            account = unescape_token(token)
        except ValueError:
            account = None
        if cmd.venue != venue or (cmd.account and cmd.account != account):
            return CommandDenied(
                code="subject_mismatch", reason=f"command for {cmd.venue}:{cmd.account} sent on {subject}"
            )
        if not cmd.account or cmd.venue not in self.engine.links or self.engine.holds(cmd.venue, cmd.account):
            return await self.engine.handle(cmd)  # venue-wide questions: any instance with the venue answers
        holder = self.engine.leases.holder_of((cmd.venue, cmd.account))
        if forwarded or holder is None or holder == self.engine.cfg.holder_id:
            return await self.engine.handle(cmd)  # not held here: the engine answers "reconciling" (or a denial)
        return await self._forward(msg, subject, holder)

    async def _forward(self, msg: Msg, subject: str, holder: str) -> BusMessage | bytes | None:
        timeout = self.engine.cfg.forward_timeout_s
        try:
            answer = await self.engine.bus.nc.request(
                td_fwd(holder), msg.data, timeout=timeout, headers={SUBJECT_HEADER: subject, REPLY_HEADER: msg.reply}
            )
        except (NoRespondersError, NatsTimeoutError) as exc:
            self.forwarded.inc(1.0, "unanswered")
            log.warning(
                "holder did not answer a forwarded command", holder=holder, subject=subject, error=type(exc).__name__
            )
            return CommandDenied(
                code="reconciling", reason=f"the td_exec instance holding this account ({holder}) did not answer; retry"
            )
        if (answer.headers or {}).get(ANSWERED_HEADER):
            self.forwarded.inc(1.0, "answered_directly")
            return None
        self.forwarded.inc(1.0, "answered")
        return answer.data
