"""One webctp session is one investor: which account the login picks, and which one a request names.

A CTP client logs in as one investor and reads one account, one set of positions and one order book.
The login's ``UserID`` is the edge user's name, optionally followed by the account to act as:

* ``demo`` — the user's first account on the futures venue (a webctp client thinks it talks to a CTP
  front); a user with none there gets their first account on any venue;
* ``demo@futu`` — the user's first account on that venue;
* ``demo@ctp:000001`` — that account.

A request's ``InvestorID`` (``AccountID`` for funds) that is empty, the login's ``UserID`` or the user's
name means the session's investor; ``000001`` or ``ctp:000001`` names another account the user holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tradebus.users import ACCOUNT_GRANT

Account = tuple[str, str]  # (venue, account)
_SELECTOR = re.compile(r"^(?P<user>.+)@(?P<venue>futu|ctp|sim)(?::(?P<account>[A-Za-z0-9_-]{1,64}))?$")


@dataclass(frozen=True, slots=True)
class LoginName:
    user: str  # the edge user to authenticate
    venue: str = ""  # the venue the login asks for, if any
    account: str = ""  # the account the login asks for, if any


def parse_login(user_id: str) -> LoginName:
    """``UserID`` → the user and the account selector (a name without ``@<venue>`` is all user)."""
    match = _SELECTOR.match(user_id)
    if match is None:
        return LoginName(user_id)
    return LoginName(match["user"], match["venue"], match["account"] or "")


def pick_investor(accounts: list[Account], login: LoginName, front_venue: str) -> Account | None:
    """The session's investor among the user's concrete ``accounts`` (sorted), or None when the login
    asks for an account or venue the user has none of."""
    if login.account:
        wanted = (login.venue, login.account)
        return wanted if wanted in accounts else None
    venue = login.venue or front_venue
    on_venue = [a for a in accounts if a[0] == venue]
    if on_venue:
        return on_venue[0]
    if login.venue or not accounts:
        return None
    return accounts[0]


def named_account(value: str, accounts: list[Account], venue: str | None = None) -> Account | None:
    """The account of ``accounts`` that ``value`` (``000001`` or ``ctp:000001``) names, on ``venue``
    when one is given; None when it names none of them."""
    if ACCOUNT_GRANT.match(value) and not value.endswith(":*"):
        wanted_venue, account = value.split(":", 1)
        candidates = [(wanted_venue, account)] if (wanted_venue, account) in accounts else []
    else:
        candidates = [a for a in accounts if a[1] == value]
    return next((a for a in candidates if venue is None or a[0] == venue), None)
