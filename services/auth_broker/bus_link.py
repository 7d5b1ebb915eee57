"""The broker on the bus: state events on ``auth.opend.<instance>.state`` (stream AUTH, KV ``auth``)
and requests on ``auth.opend.<instance>.cmd``.

State events are published in order by one task, each with a deterministic ``Nats-Msg-Id`` (instance,
this run's start, a sequence number, the state), so a retried publish is stored once; the same encoded
event becomes the KV value under ``<instance>``. A bus outage only delays the events.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from nats.aio.msg import Msg
from nats.js.kv import KeyValue

from tradebus.bus import Bus
from tradebus.logs import get_logger
from tradebus.schemas import AUTH_DECODER, encode
from tradebus.schemas.auth import AuthCommand, AuthReply, AuthState, AuthStateChanged
from tradebus.subjects import auth_cmd, auth_state

log = get_logger("auth_broker.bus")

RETRY_S = 0.5
BUCKET = "auth"

# op -> handler(code, user) -> (ok, error); the broker supplies them.
CommandHandler = Callable[[str | None, str], tuple[bool, str]]


def state_event_id(instance: str, run: int, seq: int, state: AuthState) -> str:
    return f"auth-{instance}-{run}-{seq}-{state.value}"


class BusLink:
    def __init__(self, bus: Bus, instance: str, current: Callable[[], AuthState],
                 handlers: dict[str, CommandHandler]) -> None:
        self._bus = bus
        self._instance = instance
        self._current = current
        self._handlers = handlers
        self._run = time.time_ns()
        self._seq = 0
        self._queue: asyncio.Queue[AuthStateChanged] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._kv: KeyValue | None = None
        self._sub = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._publisher(), name="auth-state-publisher")
        self._sub = await self._bus.serve(auth_cmd(self._instance), self._on_command)

    def announce(self, previous: AuthState | None, state: AuthState, reason: str) -> None:
        self._seq += 1
        event = AuthStateChanged(event_id=state_event_id(self._instance, self._run, self._seq, state),
                                 instance=self._instance, state=state, previous=previous, reason=reason,
                                 ts_event=time.time_ns())
        self._queue.put_nowait(event)

    async def flush(self, timeout: float) -> None:
        """Wait until every announced state is stored (bounded: used on the way out)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)

    async def close(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _publisher(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._store(event)
            finally:
                self._queue.task_done()

    async def _store(self, event: AuthStateChanged) -> None:
        data = encode(event)
        while True:
            try:
                await self._bus.publish_event(auth_state(self._instance), event, event.event_id)
                if self._kv is None:
                    self._kv = await self._bus.js.key_value(BUCKET)
                await self._kv.put(self._instance, data)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("auth state not stored yet; retrying", state=event.state.value,
                            error=str(exc) or type(exc).__name__)
                await asyncio.sleep(RETRY_S)  # retry pause while NATS is unreachable

    async def _on_command(self, msg: Msg) -> None:
        try:
            command = AUTH_DECODER.decode(msg.data)
        except Exception:
            log.warning("auth command undecodable", size=len(msg.data))
            await self._reply(msg, False, "undecodable request: expected an AuthCommand")
            return
        if not isinstance(command, AuthCommand):
            await self._reply(msg, False, "expected an AuthCommand")
            return
        handler = self._handlers.get(command.op)
        if handler is None:
            known = ", ".join(self._handlers)
            await self._reply(msg, False, f"unknown op {command.op[:32]!r}; expected one of {known}")
            return
        ok, error = handler(command.code, command.user or "bus")
        await self._reply(msg, ok, error)

    async def _reply(self, msg: Msg, ok: bool, error: str) -> None:
        await self._bus.reply(msg, AuthReply(ok=ok, instance=self._instance, state=self._current(), error=error))
