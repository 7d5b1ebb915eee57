"""Beijing time and CTP's date/time fields (docs/ctp.md, "Time").

CTP stamps everything in exchange wall time: Beijing, UTC+8 all year (no daylight saving). Dates are
``YYYYMMDD`` text, times ``HH:MM:SS`` text; depth adds ``UpdateMillisec``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

TZ_NAME = "Asia/Shanghai"  # the IANA zone of every CTP exchange
BEIJING = timezone(timedelta(hours=8), TZ_NAME)
_NS = 1_000_000_000
_HALF_DAY = timedelta(hours=12)


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
    moment = datetime.strptime(f"{day.strip()} {hhmmss.strip()}", "%Y%m%d %H:%M:%S").replace(tzinfo=BEIJING)
    return int(moment.timestamp()) * _NS + int(millis) * 1_000_000


def beijing_ns_or_none(day: str, hhmmss: str) -> int | None:
    """:func:`beijing_ns`, or None when a field is missing or garbled (report stamps are optional)."""
    try:
        return beijing_ns(day, hhmmss)
    except ValueError:
        return None


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
    """The Beijing calendar day that puts ``hhmmss`` nearest to ``received_ns`` (within ±12 h)."""
    now = beijing(received_ns)
    hh, mm, ss = (int(part) for part in hhmmss.split(":"))
    candidate = now.replace(hour=hh, minute=mm, second=ss, microsecond=0)
    if candidate - now > _HALF_DAY:
        candidate -= timedelta(days=1)
    elif now - candidate > _HALF_DAY:
        candidate += timedelta(days=1)
    return candidate.strftime("%Y%m%d")
