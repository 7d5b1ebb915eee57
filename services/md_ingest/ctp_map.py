"""CTP depth market data → tick fields: DBL_MAX, exchange-local time, TradingDay vs ActionDay.

Per-exchange day rules (the quirks every CTP gateway meets; see docs/md_ingest.md):

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

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, NamedTuple

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
NO_VALUE_ABOVE = 1e300  # DBL_MAX is 1.797e308; anything this large is "no value"
CTP_EXCHANGES = frozenset({"SHFE", "INE", "DCE", "CZCE", "CFFEX", "GFEX"})
ACTION_DAY_TRUSTED: dict[str, bool] = {
    "SHFE": True, "INE": True, "CFFEX": True, "GFEX": True, "CZCE": True, "DCE": False,
}  # fmt: skip
TRADING_DAY_TRUSTED: dict[str, bool] = {
    "SHFE": True, "INE": True, "CFFEX": True, "GFEX": True, "DCE": True, "CZCE": False,
}  # fmt: skip
AVERAGE_PER_UNIT: dict[str, bool] = {exchange: exchange == "CZCE" for exchange in CTP_EXCHANGES}
_HALF_DAY = timedelta(hours=12)
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
    """Copy the fields we use out of a ``CThostFtdcDepthMarketDataField`` (on the CTP thread)."""
    return tuple(getattr(field, name) for name in DEPTH_FIELDS)


INDEX: dict[str, int] = {name: i for i, name in enumerate(DEPTH_FIELDS)}


def price(value: float) -> float | None:
    if value != value or value >= NO_VALUE_ABOVE or value <= -NO_VALUE_ABOVE:
        return None
    return value


def beijing_ns(day: str, update_time: str, millis: int) -> int:
    moment = datetime.strptime(f"{day} {update_time}", "%Y%m%d %H:%M:%S").replace(tzinfo=BEIJING)
    return int(moment.timestamp()) * 1_000_000_000 + int(millis) * 1_000_000


def nearest_day(update_time: str, received_ns: int) -> str:
    """The calendar day that puts ``update_time`` nearest to when we received the push."""
    now = datetime.fromtimestamp(received_ns / 1e9, tz=UTC).astimezone(BEIJING)
    hh, mm, ss = (int(part) for part in update_time.split(":"))
    candidate = now.replace(hour=hh, minute=mm, second=ss, microsecond=0)
    if candidate - now > _HALF_DAY:
        candidate -= timedelta(days=1)
    elif now - candidate > _HALF_DAY:
        candidate += timedelta(days=1)
    return candidate.strftime("%Y%m%d")


def _valid_day(day: str) -> bool:
    try:
        date(int(day[:4]), int(day[4:6]), int(day[6:8]))
    except ValueError:
        return False
    return len(day) == 8


def event_time(exchange: str, action_day: str, update_time: str, millis: int, received_ns: int) -> int:
    if not update_time:
        return received_ns
    if ACTION_DAY_TRUSTED.get(exchange, False) and _valid_day(action_day):
        day = action_day
    else:
        day = nearest_day(update_time, received_ns)
    return beijing_ns(day, update_time, millis)


def trading_day(exchange: str, pushed: str, login_day: str) -> str | None:
    if TRADING_DAY_TRUSTED.get(exchange, False) and _valid_day(pushed):
        return pushed
    return login_day if _valid_day(login_day) else (pushed or None)


def levels(values: tuple[Any, ...], side: str) -> tuple[tuple[float, int], ...]:
    out: list[tuple[float, int]] = []
    for i in range(1, LEVELS + 1):
        p = price(values[INDEX[f"{side}Price{i}"]])
        qty = int(values[INDEX[f"{side}Volume{i}"]])
        if p is None or qty <= 0:
            break
        out.append((p, qty))
    return tuple(out)


def average_price(exchange: str, value: float, multiplier: int) -> float | None:
    avg = price(value)
    if avg is None or avg == 0.0:
        return None
    if AVERAGE_PER_UNIT.get(exchange, False):
        return avg
    return avg / multiplier if multiplier > 0 else None
