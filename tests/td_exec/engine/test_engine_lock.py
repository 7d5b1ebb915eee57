"""No venue call under the account lock: a submit whose instrument lookup hangs at the venue does not
hold up another order of the same account (its lookup runs before the writer lock is taken)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
from td_engine_helpers import TEST_TD, Harness, fut_order

from td_exec.sim_venue import SimVenue
from tradebus.schemas.account import InstrumentInfo
from tradebus.schemas.orders import CommandAccepted

SLOW_SYMBOL = "au2602"


class SlowLookupVenue(SimVenue):
    """The sim venue, whose reference data for one symbol answers only once the test releases it."""

    def __init__(self) -> None:
        super().__init__(seed=11)
        self.lookup_started = asyncio.Event()
        self.release = asyncio.Event()

    async def instrument(self, exchange: str, symbol: str) -> InstrumentInfo | None:
        if symbol == SLOW_SYMBOL:
            self.lookup_started.set()
            await self.release.wait()
        return await super().instrument(exchange, symbol)


async def test_slow_instrument_lookup_does_not_block_the_accounts_other_orders(nats_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    venue = SlowLookupVenue()
    # the lookup budget is far above the test's waits: the slow lookup is still pending, not timed out
    cfg = msgspec.structs.replace(TEST_TD, query_timeout_s=60.0)
    h = await Harness(nats_server.url, tmp_path, cfg=cfg, venue=venue).start()
    try:
        slow_bid = venue.market.quote("SHFE", SLOW_SYMBOL).bids[-1][0]
        slow = asyncio.create_task(h.request(fut_order("lock-slow", price=slow_bid, symbol=SLOW_SYMBOL), timeout=30))
        await asyncio.wait_for(venue.lookup_started.wait(), 5)

        bid = venue.market.quote("SHFE", "rb2601").bids[-1][0]
        fast = await h.request(fut_order("lock-fast", price=bid), timeout=5)
        assert isinstance(fast, CommandAccepted), fast
        assert (await h.kinds("lock-fast"))[:2] == ["OrderSubmitted", "OrderAccepted"]
        assert not slow.done(), "the slow order answered before its lookup did"
        assert await h.kinds("lock-slow") == []  # nothing of it written yet

        venue.release.set()
        reply = await slow
        assert isinstance(reply, CommandAccepted), reply
        assert (await h.kinds("lock-slow"))[:2] == ["OrderSubmitted", "OrderAccepted"]
    finally:
        venue.release.set()
        await h.close()


async def test_instrument_lookup_past_its_budget_leaves_the_decision_to_the_venue(nats_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The lookup is bounded by ``query_timeout_s``: when it never answers, the order goes to the venue
    without the facts (the venue decides) instead of waiting for them."""
    venue = SlowLookupVenue()
    cfg = msgspec.structs.replace(TEST_TD, query_timeout_s=0.3)
    h = await Harness(nats_server.url, tmp_path, cfg=cfg, venue=venue).start()
    try:
        bid = venue.market.quote("SHFE", SLOW_SYMBOL).bids[-1][0]
        reply = await h.request(fut_order("lookup-late", price=bid, symbol=SLOW_SYMBOL), timeout=10)
        assert isinstance(reply, CommandAccepted), reply
        assert venue.lookup_started.is_set() and not venue.release.is_set()
        assert (await h.kinds("lookup-late"))[:2] == ["OrderSubmitted", "OrderAccepted"]
    finally:
        venue.release.set()
        await h.close()
