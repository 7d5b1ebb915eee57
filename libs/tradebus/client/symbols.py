"""Instrument names as strategies write them: ``<venue>.<exchange>.<symbol>`` (``ctp.SHFE.rb2601``,
``futu.HK.00700``, ``futu.US.BRK.B`` — the symbol is everything after the second dot), the same
spelling as ``[md] subscriptions``."""

from __future__ import annotations

from typing import NamedTuple

from tradebus.client.errors import UnknownSymbol
from tradebus.subjects import VENUES, escape_token

MAX_NAME = 200


class Instrument(NamedTuple):
    venue: str
    exchange: str
    symbol: str

    def __str__(self) -> str:
        return f"{self.venue}.{self.exchange}.{self.symbol}"


def parse_instrument(name: str) -> Instrument:
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise UnknownSymbol(f"instrument names are text of at most {MAX_NAME} characters, got {name!r:.80}")
    parts = name.split(".", 2)
    if len(parts) != 3 or not all(parts):
        raise UnknownSymbol(f"{name!r}: expected <venue>.<exchange>.<symbol>, e.g. ctp.SHFE.rb2601 or futu.HK.00700")
    venue, exchange, symbol = parts
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
