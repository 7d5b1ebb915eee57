"""Pipelined JetStream publishes: publish now, get the store's ack (or its refusal) later as a future.

nats-py's own ``publish_async`` raises the server's refusal inside its reply callback, so a refused
message (too big, stream full, wrong expected sequence) never resolves its future and looks like a
timeout. This publisher keeps one reply subscription per connection and resolves every future with
the :class:`~nats.js.api.PubAck` or a :class:`PublishRefused` that carries the server's own text.
The caller bounds the wait (``asyncio.wait_for``); a cancelled future is forgotten.
"""

from __future__ import annotations

import asyncio
import itertools

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import PubAck

from tradebus.bus.errors import BusError

_NO_RESPONDERS = "503"


class PublishRefused(BusError):
    """JetStream answered the publish with an error, or no stream listens on the subject."""

    def __init__(self, description: str, code: int = 0, err_code: int = 0) -> None:
        super().__init__(description)
        self.code = code
        self.err_code = err_code


class _Error(msgspec.Struct):
    code: int = 0
    err_code: int = 0
    description: str = ""


class _Ack(msgspec.Struct):
    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    domain: str | None = None
    error: _Error | None = None


_decode_ack = msgspec.json.Decoder(_Ack).decode


class PipelinedPublisher:
    """One connection's pipelined JetStream publishes; bounded by ``max_pending`` unanswered ones."""

    def __init__(self, nc: Client, max_pending: int = 4000) -> None:
        self.nc = nc
        self._prefix = ""
        self._tokens = itertools.count()
        self._futures: dict[str, asyncio.Future[PubAck]] = {}
        self._slots = asyncio.Semaphore(max_pending)

    @property
    def pending(self) -> int:
        return len(self._futures)

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> asyncio.Future[PubAck]:
        """Send now; the future resolves with the ack, or fails with :class:`PublishRefused`."""
        if not self._prefix:
            prefix = self.nc.new_inbox()
            await self.nc.subscribe(f"{prefix}.*", cb=self._on_reply)
            self._prefix = prefix
        await self._slots.acquire()
        token = str(next(self._tokens))
        future: asyncio.Future[PubAck] = asyncio.get_running_loop().create_future()
        self._futures[token] = future
        future.add_done_callback(lambda _f: self._forget(token))
        try:
            await self.nc.publish(subject, payload, reply=f"{self._prefix}.{token}", headers=headers)
        except BaseException:
            future.cancel()
            raise
        return future

    def _forget(self, token: str) -> None:
        if self._futures.pop(token, None) is not None:
            self._slots.release()

    async def _on_reply(self, msg: Msg) -> None:
        future = self._futures.get(msg.subject.rsplit(".", 1)[-1])
        if future is None or future.done():
            return
        if msg.headers and msg.headers.get("Status") == _NO_RESPONDERS:
            future.set_exception(PublishRefused("no stream answered (no responders)", 503))
            return
        try:
            ack = _decode_ack(msg.data)
        except msgspec.DecodeError as exc:
            future.set_exception(PublishRefused(f"undecodable ack: {exc}"))
            return
        if ack.error is not None:
            future.set_exception(PublishRefused(ack.error.description or "refused", ack.error.code,
                                                ack.error.err_code))
            return
        future.set_result(PubAck(stream=ack.stream, seq=ack.seq, domain=ack.domain, duplicate=ack.duplicate))
