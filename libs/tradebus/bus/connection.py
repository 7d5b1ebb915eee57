"""A connected bus: the NATS client, its JetStream context, and the helpers every service uses."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import PubAck

from tradebus.bus.errors import RequestFailed, RequestTimeout
from tradebus.bus.flush import flush_in_order
from tradebus.config import NatsConfig
from tradebus.logs import get_logger
from tradebus.schemas.base import BusMessage

T = TypeVar("T")
MSG_ID = "Nats-Msg-Id"
EXPECTED_LAST_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence"
# The subject (a filter, wildcards allowed) that EXPECTED_LAST_SUBJECT_SEQ is checked against: the fences.
EXPECTED_LAST_SUBJECT_SEQ_SUBJECT = "Nats-Expected-Last-Subject-Sequence-Subject"
WRONG_LAST_SEQUENCE = 10071  # JetStream's err_code when an expected-sequence check fails: another writer came first

_encoder = msgspec.json.Encoder()
log = get_logger("tradebus.bus")
INBOX_ROOT = "_INBOX."  # every requester's replies: nats-py's default prefix, or _INBOX.<user>


def answerable(msg: Msg) -> bool:
    """Whether ``msg`` is a request we may answer: its reply subject is an inbox. The requester chooses
    it and a responder may answer anywhere (``allow_responses``): pointed into ``td.evt.…`` our answer
    would be stored in TD_EVT. A message a JetStream consumer pushed (reply ``$JS.ACK…``) is no request."""
    if msg.reply.startswith(INBOX_ROOT):
        return True
    log.warning("request with a non-inbox reply subject not answered", subject=ascii(msg.subject),
                reply=ascii(msg.reply[:200]))
    return False


class Bus:
    """Thin wrapper over one NATS connection. Holds no global state: pass it where it is needed."""

    nc: Client
    js: JetStreamContext

    def __init__(self, nc: Client | None = None, *, request_timeout: float = 5.0) -> None:
        self.closing = False  # set by close(), so our own drain is not reported as an outage
        self.request_timeout = request_timeout
        if nc is not None:
            self.attach(nc)

    def attach(self, nc: Client) -> None:
        self.nc = nc
        self.js = nc.jetstream()

    # --- core ----------------------------------------------------------------------------------

    async def publish(self, subject: str, message: BusMessage) -> None:
        """Core publish: fire-and-forget, for data where the latest value is what matters."""
        await self.nc.publish(subject, _encoder.encode(message))

    async def publish_event(self, subject: str, message: BusMessage, msg_id: str, *,
                            expected_last_subject_seq: int | None = None, timeout: float | None = None) -> PubAck:
        """JetStream publish that always carries ``Nats-Msg-Id``, and waits for the store's ack.

        ``ack.duplicate`` is true when the id was already stored (a retry or a venue re-push).
        ``expected_last_subject_seq=0`` makes the publish succeed only for the first message on the
        subject — a guard against two writers creating the same order.
        """
        headers = {MSG_ID: msg_id}
        if expected_last_subject_seq is not None:
            headers[EXPECTED_LAST_SUBJECT_SEQ] = str(expected_last_subject_seq)
        return await self.js.publish(subject, _encoder.encode(message), headers=headers,
                                     timeout=timeout or self.request_timeout)

    def publish_event_async(self, subject: str, message: BusMessage, msg_id: str) -> asyncio.Future[PubAck]:
        """Pipelined JetStream publish (no per-message round trip); await the future for the ack."""
        return self.js.publish_async(subject, _encoder.encode(message), headers={MSG_ID: msg_id})

    async def request(self, subject: str, message: BusMessage, decoder: msgspec.json.Decoder[T], *,
                      timeout: float | None = None) -> T:
        """Request/reply with a bounded wait; raises :class:`RequestTimeout` or :class:`RequestFailed`."""
        timeout = timeout or self.request_timeout
        try:
            reply = await self.nc.request(subject, _encoder.encode(message), timeout=timeout)
        except NoRespondersError:
            raise RequestFailed(subject, "no service is listening on this subject") from None
        except NatsTimeoutError:
            raise RequestTimeout(subject, timeout) from None
        error = (reply.headers or {}).get("Nats-Service-Error")
        if error:
            raise RequestFailed(subject, error)
        try:
            return decoder.decode(reply.data)
        except msgspec.DecodeError as exc:
            raise RequestFailed(subject, f"undecodable reply: {exc}") from exc

    async def reply(self, msg: Msg, message: BusMessage) -> None:
        if msg.reply and answerable(msg):
            await self.nc.publish(msg.reply, _encoder.encode(message))

    async def serve(self, subject: str, handler: Callable[[Msg], Awaitable[None]], *, queue: str = "") -> Any:
        """Subscribe ``handler`` so that one failing request is logged and never kills the subscription.

        Returns once the server has the subscription (:func:`flush_in_order`, not nats-py's ``flush()``,
        whose PING can overtake the SUB), so a request sent right after ``serve``, from any connection,
        reaches it instead of meeting "no responders". While disconnected the subscription is
        still replayed on reconnect by nats.py; we just cannot confirm it.
        """

        async def guarded(msg: Msg) -> None:
            if msg.reply and not answerable(msg):
                return
            try:
                await handler(msg)
            except Exception:
                log.exception("request handler failed", subject=msg.subject)
                if msg.reply:
                    await self.nc.publish(msg.reply, b"", headers={"Nats-Service-Error": "internal error",
                                                                   "Nats-Service-Error-Code": "500"})

        subscription = await self.nc.subscribe(subject, queue=queue, cb=guarded)
        if self.nc.is_connected:
            try:
                await flush_in_order(self.nc, self.request_timeout)
            except (TimeoutError, NatsTimeoutError, nats.errors.ConnectionClosedError):
                log.warning("subscription not confirmed by the server yet", subject=subject)
        return subscription

    async def close(self) -> None:
        """Drain (finish in-flight work, flush publishes), then close."""
        if self.nc.is_closed:
            return
        self.closing = True
        try:
            await asyncio.wait_for(self.nc.drain(), timeout=5)
        except (TimeoutError, NatsTimeoutError):
            await self.nc.close()


async def connect(cfg: NatsConfig, name: str, *,
                  on_disconnect: Callable[[], Awaitable[None]] | None = None,
                  on_reconnect: Callable[[], Awaitable[None]] | None = None) -> Bus:
    """Connect with reconnects that never give up and explicit timeouts from the config."""

    async def error_cb(exc: Exception) -> None:
        log.warning("nats error", error=str(exc), error_type=type(exc).__name__)

    async def disconnected_cb() -> None:
        if bus.closing:  # our own drain: not news
            return
        log.warning("nats disconnected")
        if on_disconnect:
            await on_disconnect()

    async def reconnected_cb() -> None:
        log.info("nats reconnected", url=str(nc.connected_url.netloc if nc.connected_url else ""))
        if on_reconnect:
            await on_reconnect()

    # The callbacks need the Bus (to know whether a disconnect is our own drain) before nc exists.
    bus = Bus(request_timeout=cfg.request_timeout_s)
    options: dict[str, Any] = {}
    if cfg.user:
        options["user"] = cfg.user
        options["password"] = cfg.password.reveal()
        # Replies (and JetStream deliveries) land under a per-user inbox prefix, so the bus
        # permissions can let each user read its own replies and nobody else's.
        options["inbox_prefix"] = f"_INBOX.{cfg.user}"
    elif cfg.token:
        options["token"] = cfg.token.reveal()
    nc = await nats.connect(
        servers=cfg.servers,
        name=name,
        connect_timeout=cfg.connect_timeout_s,
        reconnect_time_wait=cfg.reconnect_wait_s,
        max_reconnect_attempts=cfg.max_reconnect_attempts,
        allow_reconnect=True,
        pending_size=cfg.pending_size_mb * 1024 * 1024,
        ping_interval=20,
        max_outstanding_pings=3,
        error_cb=error_cb,
        disconnected_cb=disconnected_cb,
        reconnected_cb=reconnected_cb,
        **options,
    )
    bus.attach(nc)
    return bus
