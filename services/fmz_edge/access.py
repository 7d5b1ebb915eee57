"""Who is asking and for which account: the key pair → a tradebus user, the path → (venue, account).

The FMZ exchange's service address names the venue, and optionally the account:
``http://127.0.0.1:6666/ctp`` (the user's only CTP account) or ``http://127.0.0.1:6666/ctp/000001``.
"""

from __future__ import annotations

from urllib.parse import unquote

from fmz_edge.protocol import FmzError
from tradebus.users import User

LABEL_VENUES = ("futu", "ctp", "sim")


def resolve_account(user: User, path: str, accounts: list[tuple[str, str]]) -> tuple[str, str]:
    """``accounts``: the user's concrete accounts, wildcard grants resolved (``VenueDirectory.accounts``)."""
    parts = [unquote(p) for p in path.split("?", 1)[0].strip("/").split("/") if p]
    venue = parts[0].lower() if parts else ""
    if venue not in LABEL_VENUES or len(parts) > 2:
        raise FmzError(f"unknown exchange address {path!r}: use /<venue> or /<venue>/<account> "
                       f"with venue {', '.join(LABEL_VENUES)} (e.g. http://127.0.0.1:6666/ctp)")
    if len(parts) == 2:
        account = parts[1]
        if not user.may_use(venue, account):
            raise FmzError(f"account {venue}:{account} is not allowed for this key")
        return venue, account
    mine = [acct for v, acct in accounts if v == venue]
    if len(mine) == 1:
        return venue, mine[0]
    if not mine:
        if user.may_use(venue, "*"):
            raise FmzError(f"td_exec lists no {venue} account right now: name one in the address, "
                           f"/{venue}/<account>")
        raise FmzError(f"no {venue} account is allowed for this key")
    raise FmzError(f"this key has several {venue} accounts ({', '.join(sorted(mine))}): "
                   f"name one in the address, /{venue}/<account>")
