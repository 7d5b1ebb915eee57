"""Edge users: who may log in to ws_edge / fmz_edge and which venue accounts each may trade.

One JSON file (``[users] file``, default ``<data.dir>/users.json``), mode 0600, rewritten atomically
under an exclusive lock, so ``tradebus user add`` can run while the edges serve; readers pick changes
up by modification time (:meth:`UserStore.refresh`).

* Passwords are argon2id hashes. Verifying an unknown user still runs one argon2 verification, so the
  answer time does not tell which user names exist.
* FMZ key pairs: the access key is public, the secret is 32 random bytes shown once; only its SHA-256
  is stored. A slow hash buys nothing for a high-entropy random secret and would cost ~50 ms per FMZ
  request; the comparison is constant-time.
* Accounts are ``<venue>:<account>`` (``ctp:000001``, ``futu:281756457``); ``<venue>:*`` grants every
  account of a venue.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import bcrypt
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tradebus.config import Config

USER_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
ACCOUNT_GRANT = re.compile(r"^(futu|ctp|sim):([A-Za-z0-9_-]{1,64}|\*)$")
MIN_PASSWORD = 8

_HASHER = PasswordHasher()
# Verified against when the user does not exist, so unknown names cost the same time as known ones.
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))


class UserError(Exception):
    """A user-store operation that cannot be done; the message is for a person."""


class WrongPassword(UserError):
    """The old password given for a change is not the user's."""


class WeakPassword(UserError):
    """A new password that does not meet the policy."""


class FmzKey(msgspec.Struct, frozen=True, kw_only=True):
    access_key: str
    secret_sha256: str
    created: int


