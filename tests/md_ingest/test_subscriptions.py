"""md.ctl.subscribe / md.ctl.unsubscribe: reference counts, venue calls, refusals with a reason."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mdingest_helpers import Harness, SimProcess, make_config

from tradebus.bus import Bus
from tradebus.schemas import MARKET_CONTROL_DECODER
from tradebus.schemas.market import SubscribeRequest, SubscriptionReply, UnsubscribeRequest
from tradebus.subjects import MD_CTL_SUBSCRIBE, MD_CTL_UNSUBSCRIBE


async def sub(bus: Bus, venue: str, exchange: str, symbol: str, requester: str,
              lease_s: float = 0.0) -> SubscriptionReply:
    req = SubscribeRequest(venue=venue, exchange=exchange, symbol=symbol, requester=requester, lease_s=lease_s)
    reply = await bus.request(MD_CTL_SUBSCRIBE, req, MARKET_CONTROL_DECODER, timeout=15)
    assert isinstance(reply, SubscriptionReply)
    return reply


async def unsub(bus: Bus, venue: str, exchange: str, symbol: str, requester: str) -> SubscriptionReply:
    req = UnsubscribeRequest(venue=venue, exchange=exchange, symbol=symbol, requester=requester)
    reply = await bus.request(MD_CTL_UNSUBSCRIBE, req, MARKET_CONTROL_DECODER, timeout=15)
    assert isinstance(reply, SubscriptionReply)
    return reply


async def test_ctp_refcounts(nats_server, bus: Bus, ctp_front: tuple[SimProcess, int, int], harness_factory,
                             tmp_path: Path) -> None:
    _, td, md = ctp_front
    h: Harness = await harness_factory(make_config(nats_server.url, tmp_path / "var", ctp_ports=(td, md)))
    await h.wait_for("ctp up", lambda: "up" in h.feed_states("ctp"))
    assert not h.ticks_of("ctp")  # nothing subscribed yet

    first = await sub(bus, "ctp", "SHFE", "au2602", "edge-a")
    assert first.ok and first.refcount == 1, first
    again = await sub(bus, "ctp", "SHFE", "au2602", "edge-a")  # same requester: idempotent
    assert again.ok and again.refcount == 1
    second = await sub(bus, "ctp", "SHFE", "au2602", "edge-b")
    assert second.ok and second.refcount == 2
    await h.wait_for("au2602 ticks", lambda: len(h.ticks_of("ctp", "au2602")) >= 2)

    released = await unsub(bus, "ctp", "SHFE", "au2602", "edge-a")
    assert released.ok and released.refcount == 1
    count = len(h.ticks_of("ctp", "au2602"))
    await h.wait_for("ticks continue while edge-b holds it", lambda: len(h.ticks_of("ctp", "au2602")) > count + 2)

    not_held = await unsub(bus, "ctp", "SHFE", "au2602", "edge-a")
    assert not not_held.ok and "holds no subscription" in not_held.error

    last = await unsub(bus, "ctp", "SHFE", "au2602", "edge-b")
    assert last.ok and last.refcount == 0
    service = h.service
    assert service is not None
    marker = len(h.ticks_of("ctp", "au2602"))
    await sub(bus, "ctp", "DCE", "m2601", "edge-c")  # lets time pass with ticks flowing
    await h.wait_for("m2601 ticks", lambda: len(h.ticks_of("ctp", "m2601")) >= 5)
    assert len(h.ticks_of("ctp", "au2602")) == marker  # nothing published after the last release
    # ...and the venue was told: pushes for an instrument nobody holds would be counted here.
    assert service.m_unsubscribed.get("ctp") <= 1  # at most one push already in flight


async def test_leased_references_lapse(nats_server, bus: Bus, ctp_front: tuple[SimProcess, int, int],
                                       harness_factory, tmp_path: Path) -> None:
    """A requester that stops renewing its leased reference (an edge killed with -9) loses it; one that
    renews keeps it; the last lapse unsubscribes at the venue, as a release does."""
    _, td, md = ctp_front
    h: Harness = await harness_factory(make_config(nats_server.url, tmp_path / "var", ctp_ports=(td, md)))
    await h.wait_for("ctp up", lambda: "up" in h.feed_states("ctp"))
    service = h.service
    assert service is not None

    assert (await sub(bus, "ctp", "SHFE", "au2602", "dead-edge", lease_s=1.0)).refcount == 1
    assert (await sub(bus, "ctp", "SHFE", "au2602", "live-edge", lease_s=1.0)).refcount == 2
    await h.wait_for("au2602 ticks", lambda: len(h.ticks_of("ctp", "au2602")) >= 2)
    for _ in range(6):  # live-edge renews every third of its lease for two leases; dead-edge is silent
        await asyncio.sleep(0.3)  # the renewal cadence under test, not a wait for an event
        assert (await sub(bus, "ctp", "SHFE", "au2602", "live-edge", lease_s=1.0)).ok
    gone = await unsub(bus, "ctp", "SHFE", "au2602", "dead-edge")
    assert not gone.ok and "holds no subscription" in gone.error and gone.refcount == 1

    # The last leased reference lapses: no more ticks published, the venue is told.
    await h.wait_for("live-edge's lease lapses",
                     lambda: "au2602" not in {i.symbol for i in service.registry.active("ctp")}, timeout=5)
    marker = len(h.ticks_of("ctp", "au2602"))
    await sub(bus, "ctp", "DCE", "m2601", "edge-c")  # no lease: held until released
    await h.wait_for("m2601 ticks", lambda: len(h.ticks_of("ctp", "m2601")) >= 5)
    assert len(h.ticks_of("ctp", "au2602")) <= marker + 1  # at most one already in flight
    assert service.registry.count(next(iter(service.registry.active("ctp")))) == 1  # m2601 stays


async def test_unknown_instruments_refused(nats_server, bus: Bus, ctp_front: tuple[SimProcess, int, int],
                                           opend: tuple[SimProcess, int], harness_factory, tmp_path: Path) -> None:
    _, td, md = ctp_front
    _, port = opend
    h: Harness = await harness_factory(make_config(nats_server.url, tmp_path / "var", ctp_ports=(td, md),
                                                   futu_port=port))
    await h.wait_for("both feeds up", lambda: "up" in h.feed_states("ctp") and "up" in h.feed_states("futu"))

    ctp_unknown = await sub(bus, "ctp", "SHFE", "zz9999", "edge-a")
    assert not ctp_unknown.ok and "not in the CTP instrument list" in ctp_unknown.error
    wrong_exchange = await sub(bus, "ctp", "DCE", "rb2601", "edge-a")
    assert not wrong_exchange.ok and "trades on SHFE" in wrong_exchange.error
    futu_unknown = await sub(bus, "futu", "HK", "99999", "edge-a")
    assert not futu_unknown.ok and "Unknown stock" in futu_unknown.error  # OpenD's own answer
    bad_market = await sub(bus, "futu", "XX", "00700", "edge-a")
    assert not bad_market.ok and "unknown Futu market" in bad_market.error
    bad_venue = await sub(bus, "sim", "HK", "00700", "edge-a")
    assert not bad_venue.ok and "not served" in bad_venue.error
    service = h.service
    assert service is not None
    assert not service.registry.active("ctp") and not service.registry.active("futu")  # nothing leaked

    ok = await sub(bus, "futu", "HK", "09988", "edge-a")
    assert ok.ok and ok.refcount == 1
    await h.wait_for("09988 ticks", lambda: h.ticks_of("futu", "09988"))


async def test_futu_quota(nats_server, bus: Bus, opend: tuple[SimProcess, int], harness_factory,
                          tmp_path: Path) -> None:
    _, port = opend
    # 3 sub types per instrument and a quota of 6: two instruments fit, the third is refused clearly.
    h: Harness = await harness_factory(make_config(nats_server.url, tmp_path / "var", futu_port=port, futu_quota=6))
    await h.wait_for("futu up", lambda: "up" in h.feed_states("futu"))
    assert (await sub(bus, "futu", "HK", "00700", "e")).ok
    assert (await sub(bus, "futu", "US", "AAPL", "e")).ok
    third = await sub(bus, "futu", "US", "NVDA", "e")
    assert not third.ok and "quota exhausted" in third.error
