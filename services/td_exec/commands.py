"""The command endpoint: ``td.cmd.<venue>.<account>`` request/reply over NATS.

One subscription per venue on ``td.cmd.<venue>.*`` — deliberately *not* a queue group: an account has
exactly one writer, so exactly one td_exec may serve a venue's accounts at a time (run a second one
only as a cold standby). Every request is handled on its own task (nats-py runs a subscription's
callbacks one after another, and one slow venue call must not hold up the next command), and every
request gets a reply: the engine's answer, or ``CommandDenied`` for a body that does not decode or a
subject that names another account than the body.
"""

from __future__ import annotations

from typing import Any

import msgspec
from nats.aio.msg import Msg

from td_exec.engine import Engine
from tradebus.bus import answerable
from tradebus.logs import get_logger
from tradebus.schemas import TRADE_COMMAND_DECODER
from tradebus.schemas.base import BusMessage
from tradebus.schemas.orders import CommandDenied, TradeCommand
from tradebus.subjects import td_cmd, unescape_token

log = get_logger("td_exec.commands")


class CommandServer:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._subs: list[Any] = []

    async def start(self) -> None:
        nc = self.engine.bus.nc
        for venue in self.engine.links:
            subject = td_cmd(venue, "x").rsplit(".", 1)[0] + ".*"
            self._subs.append(await nc.subscribe(subject, cb=self._on_msg))
        await nc.flush()

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
        self.engine.spawn(self._serve(msg), name="td_exec.command")

    async def _serve(self, msg: Msg) -> None:
        try:
            reply = await self._answer(msg)
        except Exception:
            log.exception("command failed", subject=msg.subject)
            reply = CommandDenied(code="internal_error", reason="td_exec failed on this command; see its log")
        await self.engine.bus.reply(msg, reply)

    async def _answer(self, msg: Msg) -> BusMessage:
        try:
            cmd: TradeCommand = TRADE_COMMAND_DECODER.decode(msg.data)
        except msgspec.DecodeError as exc:
            return CommandDenied(code="bad_command", reason=f"undecodable command: {exc}")
        _, _, venue, token = msg.subject.split(".", 3)
        try:
            account = unescape_token(token)
        except ValueError:
            account = None
        if cmd.venue != venue or (cmd.account and cmd.account != account):
            return CommandDenied(code="subject_mismatch",
                                 reason=f"command for {cmd.venue}:{cmd.account} sent on {msg.subject}")
        return await self.engine.handle(cmd)