class User(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    password_hash: str
    accounts: list[str]
    fmz_keys: list[FmzKey] = []
    created: int = 0
    # A bcrypt hash of the same password when the user may also connect to NATS (``--bus``); nats-server
    # checks bcrypt itself, so the bus needs this second hash of it. Empty: an edge user only.
    bus_password: str = ""

    @property
    def on_bus(self) -> bool:
        return bool(self.bus_password)

    def may_use(self, venue: str, account: str) -> bool:
        return f"{venue}:{account}" in self.accounts or f"{venue}:*" in self.accounts

    def account_list(self) -> list[tuple[str, str]]:
        """The explicit grants as (venue, account); wildcards are left out (see :func:`resolve_accounts`)."""
        out: list[tuple[str, str]] = []
        for grant in self.accounts:
            venue, account = grant.split(":", 1)
            if account != "*":
                out.append((venue, account))
        return out

    def wildcard_venues(self) -> list[str]:
        """The venues granted as ``<venue>:*``."""
        return sorted({g.split(":", 1)[0] for g in self.accounts if g.endswith(":*")})


def resolve_accounts(user: User, venue_accounts: Mapping[str, Iterable[str]]) -> list[tuple[str, str]]:
    """Every concrete (venue, account) ``user`` may use: the explicit grants, and for each ``<venue>:*``
    grant the accounts that venue has (``venue_accounts``, from td_exec's ``VenueInfo``). Ordered by
    venue, then account, without repeats. The one place a wildcard grant becomes accounts: ws_edge,
    the web console and fmz_edge all call it."""
    found = set(user.account_list())
    for venue in user.wildcard_venues():
        found.update((venue, account) for account in venue_accounts.get(venue, ()))
    return sorted(found)


class _File(msgspec.Struct, kw_only=True):
    version: int = 1
    users: dict[str, User] = {}


def users_path(config: Config) -> Path:
    return Path(config.users.file) if config.users.file else Path(config.data.dir) / "users.json"


def validate_accounts(accounts: list[str]) -> list[str]:
    cleaned = [a.strip() for a in accounts if a.strip()]
    for grant in cleaned:
        if not ACCOUNT_GRANT.match(grant):
            raise UserError(f"bad account {grant!r}: expected <venue>:<account> with venue futu, ctp or sim "
                            "(or <venue>:* for all of a venue)")
    return sorted(set(cleaned))


class UserStore:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._users: dict[str, User] = {}
        self._mtime_ns: int | None = None
        self.refresh()

    @classmethod
    def for_config(cls, config: Config) -> UserStore:
        return cls(users_path(config))

    # --- reading ---------------------------------------------------------------------------------

    def refresh(self) -> bool:
        """Reload if the file changed since the last read; True when something was reloaded."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            changed = self._mtime_ns is not None or bool(self._users)
            self._users, self._mtime_ns = {}, None
            return changed
        if mtime == self._mtime_ns:
            return False
        self._users = self._read().users
        self._mtime_ns = mtime
        return True

    def _read(self) -> _File:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return _File()
        try:
            return msgspec.json.decode(raw, type=_File)
        except msgspec.DecodeError as exc:
            raise UserError(f"{self.path}: user file is damaged ({exc}); restore it from a backup") from exc

    def get(self, name: str) -> User | None:
        self.refresh()
        return self._users.get(name)

    def list(self) -> list[User]:
        self.refresh()
        return [self._users[n] for n in sorted(self._users)]

    def __len__(self) -> int:
        self.refresh()
        return len(self._users)

    def verify_password(self, name: str, password: str) -> User | None:
        """The user when ``password`` is theirs, else None (same cost for unknown names)."""
        user = self.get(name)
        try:
            _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        return user

    def verify_fmz(self, access_key: str, secret_key: str) -> User | None:
        self.refresh()
        # Bytes, not str: compare_digest refuses non-ASCII text, and a key pair comes from outside.
        presented = hashlib.sha256(secret_key.encode("utf-8", "surrogatepass")).hexdigest()
        access = access_key.encode("utf-8", "surrogatepass")
        found: User | None = None
        for user in self._users.values():
            for key in user.fmz_keys:
                # Compare every key, matching or not, so timing says nothing about which one matched.
                same_access = hmac.compare_digest(key.access_key.encode(), access)
                same_secret = hmac.compare_digest(key.secret_sha256, presented)
                if same_access and same_secret:
                    found = user
        return found

    # --- writing ---------------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[_File]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self._read()
            yield data
            tmp = self.path.with_name(self.path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(json.dumps(msgspec.to_builtins(data), indent=2, sort_keys=True).encode())
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        self._mtime_ns = None
        self.refresh()

    def add(self, name: str, password: str, accounts: list[str], *, bus: bool = False) -> User:
        if not USER_NAME.match(name):
            raise UserError(f"bad user name {name!r}: 1-64 letters, digits, '_', '.', '@' or '-'")
        if len(password) < MIN_PASSWORD:
            raise UserError(f"password too short: at least {MIN_PASSWORD} characters")
        grants = validate_accounts(accounts)
        if bus:
            check_bus_name(name)
        with self._locked() as data:
            if name in data.users:
                raise UserError(f"user {name!r} exists; remove it first or use another name")
            user = User(name=name, password_hash=_HASHER.hash(password), accounts=grants, created=time.time_ns(),
                        bus_password=bus_hash(password) if bus else "")
            data.users[name] = user
        return user

    def change_password(self, name: str, old_password: str, new_password: str) -> User:
        """Replace ``name``'s password when ``old_password`` is theirs (checked against the stored hash
        under the file lock, so two concurrent changes cannot both win)."""
        if len(new_password) < MIN_PASSWORD:
            raise WeakPassword(f"password too short: at least {MIN_PASSWORD} characters")
        with self._locked() as data:
            user = data.users.get(name)
            try:
                _HASHER.verify(user.password_hash if user else _DUMMY_HASH, old_password)
            except (VerificationError, InvalidHashError):
                raise WrongPassword(f"the old password of {name!r} does not match") from None
            assert user is not None  # the dummy hash never verifies
            changed = _with_password(user, new_password)
            data.users[name] = changed
        return changed

    def reset_password(self, name: str, new_password: str) -> User:
        """An operator's reset (``tradebus user password``): no old password, same policy."""
        if len(new_password) < MIN_PASSWORD:
            raise WeakPassword(f"password too short: at least {MIN_PASSWORD} characters")
        with self._locked() as data:
            user = data.users.get(name)
            if user is None:
                raise UserError(f"no user {name!r}")
            changed = _with_password(user, new_password)
            data.users[name] = changed
        return changed

    def remove(self, name: str) -> None:
        with self._locked() as data:
            if data.users.pop(name, None) is None:
                raise UserError(f"no user {name!r}")

    def issue_fmz_key(self, name: str) -> tuple[str, str]:
        """A new (access_key, secret_key) for ``name``; the secret is returned once and stored hashed."""
        access_key = "tb" + secrets.token_hex(12)
        secret_key = secrets.token_hex(32)
        with self._locked() as data:
            user = data.users.get(name)
            if user is None:
                raise UserError(f"no user {name!r}")
            key = FmzKey(access_key=access_key, secret_sha256=hashlib.sha256(secret_key.encode()).hexdigest(),
                         created=time.time_ns())
            data.users[name] = msgspec.structs.replace(user, fmz_keys=[*user.fmz_keys, key])
        return access_key, secret_key


def _with_password(user: User, password: str) -> User:
    """``user`` with a new password: the argon2 hash, and the bus's bcrypt hash when it has one."""
    return msgspec.structs.replace(user, password_hash=_HASHER.hash(password),
                                   bus_password=bus_hash(password) if user.on_bus else "")


# Bus user names become NATS user names and the token of their inbox ``_INBOX.<name>.>``: a plain
# subject token, and never the name of a service user of nats.conf.
BUS_USER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
RESERVED_BUS_NAMES = frozenset({"md_ingest", "td_exec", "auth_broker", "ws_edge", "fmz_edge", "supervisor",
                                "operator", "history", "sys", "system"})
BCRYPT_ROUNDS = 11  # nats-server's own default cost


def check_bus_name(name: str) -> None:
    if not BUS_USER_NAME.match(name):
        raise UserError(f"bad bus user name {name!r}: 1-64 letters, digits, '_' or '-' (it names a NATS inbox)")
    if name.lower() in RESERVED_BUS_NAMES:
        raise UserError(f"{name!r} is the name of a tradebus service user; choose another")


def bus_hash(password: str) -> str:
    if len(password.encode()) > 72:  # bcrypt reads no further than 72 bytes
        raise UserError("a bus user's password may be at most 72 bytes")
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def new_password() -> str:
    """A random password a person can type: 16 characters from an unambiguous alphabet."""
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(16))
