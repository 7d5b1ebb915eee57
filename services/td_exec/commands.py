"""The command endpoint: ``td.cmd.<venue>.<account>`` request/reply over NATS.

Every td_exec instance subscribes ``td.cmd.<venue>.*`` in the queue group ``td_exec``, so each
command reaches one instance. Exactly one instance writes an account (its lease and fence, see
``td_exec.lease`` and ``td_exec.fence``): the holder answers the command itself; any other instance
forwards it to ``td.fwd.<holder instance id>`` (a request bounded by ``td.forward_timeout_s``) and
relays the answer. With no holder known (a takeover under way) or a holder that does not answer, the
reply is ``CommandDenied(code="reconciling")``: the caller resends with the same client_order_id.
A forwarded command is never forwarded again (the holder it reached answers itself or says
``reconciling``), so two instances with different views cannot bounce it between them.

Every request is handled on its own task (nats-py runs a subscription's callbacks one after another,
and one slow venue call must not hold up the next command), and every request gets a reply: the
engine's answer, or ``CommandDenied`` for a body that does not decode or a subject that names another
account than the body.
"""

from __future__ import annotations

from typing import Any

import msgspec
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from td_exec.engine import Engine
from tradebus.bus import answerable
from tradebus.bus.flush import flush_in_order
from tradebus.logs import get_logger
from tradebus.schemas import TRADE_COMMAND_DECODER
from tradebus.schemas.base import BusMessage
from tradebus.schemas.orders import CommandDenied, TradeCommand
from tradebus.subjects import td_cmd, td_fwd, unescape_token

log = get_logger("td_exec.commands")

QUEUE = "td_exec"
SUBJECT_HEADER = "Tradebus-Cmd-Subject"  # a forwarded command's original td.cmd subject
_encoder = msgspec.json.Encoder()


class CommandServer:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._subs: list[Any] = []
        self.forwarded = engine.metrics.counter(
            "td_commands_forwarded_total",
            "commands passed to the instance holding their account, by outcome",
            ("outcome",),
        )

    async def start(self) -> None:
        nc = self.engine.bus.nc
        for venue in self.engine.links:
            subject = td_cmd(venue, "x").rsplit(".", 1)[0] + ".*"
            self._subs.append(await nc.subscribe(subject, queue=QUEUE, cb=self._on_msg))
        self._subs.append(await nc.subscribe(td_fwd(self.engine.cfg.holder_id), cb=self._on_forwarded))
        await flush_in_order(nc)

    async def stop(self) -> None:
        for sub in self._subs:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # connection already closed: nothing to undo
                log.debug("unsubscribe failed", error=str(exc))
        self._subs.clear()

    async def _on_msg(self, msg: Msg) -> None:
        if not msg.reply or not answerable(msg):
            return  # not a request from an inbox, e.g. pushed here by a consumer (docs/security.md)
        self.engine.spawn(self._serve(msg, msg.subject, forwarded=False), name="td_exec.command")

    async def _on_forwarded(self, msg: Msg) -> None:
        if not msg.reply or not answerable(msg):
            return
        subject = (msg.headers or {}).get(SUBJECT_HEADER, "")
        self.engine.spawn(self._serve(msg, subject, forwarded=True), name="td_exec.command.forwarded")

    async def _serve(self, msg: Msg, subject: str, *, forwarded: bool) -> None:
        try:
            reply = await self._answer(msg, subject, forwarded)
        except Exception:
            log.exception("command failed", subject=subject)
            reply = CommandDenied(code="internal_error", reason="td_exec failed on this command; see its log")
        if isinstance(reply, bytes):
            await self.engine.bus.nc.publish(msg.reply, reply)  # the holder's answer, relayed as it came
        else:
            await self.engine.bus.reply(msg, reply)

    async def _answer(self, msg: Msg, subject: str, forwarded: bool) -> BusMessage | bytes:
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

    async def _forward(self, msg: Msg, subject: str, holder: str) -> BusMessage | bytes:
        timeout = self.engine.cfg.forward_timeout_s
        try:
            answer = await self.engine.bus.nc.request(
                td_fwd(holder), msg.data, timeout=timeout, headers={SUBJECT_HEADER: subject}
            )
        except (NoRespondersError, NatsTimeoutError) as exc:
            self.forwarded.inc(1.0, "unanswered")
            log.warning(
                "holder did not answer a forwarded command", holder=holder, subject=subject, error=type(exc).__name__
            )
            return CommandDenied(
                code="reconciling", reason=f"the td_exec instance holding this account ({holder}) did not answer; retry"
            )
        self.forwarded.inc(1.0, "answered")
        return answer.data
