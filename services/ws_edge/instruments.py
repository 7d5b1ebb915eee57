"""webctp ``InstrumentID`` ↔ bus instrument (venue, exchange, symbol), for CTP and Futu alike.

* CTP instruments keep their CTP names (``rb2601``, ``TA601``); webctp requests often carry no
  exchange, so the exchange comes from the ``instruments`` KV bucket when it knows the contract, else
  from the product code (the letters in front, which are unique across China's futures exchanges).
* Futu instruments are written as Futu writes them, ``<market>.<code>`` (``HK.00700``, ``US.AAPL``,
  ``US.BRK.B``); ``ExchangeID`` is the market (``HK``, ``US``, ``SH``, ``SZ``), which is also the bus
  exchange token.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from tradebus.ctp import exchanges as ctp_exchanges
from tradebus.ctp.exchanges import CFFEX, CTP_EXCHANGES, CZCE, DCE, GFEX, INE, SHFE

FUTU_MARKETS = ("HK", "US", "SH", "SZ")

# ExchangeID → ExchangeName, for ReqQryExchange: CTP's exchanges under their own names, then Futu's markets.
EXCHANGE_NAMES: dict[str, str] = {
    **ctp_exchanges.EXCHANGE_NAMES,
    "HK": "香港交易所",
    "US": "美国市场",
    "SH": "上海证券交易所",
    "SZ": "深圳证券交易所",
}


# Product code → exchange, for a CTP InstrumentID the instruments bucket does not know yet.
_PRODUCTS_BY_EXCHANGE: dict[str, tuple[str, ...]] = {
    SHFE: ("cu", "al", "zn", "pb", "ni", "sn", "au", "ag", "rb", "wr", "hc", "ss", "bu", "ru", "sp",
           "fu", "br", "ao", "ad"),
    INE: ("sc", "lu", "nr", "bc", "ec"),
    DCE: ("c", "cs", "a", "b", "m", "y", "p", "fb", "bb", "jd", "rr", "l", "v", "pp", "j", "jm", "i", "eg", "eb",
          "pg", "lh", "lg"),
    CZCE: ("SR", "CF", "CY", "PM", "WH", "RI", "LR", "JR", "AP", "OI", "RS", "RM", "TA", "MA", "FG", "SF", "SM",
           "ZC", "UR", "SA", "PF", "PK", "PX", "SH", "CJ", "PR"),
    CFFEX: ("IF", "IC", "IH", "IM", "TS", "TF", "T", "TL"),
    GFEX: ("si", "lc", "ps"),
}
PRODUCT_EXCHANGE: dict[str, str] = {
    product: exchange for exchange, products in _PRODUCTS_BY_EXCHANGE.items() for product in products
}
_PRODUCT = re.compile(r"^([A-Za-z]+)")


class BusInstrument(NamedTuple):
    venue: str
    exchange: str
    symbol: str


def is_futu_id(instrument_id: str) -> bool:
    market, dot, code = instrument_id.partition(".")
    return bool(dot) and market in FUTU_MARKETS and bool(code)


def product_of(symbol: str) -> str:
    match = _PRODUCT.match(symbol)
    return match.group(1) if match else ""


_DELIVERY = re.compile(r"^[A-Za-z]+(\d{3,4})")


def delivery(symbol: str, reference_year: int) -> tuple[int, int]:
    """(DeliveryYear, DeliveryMonth) of a futures contract code, (0, 0) when it has none.

    ``rb2601``: the year's last two digits and the month. CZCE writes only the year's last digit
    (``SR601``): the year is the one ending in that digit from two years before ``reference_year`` (the
    trading day's year) to seven after, the span in which a listed contract can deliver."""
    match = _DELIVERY.match(symbol)
    if match is None:
        return 0, 0
    digits = match.group(1)
    month = int(digits[-2:])
    if not 1 <= month <= 12:
        return 0, 0
    if len(digits) == 4:
        return 2000 + int(digits[:2]), month
    first = reference_year - 2
    return first + (int(digits[0]) - first) % 10, month


def ctp_exchange_guess(symbol: str) -> str:
    return PRODUCT_EXCHANGE.get(product_of(symbol), "")


def webctp_id(venue: str, exchange: str, symbol: str, *, stocks_venue: str) -> str:
    """The InstrumentID a webctp client sees for a bus instrument."""
    if exchange in FUTU_MARKETS or (venue == stocks_venue and exchange not in CTP_EXCHANGES):
        return f"{exchange}.{symbol}"
    return symbol


class InstrumentMap:
    """Resolves webctp InstrumentIDs with the venue names of this deployment."""

    def __init__(self, *, futures_venue: str, stocks_venue: str) -> None:
        self.futures_venue = futures_venue
        self.stocks_venue = stocks_venue
        self._known: dict[str, BusInstrument] = {}  # CTP InstrumentID → instrument, learnt from the bucket

    def learn(self, venue: str, exchange: str, symbol: str) -> None:
        if exchange in CTP_EXCHANGES:
            self._known[symbol] = BusInstrument(venue, exchange, symbol)

    def resolve(self, instrument_id: str, exchange_hint: str = "") -> BusInstrument | None:
        """None when the id is empty or names no exchange we can find."""
        instrument_id = instrument_id.strip()
        if not instrument_id:
            return None
        if is_futu_id(instrument_id):
            market, _, code = instrument_id.partition(".")
            return BusInstrument(self.stocks_venue, market, code)
        known = self._known.get(instrument_id)
        if known is not None:
            return known
        exchange = exchange_hint if exchange_hint in CTP_EXCHANGES else ctp_exchange_guess(instrument_id)
        if not exchange:
            return None
        return BusInstrument(self.futures_venue, exchange, instrument_id)

    def to_webctp(self, venue: str, exchange: str, symbol: str) -> str:
        return webctp_id(venue, exchange, symbol, stocks_venue=self.stocks_venue)

    def is_stock(self, exchange: str) -> bool:
        return exchange in FUTU_MARKETS
