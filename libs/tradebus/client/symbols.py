"""Instrument and account names as strategies write them, checked before anything is sent:
``ctp.SHFE.rb2601`` (:class:`tradebus.instrument.Instrument`) and ``ctp:000001`` (a user grant)."""

from __future__ import annotations

from tradebus.client.errors import UnknownSymbol
from tradebus.instrument import Instrument
from tradebus.subjects import VENUES, escape_token

MAX_NAME = 200


def parse_instrument(name: str) -> Instrument:
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise UnknownSymbol(f"instrument names are text of at most {MAX_NAME} characters, got {name!r:.80}")
    try:
        venue, exchange, symbol = Instrument.parse(name)
    except ValueError:
        raise UnknownSymbol(f"{name!r}: expected <venue>.<exchange>.<symbol>, e.g. ctp.SHFE.rb2601 or "
                            "futu.HK.00700") from None
    if venue not in VENUES:
        raise UnknownSymbol(f"{name!r}: unknown venue {venue!r} (expected one of {', '.join(VENUES)})")
    try:
        escape_token(exchange)
        escape_token(symbol)
    except ValueError as exc:
        raise UnknownSymbol(f"{name!r}: {exc}") from None
    return Instrument(venue, exchange, symbol)


def parse_account(name: str) -> tuple[str, str]:
    """``ctp:000001`` → (``ctp``, ``000001``), the spelling of user grants."""
    venue, sep, account = name.partition(":") if isinstance(name, str) else ("", "", "")
    if not sep or venue not in VENUES or not account or account == "*" or len(account) > 64:
        raise ValueError(f"{name!r}: expected <venue>:<account>, e.g. ctp:000001")
    return venue, account
