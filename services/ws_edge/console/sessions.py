"""Console login sessions: a random token per login, with an absolute expiry.

The browser keeps the token in ``sessionStorage`` (never the password) to resume after a reload.
Only a hash of each token is held here, so a memory dump or a debug print shows no usable token.
Sessions live in this ws_edge process: a restart logs every console out.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConsoleLogin:
    user: str
    expires_at: float  # wall clock (time.time()), so the page can show it


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    def __init__(self, lifetime_s: float, *, clock: Callable[[], float] = time.time, max_sessions: int = 10_000
                 ) -> None:
        self.lifetime_s = lifetime_s
        self.clock = clock
        self.max_sessions = max_sessions
        self._by_digest: dict[str, ConsoleLogin] = {}

    def issue(self, user: str) -> tuple[str, ConsoleLogin]:
        self._forget_expired()
        if len(self._by_digest) >= self.max_sessions:  # bounded: the oldest logins go first
            for digest in list(self._by_digest)[: self.max_sessions // 10 or 1]:
                del self._by_digest[digest]
        token = secrets.token_urlsafe(32)
        login = ConsoleLogin(user, self.clock() + self.lifetime_s)
        self._by_digest[_digest(token)] = login
        return token, login

    def resume(self, token: str) -> ConsoleLogin | None:
        """The login the token stands for, while it has not expired or been ended."""
        digest = _digest(token)
        login = self._by_digest.get(digest)
        if login is None:
            return None
        if self.clock() >= login.expires_at:
            del self._by_digest[digest]
            return None
        return login

    def revoke(self, token: str) -> None:
        self._by_digest.pop(_digest(token), None)

    def _forget_expired(self) -> None:
        now = self.clock()
        for digest in [d for d, login in self._by_digest.items() if now >= login.expires_at]:
            del self._by_digest[digest]

    def __len__(self) -> int:
        return len(self._by_digest)
