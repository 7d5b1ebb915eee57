"""Beijing time and CTP's date/time fields (docs/ctp.md, "Time").

CTP stamps everything in exchange wall time: Beijing, UTC+8 all year (no daylight saving). Dates are
``YYYYMMDD`` text, times ``HH:MM:SS`` text; depth adds ``UpdateMillisec``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache

TZ_NAME = "Asia/Shanghai"  # the IANA zone of every CTP exchange
BEIJING = timezone(timedelta(hours=8), TZ_NAME)
_NS = 1_000_000_000
_DAY_NS = 86_400 * _NS
_HALF_DAY_NS = _DAY_NS // 2
_BEIJING_OFFSET_NS = 8 * 3600 * _NS
_EPOCH_DAY = date(1970, 1, 1)


def beijing(ts_ns: int) -> datetime:
    """A UTC ns timestamp as Beijing wall time."""
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).astimezone(BEIJING)


def calendar_day(ts_ns: int) -> str:
    """``YYYYMMDD`` of the Beijing calendar day."""
    return beijing(ts_ns).strftime("%Y%m%d")


def clock_time(ts_ns: int) -> str:
    """``HH:MM:SS`` Beijing wall clock."""
    return beijing(ts_ns).strftime("%H:%M:%S")


def millis(ts_ns: int) -> int:
    return (ts_ns // 1_000_000) % 1000


def beijing_ns(day: str, hhmmss: str, millis: int = 0) -> int:
    """CTP's ``YYYYMMDD`` + ``HH:MM:SS`` (+ ms) → UTC ns; ValueError when either is garbled."""
    return _beijing_s(day, hhmmss) * _NS + int(millis) * 1_000_000


@lru_cache(maxsize=1024)  # every depth update is stamped: strptime was ~10 µs of each; a second repeats a lot
def _beijing_s(day: str, hhmmss: str) -> int:
    moment = datetime.strptime(f"{day.strip()} {hhmmss.strip()}", "%Y%m%d %H:%M:%S").replace(tzinfo=BEIJING)
    return int(moment.timestamp())


def beijing_ns_or_none(day: str, hhmmss: str) -> int | None:
    """:func:`beijing_ns`, or None when a field is missing or garbled (report stamps are optional)."""
    try:
        return beijing_ns(day, hhmmss)
    except ValueError:
        return None


@lru_cache(maxsize=64)  # asked for every depth update, about a handful of distinct days
def valid_day(day: str) -> bool:
    """Whether ``day`` is a real ``YYYYMMDD`` date."""
    if len(day) != 8 or not day.isdigit():
        return False
    try:
        date(int(day[:4]), int(day[4:6]), int(day[6:8]))
    except ValueError:
        return False
    return True


def nearest_day(hhmmss: str, received_ns: int) -> str:
    """The Beijing calendar day that puts ``hhmmss`` nearest to ``received_ns`` (within ±12 h).

    Integer arithmetic on the Beijing day: asked for every DCE depth update, where building datetimes
    cost more than the rest of the tick's normalisation."""
    days, now_ns = divmod(received_ns + _BEIJING_OFFSET_NS, _DAY_NS)
    ahead = _seconds_of_day(hhmmss) * _NS - now_ns
    if ahead > _HALF_DAY_NS:
        days -= 1
    elif -ahead > _HALF_DAY_NS:
        days += 1
    return _day_text(days)


@lru_cache(maxsize=1024)
def _seconds_of_day(hhmmss: str) -> int:
    hh, mm, ss = (int(part) for part in hhmmss.split(":"))
    if not (0 <= hh < 24 and 0 <= mm < 60 and 0 <= ss < 60):
        raise ValueError(f"not a time of day: {hhmmss!r}")
    return (hh * 60 + mm) * 60 + ss


@lru_cache(maxsize=64)
def _day_text(days: int) -> str:
    """``YYYYMMDD`` of a day counted from 1970-01-01."""
    return (_EPOCH_DAY + timedelta(days=days)).strftime("%Y%m%d")
