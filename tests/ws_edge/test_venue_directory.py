"""td_exec describes its venues over the bus (``QueryVenue`` → ``VenueInfo``); the edges' directory caches it."""

from __future__ import annotations

from ws_harness import Stack

from tradebus.schemas import TRADE_REPLY_DECODER
from tradebus.schemas.orders import QueryVenue, VenueInfo
from tradebus.subjects import td_venue
from tradebus.users import User
from tradebus.venue_directory import VenueDirectory


async def test_td_exec_lists_the_accounts_and_trading_day_of_a_venue(stack: Stack) -> None:
    stack.venue.trading_day = "20261207"
    reply = await stack.bus.request(td_venue("sim"), QueryVenue(venue="sim"), TRADE_REPLY_DECODER, timeout=2)
    assert reply == VenueInfo(venue="sim", connected=True, accounts=["SIM-FUT", "SIM-HK", "SIM-US"],
                              trading_day="20261207")


async def test_the_directory_caches_answers_for_its_ttl(stack: Stack) -> None:
    now = [100.0]
    directory = VenueDirectory(stack.bus, timeout=2, ttl_s=5, clock=lambda: now[0])
    stack.venue.trading_day = "20261207"
    assert await directory.trading_day("sim") == "20261207"
    stack.venue.trading_day = "20261208"
    now[0] += 4.9
    assert await directory.trading_day("sim") == "20261207"  # still the cached answer
    now[0] += 0.2
    assert await directory.trading_day("sim") == "20261208"


async def test_wildcards_resolve_through_td_exec_and_to_nothing_without_it(stack: Stack) -> None:
    carol = User(name="carol", password_hash="-", accounts=["sim:*", "ctp:000009"])
    directory = VenueDirectory(stack.bus, timeout=0.5)
    assert await directory.accounts(carol) == [("ctp", "000009"), ("sim", "SIM-FUT"), ("sim", "SIM-HK"),
                                               ("sim", "SIM-US")]
    await stack.server.stop()  # td_exec stops answering
    assert await VenueDirectory(stack.bus, timeout=0.5).accounts(carol) == [("ctp", "000009")]
