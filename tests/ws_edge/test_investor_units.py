"""The pure rules behind a webctp session: which account a login and a request name, which trading
day a moment belongs to, and which year a contract code delivers in."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from ws_edge.instruments import delivery
from ws_edge.investor import LoginName, named_account, parse_login, pick_investor
from ws_edge.trading_day import rule_day, trading_day

ACCOUNTS = [("ctp", "000001"), ("futu", "281756"), ("futu", "999"), ("sim", "SIM-HK")]


@pytest.mark.parametrize(("user_id", "expected"), [
    ("demo", LoginName("demo")),
    ("demo@futu", LoginName("demo", "futu")),
    ("demo@ctp:000001", LoginName("demo", "ctp", "000001")),
    ("a.b@c", LoginName("a.b@c")),  # not a venue: the whole text is the user name
    ("demo@ctp:", LoginName("demo@ctp:")),
])
def test_parse_login(user_id: str, expected: LoginName) -> None:
    assert parse_login(user_id) == expected


@pytest.mark.parametrize(("login", "front", "expected"), [
    (LoginName("demo"), "ctp", ("ctp", "000001")),  # the front's venue first
    (LoginName("demo"), "futu", ("futu", "281756")),
    (LoginName("demo"), "gone", ("ctp", "000001")),  # none on the front's venue: the user's first
    (LoginName("demo", "futu"), "ctp", ("futu", "281756")),
    (LoginName("demo", "futu", "999"), "ctp", ("futu", "999")),
    (LoginName("demo", "futu", "1"), "ctp", None),  # not the user's
    (LoginName("demo", "ctp"), "ctp", ("ctp", "000001")),
])
def test_pick_investor(login: LoginName, front: str, expected: tuple[str, str] | None) -> None:
    assert pick_investor(ACCOUNTS, login, front) == expected


def test_pick_investor_without_accounts() -> None:
    assert pick_investor([], LoginName("demo"), "ctp") is None


def test_named_account() -> None:
    assert named_account("999", ACCOUNTS) == ("futu", "999")
    assert named_account("futu:999", ACCOUNTS) == ("futu", "999")
    assert named_account("ctp:999", ACCOUNTS) is None
    assert named_account("999", ACCOUNTS, "ctp") is None  # on another venue than the one wanted
    assert named_account("ctp:*", ACCOUNTS) is None


def ns(day: str, clock: str, tz: str) -> int:
    return int(datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=ZoneInfo(tz)).timestamp() * 1e9)


@pytest.mark.parametrize(("moment", "exchange", "expected"), [
    (("2026-12-04", "10:00:00", "Asia/Shanghai"), "SHFE", "20261204"),  # a Friday's day session
    (("2026-12-04", "21:30:00", "Asia/Shanghai"), "SHFE", "20261207"),  # Friday night → Monday
    (("2026-12-05", "12:00:00", "Asia/Shanghai"), "CZCE", "20261207"),  # a Saturday → Monday
    (("2026-12-07", "02:00:00", "Asia/Shanghai"), "SHFE", "20261207"),
    (("2026-12-07", "21:00:00", "Asia/Shanghai"), "DCE", "20261208"),
    (("2026-12-05", "10:00:00", "Asia/Hong_Kong"), "HK", "20261207"),  # stocks: weekends → Monday
    (("2026-12-04", "21:00:00", "Asia/Hong_Kong"), "HK", "20261204"),  # no night rule for stocks
    (("2026-12-04", "15:00:00", "America/New_York"), "US", "20261204"),  # New York's date, not China's
])
def test_rule_day(moment: tuple[str, str, str], exchange: str, expected: str) -> None:
    assert rule_day(ns(*moment), exchange) == expected


def test_the_venue_day_wins_for_the_current_day_only() -> None:
    now = ns("2026-12-05", "12:00:00", "Asia/Shanghai")
    yesterday = ns("2026-12-03", "10:00:00", "Asia/Shanghai")
    assert trading_day(now, "SHFE", venue_day="20261208", now_ns=now) == "20261208"  # e.g. a holiday Monday
    assert trading_day(yesterday, "SHFE", venue_day="20261208", now_ns=now) == "20261203"
    assert trading_day(now, "SHFE", venue_day=None, now_ns=now) == "20261207"


@pytest.mark.parametrize(("symbol", "year", "expected"), [
    ("SR601", 2026, (2026, 1)), ("SR601", 2025, (2026, 1)), ("TA509", 2026, (2025, 9)), ("AP710", 2026, (2027, 10)),
    ("SR601", 2029, (2036, 1)),  # SR601 cannot deliver in 2026 seen from 2029: the next 6 is 2036
    ("rb2601", 2026, (2026, 1)), ("IF2512", 2030, (2025, 12)), ("sc2601", 2026, (2026, 1)),
    ("HK", 2026, (0, 0)), ("SR613", 2026, (0, 0)),
])
def test_delivery(symbol: str, year: int, expected: tuple[int, int]) -> None:
    assert delivery(symbol, year) == expected
