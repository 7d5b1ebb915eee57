"""Every NATS subject tradebus uses is built here, and nowhere else.

Subject tokens may only hold ``[A-Za-z0-9_-]`` (NATS's recommended alphabet: ``.`` separates tokens,
``*``/``>`` are wildcards, spaces are forbidden). Venue symbols break that rule all the time —
``BRK.B``, a CTP spread ``SP m2505&m2509``, Chinese option names — so every variable token goes through
:func:`escape_token`, which has an exact inverse :func:`unescape_token`.

Escaping: letters, digits and ``-`` stand for themselves; every other character becomes ``_`` followed
by the upper-case hex of each of its UTF-8 bytes (``.`` → ``_2E``, ``_`` → ``_5F``, ``中`` →
``_E4_B8_AD``). Because ``_`` itself is always escaped, decoding is unambiguous.
"""

from __future__ import annotations

import re

_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")
_ESCAPED = re.compile(r"_([0-9A-F]{2})")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]+$")

VENUES = ("futu", "ctp", "sim")


def escape_token(value: str) -> str:
    if not value:
        raise ValueError("a subject token cannot be empty")
    if all(ch in _PLAIN for ch in value):  # the common case: 00700, rb2601, AAPL
        return value
    out: list[str] = []
    for ch in value:
        if ch in _PLAIN:
            out.append(ch)
        else:
            out.extend(f"_{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def unescape_token(token: str) -> str:
    if not token or not TOKEN_RE.match(token):
        raise ValueError(f"not an escaped subject token: {token!r}")
    if "_" not in token:
        return token
    raw = bytearray()
    pos = 0
    while pos < len(token):
        ch = token[pos]
        if ch == "_":
            match = _ESCAPED.match(token, pos)
            if match is None:
                raise ValueError(f"bad escape at offset {pos} in {token!r}")
            raw.append(int(match.group(1), 16))
            pos = match.end()
        else:
            raw.extend(ch.encode("ascii"))
            pos += 1
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"escaped token {token!r} is not UTF-8") from exc
    if escape_token(decoded) != token:  # e.g. "_41" for "A": valid hex, but not our canonical form
        raise ValueError(f"non-canonical escaped token {token!r}")
    return decoded


def plain_token(name: str) -> str:
    """Our own identifiers (service names, OpenD instance names) are not escaped but must already be
    valid tokens, so ``sys.health.md_ingest`` reads as written."""
    if not TOKEN_RE.match(name):
        raise ValueError(f"{name!r} is not a valid subject token (use letters, digits, '_' and '-')")
    return name


def _venue(venue: str) -> str:
    if venue not in VENUES:
        raise ValueError(f"unknown venue {venue!r}; expected one of {', '.join(VENUES)}")
    return venue


# --- market data -------------------------------------------------------------------------------


def md_tick(venue: str, exchange: str, symbol: str) -> str:
    return f"md.tick.{_venue(venue)}.{escape_token(exchange)}.{escape_token(symbol)}"


def md_bar(venue: str, exchange: str, symbol: str, interval: str = "1m") -> str:
    return f"md.bar.{escape_token(interval)}.{_venue(venue)}.{escape_token(exchange)}.{escape_token(symbol)}"


def md_status(venue: str) -> str:
    return f"md.status.{_venue(venue)}"


def md_fence(venue: str) -> str:
    """Where the holder of a venue's session marks the MD stream (schemas.market.FeedFence)."""
    return f"md.fence.{_venue(venue)}"


MD_STATUS_ALL = "md.status.>"
MD_CTL_SUBSCRIBE = "md.ctl.subscribe"
MD_CTL_UNSUBSCRIBE = "md.ctl.unsubscribe"
MD_CTL_HISTORY = "md.ctl.history"  # request/reply: bars and ticks of the past (tradebus.schemas.history)


def parse_md_tick(subject: str) -> tuple[str, str, str]:
    """``md.tick.<venue>.<exchange>.<symbol>`` → (venue, exchange, symbol), unescaped."""
    parts = subject.split(".")
    if len(parts) != 5 or parts[:2] != ["md", "tick"]:
        raise ValueError(f"not a tick subject: {subject!r}")
    return parts[2], unescape_token(parts[3]), unescape_token(parts[4])


# --- trading -----------------------------------------------------------------------------------


def td_cmd(venue: str, account: str) -> str:
    return f"td.cmd.{_venue(venue)}.{escape_token(account)}"


def td_venue(venue: str) -> str:
    """Where ``QueryVenue`` goes: the venue's command subject with ``-`` in the account place (no account
    id is ``-``, and the command's empty ``account`` tells td_exec it is about the venue itself)."""
    return td_cmd(venue, "-")


def td_evt(venue: str, account: str, client_order_id: str) -> str:
    return f"td.evt.{_venue(venue)}.{escape_token(account)}.{escape_token(client_order_id)}"


def td_evt_account(venue: str, account: str) -> str:
    """Wildcard over every order of one account."""
    return f"td.evt.{_venue(venue)}.{escape_token(account)}.*"


def td_fence(venue: str, account: str, holder: str) -> str:
    """The fence a new holder of an account appends into TD_EVT when it takes the account over."""
    return f"td.fence.{_venue(venue)}.{escape_token(account)}.{escape_token(holder)}"


def td_fences(venue: str, account: str) -> str:
    """Wildcard over one account's fences (whoever appended them)."""
    return f"td.fence.{_venue(venue)}.{escape_token(account)}.*"


def td_fwd(holder: str) -> str:
    """Where a standby td_exec forwards a command to the instance holding its account."""
    return f"td.fwd.{escape_token(holder)}"


def td_lease_key(venue: str, account: str) -> str:
    """An account's key in KV ``td_leases``."""
    return f"{_venue(venue)}.{escape_token(account)}"


def parse_td_evt(subject: str) -> tuple[str, str, str]:
    """``td.evt.<venue>.<account>.<client_order_id>`` → (venue, account, client_order_id)."""
    parts = subject.split(".")
    if len(parts) != 5 or parts[:2] != ["td", "evt"]:
        raise ValueError(f"not an order-event subject: {subject!r}")
    return parts[2], unescape_token(parts[3]), unescape_token(parts[4])


# --- auth and system ---------------------------------------------------------------------------


def auth_state(instance: str) -> str:
    return f"auth.opend.{plain_token(instance)}.state"


AUTH_STATE_ALL = "auth.opend.*.state"


def auth_cmd(instance: str) -> str:
    return f"auth.opend.{plain_token(instance)}.cmd"


def sys_health(service: str) -> str:
    return f"sys.health.{plain_token(service)}"


SYS_HEALTH_ALL = "sys.health.>"


def sys_health_stream(service: str) -> str:
    """The stream that keeps ``service``'s last heartbeat; it is that service's own (see permissions)."""
    return f"SYS_{plain_token(service)}"


def service_of_health_stream(stream: str) -> str | None:
    """The service whose heartbeats ``stream`` keeps, or None when it is not a heartbeat stream."""
    return stream.removeprefix("SYS_") if stream.startswith("SYS_") else None
