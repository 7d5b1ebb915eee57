"""FMZ ``BASE_QUOTE`` symbols ↔ tradebus instruments (venue, exchange, symbol), and FMZ order ids.

Convention (docs/fmz_edge.md): ``<symbol>.<EXCHANGE>_<CURRENCY>``.

* ``rb2601.SHFE_CNY``, ``SR505.CZCE_CNY``, ``IF2506.CFFEX_CNY`` (CTP futures)
* ``00700.HK_HKD``, ``AAPL.US_USD``, ``BRK.B.US_USD``, ``600519.SH_CNY`` (Futu)

The exchange is the last dot-separated part of the base, so symbols that contain dots stay whole.
Parsing ignores case (the FMZ docker and plug-ins upper- or lower-case symbols at will); the venue's
own case is restored from the exchange: Futu codes are upper case; a CTP contract's product letters
follow its exchange (lower on SHFE/DCE/INE/GFEX, upper on CZCE/CFFEX) and the rest is upper case
(option markers ``C``/``P``). The quote currency must be the exchange's currency, so a wrong pairing
is an error rather than a silent guess. Formatting is the exact inverse of parsing on canonical input.

Order ids are ``"<fmz symbol>,<client_order_id>"``, as FMZ expects ``"<symbol>,<id>"``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# Exchange → (venue, quote currency). The venue named by the request path must trade the exchange.
EXCHANGES: dict[str, tuple[str, str]] = {
    "HK": ("futu", "HKD"),
    "US": ("futu", "USD"),
    "SH": ("futu", "CNY"),
    "SZ": ("futu", "CNY"),
    "SHFE": ("ctp", "CNY"),
    "DCE": ("ctp", "CNY"),
    "CZCE": ("ctp", "CNY"),
    "CFFEX": ("ctp", "CNY"),
    "INE": ("ctp", "CNY"),
    "GFEX": ("ctp", "CNY"),
}
VENUE_EXCHANGES: dict[str, frozenset[str]] = {
    venue: frozenset(ex for ex, (v, _) in EXCHANGES.items() if v == venue)
    for venue in {v for v, _ in EXCHANGES.values()}
}
# The in-process `sim` venue of td_exec trades the same markets as the real ones.
VENUE_EXCHANGES["sim"] = frozenset(EXCHANGES)

_UPPER_PRODUCT = frozenset({"CZCE", "CFFEX"})
_PRODUCT = re.compile(r"^([A-Za-z]+)(.*)$")
_SYMBOL_CHARS = re.compile(r"^[A-Za-z0-9.&\- ]{1,40}$")

FORMAT_HINT = "expected <symbol>.<EXCHANGE>_<CURRENCY>, e.g. rb2601.SHFE_CNY or 00700.HK_HKD"


class SymbolError(ValueError):
    """A symbol or order id that does not follow the convention; the message is for the strategy author."""


class Instrument(NamedTuple):
    exchange: str
    symbol: str


def _venue_case(exchange: str, symbol: str) -> str:
    if EXCHANGES[exchange][0] != "ctp":
        return symbol.upper()
    match = _PRODUCT.match(symbol)
    if match is None:
        return symbol.upper()
    product, rest = match.groups()
    product = product.upper() if exchange in _UPPER_PRODUCT else product.lower()
    return product + rest.upper()


def parse_symbol(text: object, venue: str) -> Instrument:
    """FMZ symbol → instrument of ``venue``; raises :class:`SymbolError` with the reason."""
    if not isinstance(text, str) or not text:
        raise SymbolError(f"symbol must be a non-empty string; {FORMAT_HINT}")
    base, sep, quote = text.rpartition("_")
    if not sep or not base or not quote:
        raise SymbolError(f"invalid symbol {text!r}: {FORMAT_HINT}")
    code, dot, exchange = base.rpartition(".")
    if not dot or not code:
        raise SymbolError(f"invalid symbol {text!r}: no exchange; {FORMAT_HINT}")
    exchange = exchange.upper()
    if exchange not in EXCHANGES:
        raise SymbolError(f"invalid symbol {text!r}: unknown exchange {exchange!r} "
                          f"(one of {', '.join(EXCHANGES)})")
    if exchange not in VENUE_EXCHANGES.get(venue, frozenset()):
        raise SymbolError(f"invalid symbol {text!r}: exchange {exchange} is not traded on venue {venue}")
    currency = EXCHANGES[exchange][1]
    if quote.upper() != currency:
        raise SymbolError(f"invalid symbol {text!r}: {exchange} quotes in {currency}, not {quote.upper()}")
    if not _SYMBOL_CHARS.match(code):
        raise SymbolError(f"invalid symbol {text!r}: bad instrument code {code!r}")
    return Instrument(exchange, _venue_case(exchange, code))


def format_symbol(exchange: str, symbol: str) -> str:
    currency = EXCHANGES[exchange][1] if exchange in EXCHANGES else "CNY"
    return f"{symbol}.{exchange}_{currency}"


def format_order_id(exchange: str, symbol: str, client_order_id: str) -> str:
    return f"{format_symbol(exchange, symbol)},{client_order_id}"


def parse_order_id(text: object, venue: str) -> tuple[Instrument, str]:
    """``"<fmz symbol>,<client_order_id>"`` → (instrument, client_order_id)."""
    if not isinstance(text, str) or "," not in text:
        raise SymbolError(f"invalid order id {text!r}: expected \"<symbol>,<id>\" as returned by trade")
    symbol_text, _, client_order_id = text.rpartition(",")
    if not client_order_id or not re.match(r"^[A-Za-z0-9_.:-]{1,64}$", client_order_id):
        raise SymbolError(f"invalid order id {text!r}: bad id part {client_order_id!r}")
    return parse_symbol(symbol_text, venue), client_order_id
