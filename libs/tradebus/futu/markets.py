"""Futu's markets, security codes and the markets' time zones.

A Futu security code is ``<market>.<symbol>`` (``HK.00700``, ``US.AAPL``, ``US.BRK.B``); the market
prefix is also tradebus's exchange token for Futu instruments. OpenD writes every time string in the
market's own time zone. The wire numbers are those of OpenD's protobuf enums (``Qot_Common.QotMarket``
for quotes, ``Trd_Common.TrdMarket``/``TrdSecMarket`` for trading); see ``docs/td_exec_futu.md``,
"The Futu kit".
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from tradebus.tables import inverse

VENUE = "futu"

QUOTE_MARKETS: tuple[str, ...] = ("HK", "US", "SH", "SZ")  # the quote markets tradebus reads
TRADE_MARKETS: tuple[str, ...] = ("HK", "US")  # the markets tradebus trades (one trade context each)

MARKET_TZ_NAME: dict[str, str] = {"HK": "Asia/Hong_Kong", "US": "America/New_York", "SH": "Asia/Shanghai",
                                  "SZ": "Asia/Shanghai"}
MARKET_TZ: dict[str, ZoneInfo] = {market: ZoneInfo(name) for market, name in MARKET_TZ_NAME.items()}
HK_TZ = MARKET_TZ["HK"]


# Qot_Common.QotMarket (futu-api's ``Market``), the market of a quote security
QOT_MARKET: dict[str, int] = {"HK": 1, "US": 11, "SH": 21, "SZ": 22}
QOT_MARKET_TO_EXCHANGE: dict[int, str] = inverse(QOT_MARKET)
# Trd_Common.TrdMarket (futu-api's ``TrdMarket``), the market a trade context and an account serve
TRD_MARKET: dict[str, int] = {"HK": 1, "US": 2}
TRD_MARKET_TO_EXCHANGE: dict[int, str] = inverse(TRD_MARKET)
# Trd_Common.TrdSecMarket, the market of the security an order, fill or position is about
TRD_SEC_MARKET: dict[str, int] = {"HK": 1, "US": 2}
TRD_SEC_MARKET_TO_EXCHANGE: dict[int, str] = inverse(TRD_SEC_MARKET)


def split_code(code: str) -> tuple[str, str]:
    """``"HK.00700"`` → ``("HK", "00700")``; ``"US.BRK.B"`` keeps the dot in the symbol."""
    exchange, _, symbol = code.partition(".")
    return exchange, symbol


def join_code(exchange: str, symbol: str) -> str:
    """``("HK", "00700")`` → ``"HK.00700"``."""
    return f"{exchange}.{symbol}"
