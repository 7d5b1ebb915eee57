"""Exchange time zones and trading sessions: when silence means "stale", and where a bar ends.

Sessions are the widest the exchange runs (a product with a shorter night session is simply silent
for a while, which the stale check ignores outside the hours). Holidays are not modelled. A range
whose end is before its start runs past midnight (SHFE's night session to 02:30).
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from tradebus.exchange_zones import EXCHANGE_TZ

_T = time
Session = tuple[time, time]

_DAY_FUTURES: tuple[Session, ...] = ((_T(9), _T(10, 15)), (_T(10, 30), _T(11, 30)), (_T(13, 30), _T(15)))
SESSIONS: dict[str, tuple[Session, ...]] = {
    "HK": ((_T(9, 30), _T(12)), (_T(13), _T(16, 10))),  # 16:00-16:10 closing auction
    "US": ((_T(9, 30), _T(16)),),
    "SH": ((_T(9, 30), _T(11, 30)), (_T(13), _T(15))),
    "SZ": ((_T(9, 30), _T(11, 30)), (_T(13), _T(15))),
    "SHFE": (*_DAY_FUTURES, (_T(21), _T(2, 30))),
    "INE": (*_DAY_FUTURES, (_T(21), _T(2, 30))),
    "DCE": (*_DAY_FUTURES, (_T(21), _T(23))),
    "CZCE": (*_DAY_FUTURES, (_T(21), _T(23))),
    "CFFEX": ((_T(9, 15), _T(11, 30)), (_T(13), _T(15, 15))),
    "GFEX": _DAY_FUTURES,
}
# Session ends inside the widest night session (products that stop at 23:00 or 01:00).
_EXTRA_ENDS: dict[str, frozenset[time]] = {"SHFE": frozenset({_T(23), _T(1)}), "INE": frozenset({_T(23), _T(1)})}
SESSION_ENDS: dict[str, frozenset[time]] = {
    exchange: frozenset(end for _, end in sessions) | _EXTRA_ENDS.get(exchange, frozenset())
    for exchange, sessions in SESSIONS.items()
}
MINUTE_NS = 60_000_000_000
SECOND_NS = 1_000_000_000


def local_time(exchange: str, ts_ns: int) -> datetime:
    zone = EXCHANGE_TZ.get(exchange, UTC)
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).astimezone(zone)


def _inside(now: time, session: Session) -> bool:
    start, end = session
    if start <= end:
        return start <= now < end
    return now >= start or now < end  # across midnight


def in_session(exchange: str, ts_ns: int) -> bool:
    """True inside the exchange's trading hours (unknown exchange: always)."""
    sessions = SESSIONS.get(exchange)
    if sessions is None:
        return True
    local = local_time(exchange, ts_ns)
    now = local.time()
    weekday = local.weekday()
    if weekday == 6 or (weekday == 5 and now >= _T(3)):  # Sunday, Saturday after Friday's night session
        return False
    return any(_inside(now, s) for s in sessions)


def bar_start(exchange: str, ts_ns: int) -> int:
    """Start (UTC ns) of the 1-minute bar a tick belongs to.

    Every zone used here is a whole number of hours from UTC, so minutes align the same in exchange
    time and in UTC. A tick stamped exactly on a session end (CTP's 11:30:00 and 15:00:00 closing
    snapshots) belongs to the minute before it, as every China-futures charting tool counts it.
    """
    start = ts_ns - ts_ns % MINUTE_NS
    if ts_ns - start < SECOND_NS and exchange in SESSION_ENDS:
        local = local_time(exchange, start).time()
        if local in SESSION_ENDS[exchange]:
            return start - MINUTE_NS
    return start
