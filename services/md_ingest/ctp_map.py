"""CTP depth market data → tick fields: DBL_MAX, exchange-local time, TradingDay vs ActionDay.

Per-exchange day rules (the quirks every CTP gateway meets; the exchange sets live in the CTP kit,
``tradebus.ctp.exchanges``; see docs/md_ingest.md and docs/ctp.md):

* ``ActionDay`` is the calendar day of the quote on SHFE, INE, CFFEX, GFEX and CZCE. **DCE** puts the
  *trading day* there during the night session (Friday night says Monday), so for DCE the calendar
  day is worked out from our own clock: the date that puts ``UpdateTime`` nearest to the moment we
  received the push (Beijing time, within ±12 h).
* ``TradingDay`` is right everywhere except **CZCE** at night, which sends the calendar day; for CZCE
  the trading day is the one the login reported (``GetTradingDay``).
* ``UpdateTime`` + ``UpdateMillisec`` are Beijing time (UTC+8, no daylight saving) → UTC ns.
* Every price of ``DBL_MAX`` (or NaN, or absurdly large) means "no value" → ``None``; a book level
  with no price or no volume is left out.
* ``AveragePrice`` is Turnover / Volume including the contract multiplier everywhere except CZCE,
  whose fronts send it per unit; we always publish it per unit.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from tradebus.ctp.exchanges import (
    ACTION_DAY_IS_TRADING_DAY,
    AVERAGE_PRICE_PER_UNIT,
    CTP_EXCHANGES,
    TRADING_DAY_IS_CALENDAR_DAY,
)
from tradebus.ctp.structs import struct_reader
from tradebus.ctp.time import beijing_ns, nearest_day, valid_day
from tradebus.schemas.market import Level

NO_VALUE_ABOVE = 1e300  # DBL_MAX is 1.797e308; anything this large is "no value"
LEVELS = 5

# Fields copied out of the SWIG struct on the CTP thread (the struct is only valid in the callback).
DEPTH_FIELDS: tuple[str, ...] = (
    "InstrumentID", "ExchangeID", "TradingDay", "ActionDay", "UpdateTime", "UpdateMillisec", "LastPrice",
    "Volume", "Turnover", "OpenInterest", "OpenPrice", "HighestPrice", "LowestPrice", "PreSettlementPrice",
    "PreClosePrice", "UpperLimitPrice", "LowerLimitPrice", "AveragePrice",
    *(f"{side}{what}{i}" for i in range(1, LEVELS + 1) for side in ("Bid", "Ask") for what in ("Price", "Volume")),
)  # fmt: skip


class InstrumentRef(NamedTuple):
    exchange: str
    multiplier: int
    price_tick: float


def depth_values(field: Any) -> tuple[Any, ...]:
    """Copy the fields we use out of a ``CThostFtdcDepthMarketDataField`` (on the CTP thread, holding the GIL:
    one unpack of the struct's memory where its layout was verified, tradebus.ctp.structs)."""
    return struct_reader(type(field), DEPTH_FIELDS)(field)


INDEX: dict[str, int] = {name: i for i, name in enumerate(DEPTH_FIELDS)}


def price(value: float) -> float | None:
    if value != value or value >= NO_VALUE_ABOVE or value <= -NO_VALUE_ABOVE:
        return None
    return value


def event_time(exchange: str, action_day: str, update_time: str, millis: int, received_ns: int) -> int:
    if not update_time:
        return received_ns
    if exchange in CTP_EXCHANGES and exchange not in ACTION_DAY_IS_TRADING_DAY and valid_day(action_day):
        day = action_day
    else:
        day = nearest_day(update_time, received_ns)
    return beijing_ns(day, update_time, millis)


def trading_day(exchange: str, pushed: str, login_day: str) -> str | None:
    if exchange in CTP_EXCHANGES and exchange not in TRADING_DAY_IS_CALENDAR_DAY and valid_day(pushed):
        return pushed
    return login_day if valid_day(login_day) else (pushed or None)


# (price, volume) positions in depth_values' tuple, best level first, per side
LEVEL_INDEX: dict[str, tuple[tuple[int, int], ...]] = {
    side: tuple((INDEX[f"{side}Price{i}"], INDEX[f"{side}Volume{i}"]) for i in range(1, LEVELS + 1))
    for side in ("Bid", "Ask")
}


def book(values: tuple[Any, ...], side: str) -> tuple[Level, ...]:
    """One side of the book, best level first, up to the first level without a price or a volume."""
    out: list[Level] = []
    for price_at, volume_at in LEVEL_INDEX[side]:
        p = price(values[price_at])
        qty = int(values[volume_at])
        if p is None or qty <= 0:
            break
        out.append(Level(p, qty))
    return tuple(out)


def average_price(exchange: str, value: float, multiplier: int) -> float | None:
    avg = price(value)
    if avg is None or avg == 0.0:
        return None
    if exchange in AVERAGE_PRICE_PER_UNIT:
        return avg
    return avg / multiplier if multiplier > 0 else None
