"""Console login sessions: a random token per login, with an absolute expiry, kept on the bus.

The browser keeps the token in ``sessionStorage`` (never the password) to resume after a reload.
Logins live in the KV bucket ``console_sessions`` (owned by ws_edge), so a token issued by one ws_edge
instance is accepted by every other one and survives a restart of the instance that issued it. Only
the SHA-256 of a token is stored (it is the key), with the user name and the expiry; the token itself
never leaves the browser and this process. Each key is created with the login's lifetime as its TTL, so
nats-server forgets a login when it expires, and the expiry is checked again on every resume. A logout
deletes the key: the token then works nowhere.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable

import msgspec
from nats.js.errors import KeyNotFoundError, KeyValueError
from nats.js.kv import KeyValue

from tradebus.bus import Bus
from tradebus.logs import get_logger

log = get_logger("ws_edge.console")
BUCKET = "console_sessions"


class ConsoleLogin(msgspec.Struct, frozen=True):
    user: str
    expires_at: float  # wall clock (time.time()), so the page can show it


_encode = msgspec.json.encode
_decode = msgspec.json.Decoder(ConsoleLogin).decode


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    def __init__(self, bus: Bus, lifetime_s: float, *, clock: Callable[[], float] = time.time) -> None:
        self.bus = bus
        self.lifetime_s = lifetime_s
        self.clock = clock
        self._kv: KeyValue | None = None

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            self._kv = await self.bus.js.key_value(BUCKET)
        return self._kv

    async def issue(self, user: str) -> tuple[str, ConsoleLogin]:
        token = secrets.token_urlsafe(32)
        login = ConsoleLogin(user, self.clock() + self.lifetime_s)
        # create(): a key that exists already (a 256-bit collision) is never overwritten.
        await (await self._bucket()).create(_digest(token), _encode(login), msg_ttl=self.lifetime_s)
        return token, login

    async def resume(self, token: str) -> ConsoleLogin | None:
        """The login the token stands for, while it has not expired or been ended (on any instance)."""
        try:
            entry = await (await self._bucket()).get(_digest(token))
        except KeyNotFoundError:  # never issued, logged out, or forgotten at its TTL
            return None
        try:
            login = _decode(entry.value or b"")
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.warning("undecodable console login entry ignored", key=entry.key)
            return None
        return login if self.clock() < login.expires_at else None

    async def revoke(self, token: str) -> None:
        try:
            await (await self._bucket()).delete(_digest(token))
        except KeyValueError as exc:  # logged out anyway on this socket; the TTL ends it elsewhere
            log.warning("console logout not stored", error=str(exc))
